// Labels in 中文 and English, and the taxonomy codes' labels (kept in step with models/taxonomy.py).
"use strict";

const TAXONOMY = {
  sectors: {
    ai: ["人工智能", "AI"], smart_manufacturing: ["智能制造", "smart manufacturing"],
    biomedicine: ["生物医药", "biomedicine"], medical_devices: ["医疗器械", "medical devices"],
    new_energy: ["新能源", "new energy"], new_materials: ["新材料", "new materials"],
    semiconductors: ["集成电路", "semiconductors"], enterprise_software: ["企业服务", "enterprise software"],
    ecommerce: ["电子商务", "e-commerce"], consumer: ["消费品", "consumer goods"], fintech: ["金融科技", "fintech"],
    education: ["教育", "education"], agriculture: ["现代农业", "agritech"],
    cultural_creative: ["文化创意", "cultural & creative"], environmental: ["节能环保", "environmental"],
    logistics: ["物流", "logistics"], digital_health: ["数字健康", "digital health"], robotics: ["机器人", "robotics"],
    iot: ["物联网", "IoT"], automotive: ["汽车与出行", "automotive & mobility"], media: ["传媒与内容", "media & content"],
    real_estate: ["建筑与地产科技", "proptech & construction"], security: ["网络安全", "cybersecurity"],
    other: ["其他", "other"],
  },
  stages: {
    idea: ["创意", "idea"], prototype: ["原型", "prototype"], seed: ["种子轮", "seed"], angel: ["天使轮", "angel"],
    "pre-a": ["Pre-A轮", "pre-A"], a: ["A轮", "series A"], "b+": ["B轮及以后", "series B+"],
  },
  kinds: {
    individual_angel: ["个人天使", "individual angel"], angel_group: ["天使投资团体", "angel group"],
    vc_fund: ["风险投资基金", "VC fund"], bank: ["银行", "bank"], guarantee: ["融资担保", "guarantee firm"],
    insurance: ["保险", "insurance"], microcredit: ["小额贷款", "micro-credit"],
  },
  backgrounds: {
    student: ["在校学生及应届毕业生", "student or young graduate"], corporate: ["大企业离职创业", "ex-corporate staff"],
    overseas_returnee: ["海归", "overseas returnee"], researcher: ["科研人员", "researcher"],
  },
};

const MESSAGES = {
  title: ["投融资对接平台", "Investor–Founder Matchmaking"],
  signin: ["登录", "Sign in"], signout: ["退出", "Sign out"], api_key: ["API 密钥", "API key"],
  signin_hint: ["请输入管理员发放的 API 密钥（仅保存在本标签页）。", "Enter the API key you were issued (kept in this tab only)."],
  bad_key: ["密钥无效或已撤销", "The key is unknown or revoked"],
  role_investor: ["投资人", "Investor"], role_founder: ["创业者", "Founder"], role_organizer: ["路演组织者", "Organizer"],
  role_registrar: ["登记审核员", "Registrar"], role_admin: ["管理员", "Admin"],
  signed_in_as: ["当前身份", "Signed in as"],
  // investor
  feed: ["项目推荐", "Deal feed"], filters: ["筛选", "Filters"], sector: ["行业", "Sector"], stage: ["阶段", "Stage"],
  city: ["城市", "City"], ticket_min: ["最低投资额（元）", "Ticket min (CNY)"], ticket_max: ["最高投资额（元）", "Ticket max (CNY)"],
  any: ["不限", "any"], apply: ["应用", "Apply"], score: ["匹配度", "Score"], reasons: ["推荐理由", "Why"],
  save: ["收藏", "Save"], saved: ["已收藏", "Saved"], pass: ["不感兴趣", "Pass"], pass_reason: ["原因", "Reason"],
  confirm_pass: ["确认", "Confirm pass"], passed_projects: ["已跳过的项目", "Projects you passed on"],
  no_passes: ["没有跳过的项目", "You have not passed on any project."],
  decline_reason_hint: ["原因（可选，对方可见）", "Reason (optional; the other side sees it)"], take_back: ["撤回", "Take back"], cancel: ["取消", "Cancel"], request_meeting: ["约见", "Request meeting"],
  meeting_requested: ["已约见", "Meeting requested"], empty_feed: ["暂无匹配项目", "No projects match"],
  feed_map: ["推荐分布（行业 × 阶段）", "Where the feed sits (sector × stage)"],
  amount: ["融资额（元）", "Amount sought (CNY)"],
  intros: ["引荐", "Introductions"], intros_waiting: ["待回复的引荐", "Intros waiting for your answer"],
  accept: ["接受", "Accept"], decline: ["拒绝", "Decline"], status: ["状态", "Status"], contacts: ["联系方式", "Contacts"],
  no_intros: ["暂无引荐", "No introductions"],
  invitations: ["路演邀请", "Roadshow invitations"], no_invitations: ["暂无邀请", "No invitations"],
  previously_rejected: ["上次驳回原因：", "Rejected before:"],
  rejected: ["您的登记未通过审核；修改资料后将重新进入审核。原因：", "Your registration was rejected; updating your profile sends it back for review. Reason:"],
  withdrawn_closed: ["您的资料已撤回：不再推荐项目，也不能保存搜索条件。", "Your profile is withdrawn: no feed and no saved searches any more."],
  not_verified: ["您的资料尚未通过审核，审核通过后开放项目推荐。", "Your profile is not verified yet; the feed opens once a registrar verifies it."],
  key_no_longer_valid: ["您的 API 密钥已失效（可能已被撤销），请重新登录。", "Your API key is no longer valid (it may have been revoked); sign in again."],
  searches_closed: ["资料审核通过后即可保存搜索条件。", "Saved searches open once a registrar has verified your profile."],
  profile: ["投资人资料", "Investor profile"], register_profile: ["登记投资人资料", "Register your investor profile"],
  edit_profile: ["修改资料", "Edit profile"], register: ["登记", "Register"],
  not_registered: ["您还没有登记投资人资料，请先在上方表单中登记。", "You have not registered an investor profile yet; register it with the form above."],
  register_hint: ["登记后由登记审核员审核资料，审核通过后开放项目推荐。", "A registrar reviews your profile after you register; the feed opens once it is verified."],
  awaiting_verification: ["您的资料已提交，正在等待登记审核员审核。", "Your profile awaits the registrar's verification."],
  profile_saved: ["资料已更新", "Profile updated"], cities_hint: ["多个城市用逗号分隔", "separate cities with commas"],
  ver_pending: ["待审核", "pending verification"], ver_verified: ["已通过审核", "verified"], ver_rejected: ["未通过审核", "rejected"],
  intro_message: ["给创业者的留言（可选）", "Message to the founder (optional)"], send_request: ["发送请求", "Send request"],
  intro_sent: ["已向创业者发送引荐请求", "Introduction request sent to the founder"],
  intro_already: ["您已向该项目请求过引荐，当前状态：", "You have already asked this project's founder for an introduction; its status:"],
  my_meetings: ["我的会面", "Your meetings"], time: ["时间", "Time"], counterpart: ["会面对象", "With"],
  download_ics: ["下载日历 (.ics)", "Download calendar (.ics)"], no_meetings: ["没有为您安排会面", "No meetings scheduled for you"],
  cancel_attendance: ["取消参加", "Cancel my attendance"],
  confirm_decline_invitation: ["确认谢绝邀请？您的席位将由他人递补，且不能恢复。",
    "Decline this invitation? Your seat goes to someone else; this cannot be undone."],
  confirm_cancel_attendance: ["确认取消参加？您的席位将由他人递补，您的会面将从日程中移除，且不能恢复。",
    "Cancel your attendance? Your seat goes to someone else and your meetings leave the schedule; this cannot be undone."],
  // founder
  my_projects: ["我的项目", "My projects"], new_project: ["提交新项目", "Submit a project"], edit: ["编辑", "Edit"],
  edit_project: ["编辑项目", "Edit project"], submit: ["提交", "Submit"], name: ["名称", "Name"], summary: ["简介", "Summary"],
  founder_background: ["创始人背景", "Founder background"], incubator: ["孵化器", "Incubator"], team_size: ["团队人数", "Team size"],
  traction: ["进展", "Traction"], email: ["邮箱", "Email"], phone: ["电话", "Phone"], wechat: ["微信", "WeChat"],
  matching_investors: ["匹配的投资人", "Matching investors"], request_intro: ["请求引荐", "Request intro"],
  intro_requested: ["已请求引荐", "Intro requested"], show_investors: ["查看匹配投资人", "Show matching investors"],
  no_projects: ["还没有项目", "No projects yet"], project_saved: ["已提交", "Saved"],
  fix_errors: ["请修正标出的字段", "Please fix the marked fields"],
  st_open: ["开放", "open"], st_funded: ["已融资", "funded"], st_withdrawn: ["已撤回", "withdrawn"],
  st_requested: ["待回复", "requested"], st_accepted: ["已接受", "accepted"], st_declined: ["已拒绝", "declined"],
  st_pending: ["待回复", "pending"], st_expired: ["已过期", "expired"],
  withdraw: ["撤回", "Withdraw"], mark_funded: ["标记为已融资", "Mark funded"], confirm: ["确认", "Confirm"],
  reopen: ["重新开放", "Reopen"],
  confirm_withdraw: ["确认撤回该项目？它将退出所有推荐，之后可以重新开放。", "Withdraw this project? It leaves every feed until you reopen it."],
  confirm_funded: ["确认该项目已完成融资？它将退出所有推荐，且不能恢复。", "Mark this project funded? It leaves every feed; this cannot be undone."],
  // organizer
  roadshows: ["路演", "Roadshows"], create_roadshow: ["创建路演", "Create a roadshow"], rs_title: ["标题", "Title"],
  theme: ["主题", "Theme"], date: ["日期", "Date"], n_projects: ["项目数", "Projects"], m_investors: ["投资人数", "Investors"],
  slots: ["时段数", "Slots"], tables: ["桌数", "Tables"], create: ["创建", "Create"], open: ["打开", "Open"],
  propose: ["生成名单", "Propose roster"], resolve: ["重新求解", "Re-solve"], send_invites: ["发送邀请", "Send invitations"],
  build_schedule: ["排定会面", "Build schedule"], refresh: ["刷新", "Refresh"], download_csv: ["下载 CSV", "Download CSV"],
  roster: ["名单", "Roster"], objective: ["目标值", "Objective"], bound: ["上界", "Bound"], gap: ["差距", "Gap"],
  method: ["方法", "Method"], pin: ["固定", "Pin"], exclude: ["排除", "Exclude"], unpin: ["取消固定", "Unpin"], unexclude: ["取消排除", "Allow again"],
  pinned: ["已固定", "Pinned"], excluded: ["已排除", "Excluded"], kind: ["类型", "Kind"], invitee: ["受邀方", "Invitee"],
  // a pin whose invitation was declined or expired (its seat went to someone else)
  pinned_declined: ["已固定但已拒绝", "Pinned, then declined"], pinned_expired: ["已固定但邀请已过期", "Pinned, invitation expired"],
  backfill_for: ["替补：", "Backfill for "], project: ["项目", "Project"], investor: ["投资人", "Investor"],
  match_matrix: ["匹配矩阵", "Match matrix"], schedule: ["会面安排", "Meeting schedule"], slot: ["时段", "Slot"],
  table: ["桌", "Table"], no_roster: ["尚未生成名单", "No roster yet"], no_schedule: ["尚未排定", "Not scheduled yet"],
  no_roadshows: ["尚未创建路演", "No roadshows yet"],
  fit_threshold: ["匹配阈值", "Fit threshold"], min_fits: ["最少匹配数", "Min fits"],
  rs_draft: ["草稿", "draft"], rs_proposed: ["已生成名单", "roster proposed"], rs_inviting: ["邀请中", "inviting"],
  rs_scheduled: ["已排定", "scheduled"], rs_cancelled: ["已取消", "cancelled"],
  rs_status: ["路演状态", "Roadshow status"], pending_changes: ["待应用的调整", "Pending changes"],
  find_to_pin: ["查找并固定项目或投资人", "Find someone to pin"], pin_query: ["名称或关键词", "Name or words"],
  nothing_about_query: ["库中没有与该搜索相关的内容", "Nothing in the library is about that query"],
  expire_before: ["将未回复超过", "Expire unanswered invitations older than"], expire_after: ["小时的邀请", "hours"],
  expire: ["设为过期", "Expire"],
  start_time: ["开始时间", "Start time"], slot_minutes: ["每时段分钟数", "Slot length (minutes)"],
  edit_logistics: ["修改日期、时间和地点", "Edit date, time and place"], save_changes: ["保存", "Save"],
  move_stale: ["该路演在您打开此表单后已有变动：表单已更新为当前内容，并保留了您修改的字段，请核对后再次保存。",
    "The roadshow changed after you opened this form: the form now holds its current values, with the fields you changed kept. Check them and save again."],
  call_off: ["取消路演", "Call off"],
  confirm_call_off: ["确认取消该路演？受邀方将看到路演已取消，之后不能再做任何更改。",
    "Call off this roadshow? Invitees see it cancelled, and nothing can change it afterwards."],
  // registrar
  pending_regs: ["待审核的投资人", "Pending investor registrations"], verify: ["通过", "Verify"], reject: ["驳回", "Reject"],
  reject_reason: ["驳回原因", "Reason for rejection"], no_pending: ["没有待审核的登记", "Nothing pending"],
  organization: ["机构", "Organization"], stages: ["阶段", "Stages"], sectors: ["行业", "Sectors"],
  ticket: ["单笔投资额（元）", "Ticket (CNY)"], cities: ["城市", "Cities"], thesis: ["投资方向", "Thesis"],
  registry: ["投资人登记簿", "Registry"], registry_q: ["名称、机构或城市", "Name, organization or city"],
  decision: ["审核结果", "Decision"], search: ["搜索", "Search"], load_more: ["加载更多", "Load more"],
  registry_found: ["符合条件的投资人：", "Investors found:"], no_registry: ["没有符合条件的投资人", "No investors match"],
  rejected_because: ["驳回原因：", "Rejected because:"],
  // deal alerts (investors and founders)
  alerts: ["交易提醒", "Deal alerts"], no_alerts: ["暂无提醒", "No alerts yet"], alert_new: ["未读", "new"],
  alert_via: ["来源：", "via "], via_profile: ["符合我的资料", "fits my profile"],
  alert_project: ["新项目或项目更新", "A new or updated project"], alert_investor: ["新认证的投资人", "A newly verified investor"],
  // a counterpart the API no longer shows (an investor withdrawn or no longer verified)
  investor_gone: ["该投资人已不再开放对接", "This investor is no longer available"],
  project_gone: ["该项目已不再开放", "This project is no longer available"],
  saved_searches: ["保存的搜索", "Saved searches"], no_searches: ["还没有保存的搜索", "No saved searches"],
  new_search: ["新建搜索", "New saved search"], search_text: ["关键词", "Text terms"],
  search_text_hint: ["多个关键词用空格或逗号分隔，须全部出现", "separate terms with spaces or commas; all must occur"],
  min_score: ["最低匹配度", "Min score"], save_search: ["保存搜索", "Save search"], search_saved: ["搜索已保存", "Search saved"],
  edit_search: ["编辑搜索", "Edit saved search"],
  search_stale: ["该搜索在您开始编辑后已在别处修改：表单已更新为当前内容，并保留了您修改的字段，请核对后再次保存。",
    "The search changed elsewhere after you started editing it: the form now holds its current criteria, with the fields you changed kept. Check them and save again."],
  delete: ["删除", "Delete"], confirm_delete_search: ["确认删除该搜索？它将不再产生提醒。", "Delete this search? It alerts no more."],
  alert_settings: ["提醒设置", "Alert settings"], alert_mode: ["推送方式", "Delivery"],
  mode_instant: ["即时", "instant"], mode_daily: ["每日汇总", "daily digest"], mode_weekly: ["每周汇总", "weekly digest"],
  mode_off: ["关闭推送", "off"], webhook_url: ["Webhook 地址", "Webhook URL"],
  webhook_hint: ["留空则只在本页查看提醒", "leave empty to read alerts on this page only"],
  settings_saved: ["提醒设置已保存", "Alert settings saved"],
  settings_stale: ["设置已被其他地方修改，已载入当前设置，请重新保存。", "The settings changed elsewhere; the current ones are loaded, save again."],
  max_per_hour: ["每小时最多推送", "Pushes per hour (at most)"],
  profile_alerts: ["也提醒符合我资料的新机会（不限于保存的搜索）", "Also alert me of anything that fits my profile well, besides my saved searches"],
  signing_secret: ["Webhook 签名密钥", "Webhook signing secret"], show_secret: ["显示", "Show"], hide_secret: ["隐藏", "Hide"],
  rotate_secret: ["更换密钥", "Rotate secret"],
  confirm_rotate: ["确认更换签名密钥？旧密钥在过渡期后失效，接收端须改用新密钥。", "Rotate the signing secret? The old one stops working after an overlap; your receiver must switch to the new one."],
  secret_rotated: ["签名密钥已更换", "Signing secret rotated"],
  previous_secret_until: ["过渡期内推送同时带有旧密钥的签名，截至", "Pushes also carry the previous secret's signature until"],
  no_signing_secret: ["本服务器未配置签名密钥：推送不带签名。", "This server has no signing secret configured: pushes are not signed."],
  push_queued: ["等待推送", "Push waiting"], push_delivered: ["已推送", "Pushed"], push_retrying: ["推送失败，将重试", "Push failed, retrying"],
  push_dead: ["推送失败", "Push failed"], push_attempt: ["尝试次数", "attempt"], push_next: ["下次", "next at"],
  push_reason_digest: ["随下次汇总推送", "goes out with the next digest"],
  push_reason_rate_limited: ["超出每小时推送上限，随下次汇总推送", "over the hourly limit, goes out with the next digest"],
  error: ["出错了", "Something went wrong"], done: ["完成", "Done"],
};

// The API's field messages are English by design (api/errors.py); the 中文 page shows the common ones in Chinese,
// recognised by their shape rather than their exact words: the first pattern that matches gives the text ($1, $2:
// its groups; a function for more). A message no pattern knows is shown as the API wrote it.
const FIELD_ERRORS = [
  [/^(?:is required|must not be (?:empty|blank)|must be at least 1 characters?\b)/, "此项必填"],
  // an empty number field is sent as null
  [/^must be (?:an integer|a (?:finite |whole )?number); got (?:None|null)$/, "此项必填"],
  [/^must (?:have|name|contain|include) at least (?:1|one) /, "请至少选择一项"],
  [/^must be at least (\d+) characters?\b/, "至少 $1 个字符"],
  [/^must be at most (\d+) characters?\b/, "最多 $1 个字符"],
  [/^must have at least (\d+) items?\b/, "至少 $1 项"],
  [/^must have at most (\d+) items?\b/, "最多 $1 项"],
  [/^[^;]*\bemail\b|^must match \S*@/i, "请填写有效的邮箱地址，例如 name@example.com"],  // (not in "; got '...'")
  [/^must be one of (.+?)(?:; got .*)?$/, (_, codes) => `须为以下之一：${codes.split(/,\s*/).map(codeLabel).join("、")}`],
  [/^must be between (\S+) and (\S+?)(?:;|$)/, "须在 $1 至 $2 之间"],
  [/^must be (?:>=|at least|greater than or equal to) (-?[\d.]+)(?:;|$)/, "须不小于 $1"],
  [/^must be (?:>|greater than) (-?[\d.]+)(?:;|$)/, "须大于 $1"],
  [/^must be (?:<=|at most|less than or equal to) (-?[\d.]+)(?:;|$)/, "须不大于 $1"],
  [/^must be (?:<|less than) (-?[\d.]+)(?:;|$)/, "须小于 $1"],
  [/^must be (?:an integer|a whole number)\b/, "须为整数"],
  [/^must be a (?:finite )?number\b/, "须为数字"],
];

// A taxonomy code's Chinese label, whichever vocabulary has it (the code itself when none does).
function codeLabel(code) {
  for (const vocab of Object.values(TAXONOMY)) if (vocab[code]) return vocab[code][0];
  return code;
}

// What the 中文 page puts before the API's own words when a request is refused, by HTTP status.
const REFUSALS = {
  401: "API 密钥无效或已撤销，请重新登录", 403: "您无权执行此操作", 404: "未找到所请求的内容",
  409: "操作与当前状态冲突", 413: "提交的内容过大", 422: "提交的内容有误",
  429: "来自本地址的无效密钥过多，请稍后再试", 503: "服务暂时不可用，请稍后再试",
};

const I18N = {
  lang: sessionStorage.getItem("lang") || "zh",
  t(key) {
    const pair = MESSAGES[key];
    if (!pair) return key;
    return this.lang === "zh" ? pair[0] : pair[1];
  },
  label(vocab, code) {
    const pair = (TAXONOMY[vocab] || {})[code];
    if (!pair) return code;
    return this.lang === "zh" ? pair[0] : pair[1];
  },
  // A field's message from the API, in the page's language (FIELD_ERRORS).
  fieldError(message) {
    if (this.lang !== "zh") return message;
    for (const [shape, zh] of FIELD_ERRORS) {
      const m = shape.exec(message);
      if (m) return typeof zh === "function" ? zh(...m) : zh.replace(/\$(\d)/g, (_, i) => m[i]);
    }
    return message;
  },
  // A refused request as the page shows it: the API's `detail` (English) as it is, or on the 中文 page after a
  // Chinese lead for its status (REFUSALS), with the seconds to wait when the API sent Retry-After.
  refusal(status, detail, retryAfter) {
    if (this.lang !== "zh") return detail;
    const wait = retryAfter ? `（${retryAfter} 秒后可重试）` : "";
    const lead = (REFUSALS[status] || MESSAGES.error[0]) + wait;
    return detail ? `${lead}：${detail}` : lead;
  },
  set(lang) {
    this.lang = lang;
    sessionStorage.setItem("lang", lang);
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  },
};
