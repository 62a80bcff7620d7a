// The web page: one view per role, drawn from the /v1 API. No framework, nothing fetched from elsewhere.
"use strict";

const t = (key) => I18N.t(key);
// What a session starts from: at page load, and again on sign-out so nothing of one session shows in the next.
// (The key is read after sign-out has removed it: none then.)
function sessionDefaults() {
  return {
    key: sessionStorage.getItem("apiKey"),
    session: {},          // this session's identity: an answer to a request of an earlier one is dropped (api)
    me: null,
    token: null,          // the last write's offset_token: sent as X-Wait-For so reads show our own writes
    filters: {},
    saved: new Set(),
    requested: new Set(),  // projects this investor asked an intro of in this tab
    profile: null,        // the investor's own profile as read for the page drawn (myProfile)
    profileOpen: false,   // the investor's profile form is open (always, while no profile is registered)
    profileDraft: null,   // its values kept across a language switch
    expire: { hours: 72, error: "" },  // the organizer's expire action: its hours and the API's last refusal
    gone: new Set(),      // "kind:id" of what the API no longer shows this reader (404): not asked for again (nameOf)
    editing: null,        // {id, version} of the project in the founder's form
    draft: null,          // the form's values kept across a language switch
    openRoadshow: null,
    adjust: null,         // the open roadshow's pending roster changes: {roadshow, pin, exclude, names, failure}
    move: null,           // the organizer's move form: {roadshow, version, base, values, failure} (see moveForm)
    pinSearch: null,      // the organizer's search for someone to pin: {roadshow, q, side, found, failure} (pinFinder)
    registry: { q: "", verification: "" },  // the registrar's registry search
    // alerts that arrived unread in this tab; saved searches' names; the saved search being edited and the new
    // one's typed values, kept across a language switch (drawSearchForm); the delivery settings' typed values, kept
    // the same way (loadAlertSettings); whether the settings push alerts to a webhook
    alerts: { unread: new Set(), searchNames: {}, edit: null, draft: null, settings: null, pushing: false },
  };
}

// The pollers are not session state: every render stops them, sign-out's included.
const state = { ...sessionDefaults(), timer: null, alertTimer: null };  // alertTimer polls the deal-alert inbox

// ---- small helpers --------------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// User-entered text (names, titles, cities, summaries, messages, reasons) enters the page through `u` only: a <bdi>,
// which the browser lays out as an isolate with the direction of its own first strong letter, so that a right-to-left
// name, or an override character in it (U+202E), cannot reorder the page's own text around it. Nothing for empty text.
const u = (text) => (text === null || text === undefined || text === "" ? null : h("bdi", { text: String(text) }));
// The same in plain text (an SVG tooltip): between Unicode's first-strong isolate and its pop.
const uText = (text) => `\u2068${text}\u2069`;

// The parts that exist (not empty, not null), with `separator` between them: an unset city leaves no separator alone.
function joinedWith(separator, parts) {
  const present = parts.flat().filter((x) => x !== null && x !== undefined && x !== false && (x instanceof Node || String(x).trim() !== ""));
  return present.flatMap((x, i) => (i ? [separator, x] : [x]));
}
// A meta line's parts, "2026-12-10 14:00 · 宁波 · theme"; as children of `h`, or .join("") when all are strings.
const joined = (...parts) => joinedWith(" · ", parts);

const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, text) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function toast(message, bad) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = "show" + (bad ? " bad" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = ""; }, 2500);
}

class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = headers ? headers.get("Retry-After") : null;  // seconds, with a 429 or a 503
  }
}

// What the page says about a failed request: the API's words, and on the 中文 page a Chinese lead for the status
// before them (I18N.refusal), a 422's field messages in Chinese where their shape is known (I18N.fieldError).
function errorText(err) {
  if (!(err instanceof ApiError)) return I18N.refusal(0, err.message || "");
  const fields = err.status === 422 ? err.body.errors || [] : [];
  const detail = I18N.lang === "zh" && fields.length
    ? fields.map((e) => `${e.field}：${I18N.fieldError(e.message)}`).join("；") : err.message;
  return I18N.refusal(err.status, detail, err.retryAfter);
}

// What `api` throws for an answer that arrives after its session ended (signed out meanwhile): it belongs to no
// page now, and must not mark the next session's (a late "saved" would tag the next investor's feed).
class StaleSession extends Error {}

async function api(method, path, body, query) {
  const session = state.session;
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.token) headers["X-Wait-For"] = state.token;
  let url = path;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      for (const one of [].concat(v)) if (one !== "" && one !== null && one !== undefined) q.append(k, one);
    }
    if ([...q].length) url += "?" + q;
  }
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (state.session !== session) throw new StaleSession();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { detail: text }; }
  if (r.status === 401 && state.me) {  // revoked while signed in: back to sign-in, and the polling stops with it
    signOut(t("key_no_longer_valid"));
    throw new ApiError(r.status, parsed, r.headers);
  }
  if (!r.ok) throw new ApiError(r.status, parsed, r.headers);
  if (r.status === 202 && parsed && parsed.offset_token) state.token = parsed.offset_token;
  return parsed;
}

// Runs a write; says it was done (`okMessage`), or the API's refusal. `button`, when given, is disabled while the
// request is out, so that a double click sends it once.
async function act(fn, okMessage, button) {
  if (button) button.disabled = true;
  try {
    const result = await fn();
    if (okMessage) toast(okMessage);
    return result;
  } catch (err) {
    if (!(err instanceof StaleSession)) toast(errorText(err) || t("error"), true);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

const locale = () => (I18N.lang === "zh" ? "zh-CN" : "en-US");
const money = (n) => (n === null || n === undefined ? "" : Number(n).toLocaleString(locale()));
const localTime = (iso) => new Date(iso).toLocaleString(locale());
const pct = (x) => `${(x * 100).toFixed(0)}%`;
const reasonText = (r) => (I18N.lang === "zh" ? r.zh : r.en);
const reasonList = (reasons) => h("ul", { class: "reasons" }, reasons.map((r) => h("li", { "data-code": r.code, text: reasonText(r) })));
// A status as a coloured tag; its label is `prefix + status` (an intro's or invitation's "st_", a roadshow's "rs_",
// a registrar's decision "ver_").
const statusTag = (st, prefix = "st_") => h("span", { class: "tag " + ({ accepted: "ok", verified: "ok", declined: "bad", rejected: "bad", expired: "bad", cancelled: "bad", pending: "warn", requested: "warn", withdrawn: "muted" }[st] || ""), "data-status": st, text: t(prefix + st) });
const card = (titleKey, ...children) => h("section", { class: "card" }, h("h2", { text: t(titleKey) }), ...children);
const empty = (key) => h("p", { class: "empty", text: t(key) });

function options(vocab, selected, withAny) {
  const chosen = new Set([].concat(selected || []));
  const opts = Object.keys(TAXONOMY[vocab]).map((code) =>
    h("option", { value: code, selected: chosen.has(code) }, I18N.label(vocab, code)));
  return withAny ? [h("option", { value: "" }, t("any")), ...opts] : opts;
}

function field(key, control, wide) {
  const name = control.getAttribute("name");
  return h("label", { class: "field" + (wide ? " wide" : ""), "data-field": name },
    t(key), control, h("div", { class: "field-error", "data-error-for": name }));
}

// Puts each of a 422's field errors next to its field ("sectors.0" -> "sectors"; "contact.email" stays).
function showErrors(form, err) {
  clearErrors(form);
  const general = form.querySelector(".form-error");
  const errors = (err.body && err.body.errors) || [];
  let placed = 0;
  for (const e of errors) {
    const parts = e.field.split(".");
    let slot = null;
    for (let n = parts.length; n > 0 && !slot; n--) {
      slot = form.querySelector(`[data-error-for="${CSS.escape(parts.slice(0, n).join("."))}"]`);
    }
    if (slot) {
      slot.textContent = I18N.fieldError(e.message);
      slot.closest(".field").classList.add("invalid");
      placed++;
    } else if (general) {
      general.textContent += (general.textContent ? "; " : "") + `${e.field}: ${I18N.fieldError(e.message)}`;
    }
  }
  if (!placed && general && !general.textContent) general.textContent = errorText(err);
}

function clearErrors(form) {
  form.querySelectorAll(".field-error, .form-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
}

// Sends a form's write: a 422 puts its field errors next to the fields, anything else is a toast.
// Returns the API's answer, or undefined when it refused.
async function submitForm(form, send) {
  clearErrors(form);
  try { return await send(); } catch (err) {
    if (err.status === 422) { showErrors(form, err); toast(t("fix_errors"), true); } else toast(errorText(err), true);
    return undefined;
  }
}

// A file the API serves only with the key (a plain link would not send it), saved through a temporary link.
function download(path, filename) {
  return act(async () => {
    const r = await fetch(path, { headers: { Authorization: `Bearer ${state.key}` } });
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null), r.headers);
    const url = URL.createObjectURL(await r.blob());
    const a = h("a", { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
}

// Asks once more in place, for what cannot be taken back: `actions` shows the question with Confirm
// (.act-confirm-KIND) and Cancel (.act-cancel-KIND, which puts `buttons` back).
function askFirst(actions, buttons, kind, questionKey, onConfirm) {
  actions.replaceChildren(
    h("span", { class: "meta confirm-question", text: t(questionKey) }),
    h("button", { class: `danger act-confirm-${kind}`, text: t("confirm"), onclick: onConfirm }),
    h("button", { class: `act-cancel-${kind}`, text: t("cancel"), onclick: () => actions.replaceChildren(...buttons) }));
}

function selectedValues(select) {
  return [...select.selectedOptions].map((o) => o.value).filter((v) => v);
}

function numberOrRaw(v) {
  if (v === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

// ---- sign in and the frame ------------------------------------------------------------------------------
function translateStatic() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.title = t("title");
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === I18N.lang));
  const who = document.getElementById("who");
  who.textContent = state.me ? joined(`${t("signed_in_as")}: ${t("role_" + state.me.role)}`, state.me.entity_id).join("") : "";
  document.getElementById("signout").hidden = !state.me;
}

function signInPage(main, message) {
  const input = h("input", { type: "password", id: "api-key", name: "api-key", autocomplete: "off", placeholder: "mmk_…" });
  const form = h("form", { class: "card signin", id: "signin-form" },
    h("h2", { text: t("signin") }), h("p", { class: "meta", text: t("signin_hint") }),
    h("label", { class: "field" }, t("api_key"), input),
    h("div", { class: "field-error", id: "signin-error", text: message || "" }),
    h("button", { type: "submit", class: "primary", id: "signin", text: t("signin") }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.key = input.value.trim();
    await signIn();
  });
  main.append(form);
}

// Forget the key and everything typed under it; back to the sign-in form, with `message` when the API sent us there.
function signOut(message) {
  sessionStorage.removeItem("apiKey");
  Object.assign(state, sessionDefaults());
  render(message);
}

async function signIn() {
  try {
    state.me = await api("GET", "/v1/me");
    sessionStorage.setItem("apiKey", state.key);
  } catch (err) {
    state.me = null;
    state.key = null;
    sessionStorage.removeItem("apiKey");
    return render(err.status === 401 ? t("bad_key") : errorText(err));
  }
  return render();
}

function render(message) {
  clearInterval(state.timer);
  clearInterval(state.alertTimer);
  translateStatic();
  const main = document.getElementById("main");
  main.replaceChildren();
  if (!state.me) return signInPage(main, message);
  const page = { investor: investorPage, founder: founderPage, organizer: organizerPage, registrar: registrarPage, admin: registrarPage }[state.me.role];
  return page(main);
}

// ---- investor -------------------------------------------------------------------------------------------
function investorPage(main) {
  state.profile = null;  // read afresh for each page drawn (after a language switch, a saved profile)
  const feedBox = h("div", { id: "feed" });
  const plotBox = h("div", { id: "feed-plot", class: "plot" });
  const f = state.filters;
  const sector = h("select", { name: "sector" }, options("sectors", f.sector, true));
  const stage = h("select", { name: "stage" }, options("stages", f.stage, true));
  const city = h("input", { name: "city", value: f.city || "", size: 8 });
  const tmin = h("input", { name: "ticket_min", type: "number", min: 0, value: f.ticket_min || "" });
  const tmax = h("input", { name: "ticket_max", type: "number", min: 0, value: f.ticket_max || "" });
  const filters = h("form", { class: "filters", id: "filters" },
    field("sector", sector), field("stage", stage), field("city", city), field("ticket_min", tmin), field("ticket_max", tmax),
    h("button", { type: "submit", class: "primary", text: t("apply") }));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.filters = { sector: sector.value, stage: stage.value, city: city.value.trim(), ticket_min: tmin.value, ticket_max: tmax.value };
    loadFeed(feedBox, plotBox);
  });
  const intros = h("div", { id: "intros" });
  const invites = h("div", { id: "invitations" });
  const passes = h("div", { id: "passes" });
  const profileCard = h("section", { class: "card", id: "profile-card" });
  main.append(h("div", { class: "cols" },
    h("div", {}, profileCard, card("feed", filters, feedBox), card("passed_projects", passes)),
    h("div", {}, card("feed_map", plotBox), card("intros", intros), alertsCard(), card("invitations", invites))));
  loadProfile(profileCard);
  loadPasses(passes);
  loadFeed(feedBox, plotBox);
  loadIntros(intros);
  loadInvitations(invites, new Set([state.me.entity_id]));
}

async function loadFeed(box, plotBox) {
  const f = state.filters;
  let page;
  try {
    page = await api("GET", `/v1/investors/${encodeURIComponent(state.me.entity_id)}/feed`, undefined,
      { k: 50, sector: f.sector, stage: f.stage, city: f.city, ticket_min: f.ticket_min, ticket_max: f.ticket_max });
  } catch (err) {
    let text = errorText(err);
    if (err.status === 404) text = t("not_registered");  // no profile yet: the profile card holds the form
    if (err.status === 409) {  // no feed until verified: say why, with the registrar's reason if it rejected us
      const me = await myProfile().catch(() => null);
      text = me && me.status === "withdrawn" ? t("withdrawn_closed")
        : me && me.verification === "rejected" ? [t("rejected"), " ", u(me.rejection_reason)] : t("not_verified");
    }
    box.replaceChildren(h("p", { class: "empty" }, text));
    plotBox.replaceChildren();
    return;
  }
  box.replaceChildren(...(page.data.length ? page.data.map((m) => feedItem(m, box, plotBox)) : [empty("empty_feed")]));
  plotBox.replaceChildren(feedPlot(page.data));
}

// The investor's own profile, read once for the page drawn: the profile card, the feed and the saved-search form
// all need it. A promise, rejected with the API's error (a 404 while none is registered).
function myProfile() {
  state.profile ??= api("GET", `/v1/investors/${encodeURIComponent(state.me.entity_id)}`);
  return state.profile;
}

// The investor's own profile: a registration form until there is one, then a summary with an Edit button.
async function loadProfile(box) {
  let me = null;
  try { me = await myProfile(); } catch (err) {
    if (err.status !== 404) { box.replaceChildren(h("h2", { text: t("profile") }), h("p", { class: "empty", text: errorText(err) })); return; }
  }
  if (!me || state.profileOpen) { drawProfileForm(box, me); return; }
  box.replaceChildren(h("h2", { text: t("profile") }), h("div", { class: "item profile" }, h("div", { class: "head" }, h("span", { class: "name" }, u(me.name)),
      h("span", { class: "tag " + ({ verified: "ok", rejected: "bad", pending: "warn" }[me.verification] || ""),
        id: "verification", "data-status": me.verification, text: t("ver_" + me.verification) })),
    h("div", { class: "meta" }, joined(I18N.label("kinds", me.kind), u(me.organization), `${t("ticket")} ${money(me.ticket_min_cny)} – ${money(me.ticket_max_cny)}`)),
    me.verification === "pending" ? h("p", { class: "meta awaiting", text: t("awaiting_verification") }) : null,
    h("div", { class: "actions" }, h("button", { class: me.verification === "rejected" ? "primary act-edit-profile" : "act-edit-profile",
      text: t("edit_profile"), onclick: () => { state.profileOpen = true; drawProfileForm(box, me); } }))));
}

// Registers (no profile yet) or edits (`me`, at its version) the investor's profile. Fields the form does not
// show (capacity, portfolio, phone, WeChat) are sent back as they are, since an edit replaces the whole profile.
function drawProfileForm(box, me) {
  const d = state.profileDraft || me || {};
  const input = (name, value, attrs) => h("input", { name, value: value ?? "", ...attrs });
  const form = h("form", { class: "grid", id: "profile-form", novalidate: true },
    field("name", input("name", d.name)),
    field("kind", h("select", { name: "kind" }, options("kinds", d.kind || "individual_angel"))),
    field("organization", input("organization", d.organization)),
    field("ticket_min", input("ticket_min_cny", d.ticket_min_cny, { type: "number", min: 1 })),
    field("ticket_max", input("ticket_max_cny", d.ticket_max_cny, { type: "number", min: 1 })),
    field("cities", input("cities", (d.cities || []).join(", "), { placeholder: t("cities_hint") })),
    field("sectors", h("select", { name: "sectors", multiple: true }, options("sectors", d.sectors || []))),
    field("stages", h("select", { name: "stages", multiple: true }, options("stages", d.stages || []))),
    field("email", input("contact.email", (d.contact || {}).email, { type: "email" })),
    field("thesis", h("textarea", { name: "thesis" }, d.thesis || ""), true),
    h("div", { class: "wide form-error field-error" }),
    h("div", { class: "wide actions" },
      h("button", { type: "submit", class: "primary", id: "profile-submit", text: t(me ? "submit" : "register") }),
      me ? h("button", { type: "button", class: "act-cancel-profile", text: t("cancel"), onclick: () => {
        state.profileOpen = false; state.profileDraft = null; loadProfile(box);
      } }) : null));
  const values = () => {
    const get = (n) => form.elements[n].value;
    return { name: get("name"), kind: get("kind"), organization: get("organization"), thesis: get("thesis"),
      sectors: selectedValues(form.elements.sectors), stages: selectedValues(form.elements.stages),
      ticket_min_cny: numberOrRaw(get("ticket_min_cny")), ticket_max_cny: numberOrRaw(get("ticket_max_cny")),
      cities: get("cities").split(/[,，、]/).map((c) => c.trim()).filter(Boolean), contact: { email: get("contact.email").trim() } };
  };
  form.addEventListener("input", () => { state.profileDraft = values(); });  // kept when the language switches
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values();
    const body = { ...v, contact: { ...(me ? me.contact : {}), email: v.contact.email || null } };
    const id = encodeURIComponent(state.me.entity_id);
    const saved = await submitForm(form, () => (me
      ? api("PUT", `/v1/investors/${id}`, { ...body, capacity_per_month: me.capacity_per_month, portfolio: me.portfolio, expected_version: me.version })
      : api("POST", "/v1/investors", body)));
    if (!saved) return;
    toast(t(me ? "profile_saved" : "awaiting_verification"));
    state.profileOpen = false;
    state.profileDraft = null;
    render();  // the feed's state follows the profile's (not registered -> awaiting verification)
  });
  box.replaceChildren(...[h("h2", { text: t(me ? "edit_profile" : "register_profile") }),
    me ? null : h("p", { class: "meta", text: t("register_hint") }), form].filter(Boolean));
}

// The investor's feed again, after something elsewhere on the page changed what it holds.
function reloadFeed() {
  const feed = document.getElementById("feed");
  return feed ? loadFeed(feed, document.getElementById("feed-plot")) : Promise.resolve();
}

// The projects this investor passed on, with its reasons; a pass taken back returns the project to the feed.
async function loadPasses(box) {
  let page;
  try { page = await api("GET", "/v1/feedback/passes"); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  if (!page.data.length) { box.replaceChildren(h("p", { class: "empty", text: t("no_passes") })); return; }
  box.replaceChildren(...page.data.map((x) => h("div", { class: "item passed", "data-project-id": x.project.id },
    h("div", { class: "head" }, h("span", { class: "name" }, u(x.project.name))),
    h("div", { class: "meta" }, joined(u(x.project.city), x.reason ? h("span", {}, `${t("pass_reason")}: `, u(x.reason)) : null)),
    h("div", { class: "actions" }, h("button", { class: "act-unpass", text: t("take_back"), onclick: () => act(async () => {
      await api("POST", "/v1/feedback", { project_id: x.project.id, action: "unpassed" });
      await loadPasses(box);
      await reloadFeed();
    }, t("done")) })))));
}

function feedItem(m, box, plotBox) {
  const p = m.project;
  const reload = () => loadFeed(box, plotBox);
  const feedback = (action, reason, msgKey) => act(async () => {
    await api("POST", "/v1/feedback", { project_id: p.id, action, reason });
    if (action === "saved") state.saved.add(p.id);
    if (action === "passed") loadPasses(document.getElementById("passes"));
    await reload();
  }, t(msgKey));
  const reason = h("input", { class: "pass-reason", name: "reason", placeholder: t("pass_reason"), hidden: true });
  const confirm = h("button", { class: "danger act-confirm-pass", hidden: true, text: t("confirm_pass"),
    onclick: () => feedback("passed", reason.value, "done") });
  // A meeting request is an intro request to the founder (who accepts or declines it), and the
  // `meeting_requested` feedback the ranking learns from.
  const note = h("input", { class: "intro-message", name: "message", maxlength: 2000, placeholder: t("intro_message"), hidden: true });
  const send = h("button", { class: "primary act-send-intro", hidden: true, text: t("send_request"), onclick: async () => {
    send.disabled = true;  // one request per click
    try {
      await api("POST", "/v1/intros", { project_id: p.id, investor_id: state.me.entity_id, message: note.value.trim() });
    } catch (err) {
      send.disabled = false;
      if (err.status !== 409) { toast(errorText(err), true); return; }
      // one intro per pair: say so when ours is already there, else the API's reason (say, the project closed)
      const intros = await api("GET", "/v1/intros").catch(() => ({ data: [] }));
      const ours = intros.data.find((i) => i.project_id === p.id && i.investor_id === state.me.entity_id && !["declined", "withdrawn"].includes(i.status));
      if (!ours) { toast(errorText(err), true); return; }
      state.requested.add(p.id);
      toast(`${t("intro_already")} ${t("st_" + ours.status)}`, true);
      await reload();
      return;
    }
    state.requested.add(p.id);
    toast(t("intro_sent"));
    // the founder has the request either way; a lost ranking signal is not worth an error over it
    await api("POST", "/v1/feedback", { project_id: p.id, action: "meeting_requested" }).catch(() => undefined);
    await reload();
    await loadIntros(document.getElementById("intros"));
  } });
  return h("div", { class: "item feed-item", "data-project-id": p.id },
    h("div", { class: "head" },
      h("span", { class: "name" }, u(p.name)),
      h("span", { class: "score", title: t("score"), text: `${t("score")} ${m.score.toFixed(2)}` }),
      state.saved.has(p.id) ? h("span", { class: "tag ok saved-mark", text: t("saved") }) : null,
      state.requested.has(p.id) ? h("span", { class: "tag warn requested-mark", text: t("intro_requested") }) : null),
    h("div", { class: "meta" },
      p.sectors.map((c) => h("span", { class: "tag", text: I18N.label("sectors", c) })),
      " ", joined(I18N.label("stages", p.stage), u(p.city), `${t("amount")} ${money(p.amount_sought_cny)}`)),
    h("div", { class: "summary" }, u(p.summary)),
    reasonList(m.reasons),
    h("div", { class: "actions" },
      h("button", { class: "act-save", text: t("save"), onclick: () => feedback("saved", null, "saved") }),
      h("button", { class: "act-pass", text: t("pass"), onclick: () => { reason.hidden = false; confirm.hidden = false; reason.focus(); } }),
      reason, confirm,
      state.requested.has(p.id) ? null : h("button", { class: "act-meet", text: t("request_meeting"),
        onclick: () => { note.hidden = false; send.hidden = false; note.focus(); } }),
      note, send));
}

// Feed items counted by sector x stage, as bubbles (an item with two sectors counts in both rows).
function feedPlot(items) {
  const stages = Object.keys(TAXONOMY.stages);
  const counts = {};
  for (const m of items) for (const sec of m.project.sectors) {
    counts[sec] = counts[sec] || {};
    counts[sec][m.project.stage] = (counts[sec][m.project.stage] || 0) + 1;
  }
  const sectors = Object.keys(TAXONOMY.sectors).filter((c) => counts[c]);
  const left = 150, top = 24, cell = 58;
  const width = left + stages.length * cell + 10, height = top + Math.max(sectors.length, 1) * cell + 10;
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "feed-chart", role: "img", "aria-label": t("feed_map") });
  const max = Math.max(1, ...sectors.flatMap((c) => Object.values(counts[c])));
  stages.forEach((st, j) => svg.append(s("text", { x: left + j * cell + cell / 2, y: top - 8, "text-anchor": "middle" }, I18N.label("stages", st))));
  sectors.forEach((sec, i) => {
    const y = top + i * cell + cell / 2;
    svg.append(s("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, I18N.label("sectors", sec)));
    svg.append(s("line", { x1: left, x2: left + stages.length * cell, y1: y, y2: y, stroke: "#eef1f5" }));
    stages.forEach((st, j) => {
      const n = (counts[sec] || {})[st];
      if (!n) return;
      const cx = left + j * cell + cell / 2;
      const c = s("circle", { cx, cy: y, r: 4 + 11 * Math.sqrt(n / max), fill: "#1565c0", "fill-opacity": 0.55, class: "bubble", "data-sector": sec, "data-stage": st, "data-count": n });
      c.append(s("title", {}, `${joined(I18N.label("sectors", sec), I18N.label("stages", st)).join("")}: ${n}`));
      svg.append(c, s("text", { x: cx, y: y + 4, "text-anchor": "middle", fill: "#fff" }, String(n)));
    });
  });
  if (!sectors.length) svg.append(s("text", { x: left, y: top + 20 }, t("empty_feed")));
  return svg;
}

// The name of a project or investor the API gave by id (`kind`: "projects" or "investors"), looked up once per
// `cache`; null when the API no longer shows it to this reader (404: an investor withdrawn or no longer verified),
// which is remembered for the session (state.gone), so that no redraw or poll asks again. Any other failure: the id.
async function nameOf(kind, id, cache) {
  const key = `${kind}:${id}`;
  if (state.gone.has(key)) return null;
  if (!(key in cache)) {
    cache[key] = api("GET", `/v1/${kind}/${encodeURIComponent(id)}`).then((x) => x.name).catch((err) => {
      if (!(err instanceof ApiError && err.status === 404)) return id;
      state.gone.add(key);
      return null;
    });
  }
  return cache[key];
}

// A counterpart's name as nameOf found it or an alert carries it, or (null) that it is no longer available.
const counterpart = (kind, name) => (name === null
  ? h("span", { class: "name gone", text: t(kind === "investors" ? "investor_gone" : "project_gone") })
  : h("span", { class: "name" }, u(name)));

async function loadIntros(box) {
  let page;
  try { page = await api("GET", "/v1/intros"); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  if (!page.data.length) { box.replaceChildren(empty("no_intros")); return; }
  const role = state.me.role, cache = {};
  const rows = await Promise.all(page.data.map(async (i) => {
    const other = role === "investor" ? await nameOf("projects", i.project_id, cache) : await nameOf("investors", i.investor_id, cache);
    const mine = role === "investor" ? null : await nameOf("projects", i.project_id, cache);
    const askedMe = i.status === "requested" && i.requested_by !== role;
    const askedByMe = i.status === "requested" && i.requested_by === role;  // ours to take back while unanswered
    const answer = (verb, reason) => act(async () => {
      await api("POST", `/v1/intros/${i.id}/${verb}`, verb === "decline" ? { reason: reason || null } : undefined);
      if (verb === "withdraw" && role === "investor") {  // the feed offers the meeting request again
        state.requested.delete(i.project_id);
        reloadFeed();
      }
      await loadIntros(box);
    }, t("done"));
    const contacts = i.contacts ? h("div", { class: "meta contacts" }, `${t("contacts")}: `,
      joined(Object.values(role === "investor" ? i.contacts.project : i.contacts.investor).map(u))) : null;
    return h("div", { class: "item intro", "data-intro-id": i.id },
      h("div", { class: "head" }, counterpart(role === "investor" ? "projects" : "investors", other), statusTag(i.status)),
      mine ? h("div", { class: "meta" }, `${t("project")}: `, u(mine)) : null,
      i.message ? h("div", { class: "meta" }, u(i.message)) : null,
      contacts,
      i.status === "declined" && i.decline_reason ? h("div", { class: "meta decline-reason" }, `${t("pass_reason")}: `, u(i.decline_reason)) : null,
      askedMe ? declineWithReason(h("button", { class: "primary act-accept", text: t("accept"), onclick: () => answer("accept") }),
        (reason) => answer("decline", reason)) : null,
      askedByMe ? h("div", { class: "actions" },
        h("button", { class: "danger act-withdraw-intro", text: t("withdraw"), onclick: () => answer("withdraw") })) : null);
  }));
  const waiting = rows.filter((r) => r.querySelector(".act-accept"));
  const heading = waiting.length ? [h("h3", { class: "meta", text: `${t("intros_waiting")} (${waiting.length})` })] : [];
  box.replaceChildren(...heading, ...rows);  // (replaceChildren would show a null as the text "null")
}

// Accept and Decline of an intro; Decline first asks for an optional reason, which the asking side sees.
function declineWithReason(acceptButton, decline) {
  const reason = h("input", { class: "decline-reason", name: "reason", maxlength: 1000, placeholder: t("decline_reason_hint") });
  const actions = h("div", { class: "actions" });
  const buttons = [acceptButton, h("button", { class: "danger act-decline", text: t("decline"), onclick: () => actions.replaceChildren(
    reason,
    h("button", { class: "danger act-confirm-decline", text: t("decline"), onclick: () => decline(reason.value.trim()) }),
    h("button", { class: "act-cancel-decline", text: t("cancel"), onclick: () => actions.replaceChildren(...buttons) })) })];
  actions.replaceChildren(...buttons);
  return actions;
}

// "09:00–09:20": slot k (1-based) starts (k - 1) slots after the roadshow's start, in its local time (as the .ics).
// The API refuses meetings past midnight now, but the log keeps roadshows accepted before that check: a slot that
// starts on a later day than the roadshow's date is led by that day, in the page's locale ("1/1/2027 00:10–00:30").
function slotTime(rs, slot) {
  const [hh, mm] = rs.start_time.split(":").map(Number);
  const begin = hh * 60 + mm + (slot - 1) * rs.slot_minutes;  // minutes after midnight of the roadshow's date
  const at = (x) => `${String(Math.floor((x % 1440) / 60)).padStart(2, "0")}:${String(x % 60).padStart(2, "0")}`;
  const days = Math.floor(begin / 1440);
  let day = "";
  if (days) {  // a wall-clock date: counted and shown in UTC, so the browser's own zone and its DST play no part
    const d = new Date(`${rs.date}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + days);
    day = `${d.toLocaleDateString(locale(), { timeZone: "UTC" })} `;
  }
  return `${day}${at(begin)}–${at(begin + rs.slot_minutes)}`;
}

async function loadInvitations(box, mine) {
  let page;
  try { page = await api("GET", "/v1/roadshows"); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  const rows = [];
  for (const v of page.data) {
    const rs = v.roadshow;
    for (const inv of rs.invitations.filter((i) => mine.has(i.invitee_id))) {
      const answer = (verb) => act(async () => {
        await api("POST", `/v1/roadshows/${encodeURIComponent(v.id)}/invitations/${encodeURIComponent(inv.invitee_id)}/${verb}`);
        await loadInvitations(box, mine);
      }, t("done"));
      // the invitee's own meetings (the API sends no one else's), each with the other side's name
      const meetings = rs.schedule.filter((m) => m.project_id === inv.invitee_id || m.investor_id === inv.invitee_id)
        .sort((a, b) => a.slot - b.slot || a.table - b.table);
      const ics = () => download(`/v1/roadshows/${encodeURIComponent(v.id)}/schedule.ics?participant=${encodeURIComponent(inv.invitee_id)}`,
        `${v.id}-${inv.invitee_id}.ics`);
      // a called-off roadshow takes no answer; declining, before or after accepting, is asked once more (the seat
      // goes to someone else and the invitee's meetings leave the schedule)
      const live = rs.status !== "cancelled";
      let actions = null;
      if (live && inv.status === "pending") {
        const accept = h("button", { class: "primary act-accept", text: t("accept"), onclick: () => answer("accept") });
        const decline = h("button", { class: "danger act-decline", text: t("decline"),
          onclick: () => askFirst(actions, [accept, decline], "decline-invitation", "confirm_decline_invitation", () => answer("decline")) });
        actions = h("div", { class: "actions" }, accept, decline);
      } else if (live && inv.status === "accepted") {
        const leave = h("button", { class: "danger act-leave", text: t("cancel_attendance"),
          onclick: () => askFirst(actions, [leave], "leave", "confirm_cancel_attendance", () => answer("decline")) });
        actions = h("div", { class: "actions" }, leave);
      }
      rows.push(h("div", { class: "item invitation", "data-roadshow-id": v.id, "data-invitee": inv.invitee_id },
        h("div", { class: "head" }, h("span", { class: "name" }, u(rs.title)), statusTag(inv.status),
          live ? null : statusTag(rs.status, "rs_")),
        h("div", { class: "meta" }, joined(`${rs.date} ${rs.start_time.slice(0, 5)}`, u(rs.city),
          inv.kind === "project" ? u(v.names[inv.invitee_id] || inv.invitee_id) : null)),
        actions,
        // a called-off roadshow's meetings stay listed, struck through and tagged, as other called-off and declined
        // things on the page are; its .ics marks each of them cancelled, so a calendar that imported them drops them
        meetings.length ? [
          h("table", { class: "my-meetings" },
            h("tr", {}, ["time", "table", "counterpart", live ? "" : "status"].filter(Boolean).map((k) => h("th", { text: t(k) }))),
            meetings.map((m) => {
              const other = m.project_id === inv.invitee_id ? m.investor_id : m.project_id;
              return h("tr", { class: "my-meeting" + (live ? "" : " cancelled"), "data-slot": m.slot, "data-counterpart": other },
                h("td", { text: slotTime(rs, m.slot) }), h("td", { text: `${t("table")} ${m.table}` }), h("td", {}, u(v.names[other] || other)),
                live ? null : h("td", {}, statusTag(rs.status, "rs_")));
            })),
          h("div", { class: "actions" }, h("button", { class: "act-ics", text: t("download_ics"), onclick: ics }))]
          : rs.status === "scheduled" && inv.status === "accepted" ? empty("no_meetings") : null));
    }
  }
  box.replaceChildren(...(rows.length ? rows : [empty("no_invitations")]));
}

// ---- deal alerts (investors and founders) ---------------------------------------------------------------
const ALERTS_PAGE = 5;
const ALERT_MODES = ["instant", "daily", "weekly", "off"];

// The deal-alert card: the inbox (newest first, a page at a time, polled for new ones), the saved searches and
// the delivery settings. Listing alerts marks them read, so the ones that arrived unread keep their mark in this
// tab (state.alerts.unread).
function alertsCard() {
  const inbox = h("div", { id: "alerts" });
  const searches = h("div", { id: "searches" });
  const searchBox = h("div", { id: "search-form-box" });
  const settingsBox = h("div", { id: "alert-settings" });
  const cardBox = h("section", { class: "card", id: "alerts-card" },
    h("h2", {}, t("alerts"), " ", h("button", { type: "button", class: "act-refresh-alerts", text: t("refresh"), onclick: () => loadAlerts(inbox) })),
    inbox,
    h("h3", { class: "meta", text: t("saved_searches") }), searches, searchBox,
    h("h3", { class: "meta", text: t("alert_settings") }), settingsBox);
  loadSearches(searches).then(() => loadAlerts(inbox));  // the alerts name the searches that found them
  drawSearchForm(searchBox, searches, inbox);
  loadAlertSettings(settingsBox);
  state.alertTimer = setInterval(async () => {
    if (!inbox.isConnected) return;
    const listed = await loadAlerts(inbox, null, true);
    if (state.alerts.pushing) await refreshDeliveries(inbox, listed);
  }, 4000);
  return cardBox;
}

// One page of alerts: the first (replacing what is shown), the next after `cursor` ("Load more"), or when
// `fresh`, the unread ones that arrived since (added on top; the ids listed are returned).
async function loadAlerts(box, cursor, fresh) {
  let page;
  try {
    page = await api("GET", "/v1/alerts", undefined, fresh ? { unread_only: true, limit: 100 } : { limit: ALERTS_PAGE, cursor });
  } catch (err) {
    if (!fresh) box.replaceChildren(h("p", { class: "empty", text: errorText(err) }));
    return;
  }
  for (const a of page.data) if (!a.read) state.alerts.unread.add(a.id);
  const shown = (a) => box.querySelector(`[data-alert-id="${CSS.escape(a.id)}"]`);
  const els = page.data.map(shown);
  const items = page.data.filter((a, i) => !(fresh || cursor) || !els[i]).map((a) => alertItem(a));
  if (fresh) {
    // one listed again (its read mark not applied yet) is shown already: it takes the list's delivery status
    page.data.forEach((a, i) => { if (els[i]) showDelivery(els[i], a.delivery); });
    if (items.length) {
      box.querySelector(".empty")?.remove();
      box.prepend(...items);
    }
    return new Set(page.data.map((a) => a.id));
  }
  const more = h("div", { class: "actions alerts-more" }, page.next_cursor
    ? h("button", { class: "act-more-alerts", text: t("load_more"), onclick: () => loadAlerts(box, page.next_cursor) }) : null);
  if (cursor && box.querySelector(".alerts-more")) {  // the next page, below the ones shown
    box.querySelector(".alerts-more").before(...items);
    box.querySelector(".alerts-more").replaceWith(more);
    return;
  }
  box.replaceChildren(...(items.length ? items : [empty("no_alerts")]), more);
}

// An alert: for an investor the project that fits it, for a founder the investor that fits its projects; each
// with its score, reasons, and the searches that found it ("profile": the implicit "fits my profile well"). The
// matches carry the names as this reader may see them now (null: no longer available), so none is asked for.
function alertItem(a) {
  const investorSide = state.me.role === "investor";
  const matches = a.matches.map((m) => {
    const kind = investorSide ? "projects" : "investors";
    const other = investorSide ? m.project_name : m.investor_name;
    const mine = investorSide ? null : m.project_name;
    // one that left the market since (an investor withdrawn or no longer verified, a project withdrawn or funded)
    // is said to be gone: no score or reasons (its ticket range, say) for what is no longer on offer; what found
    // it, and for which project, stay
    const gone = other === null;
    return h("div", { class: "alert-match" + (gone ? " gone" : ""), "data-investor-id": m.investor_id, "data-project-id": m.project_id },
      h("div", { class: "head" }, counterpart(kind, other),
        gone ? null : h("span", { class: "score", text: `${t("score")} ${m.score.toFixed(2)}` }),
        mine ? h("span", { class: "meta" }, `${t("project")}: `, u(mine)) : null),
      gone ? null : reasonList(m.reasons),
      h("div", { class: "meta via" }, t("alert_via"), m.via.map((v) => h("span", { class: "tag via-tag", "data-via": v },
        v === "profile" ? t("via_profile") : u(state.alerts.searchNames[v] || v)))));
  });
  const unread = state.alerts.unread.has(a.id);
  return h("div", { class: "item alert" + (unread ? " unread" : ""), "data-alert-id": a.id, "data-subject-id": a.subject_id,
    "data-delivery": a.delivery.status },
    h("div", { class: "head" }, h("span", { class: "meta", text: joined(t("alert_" + a.subject_kind), localTime(a.created_at)).join("") }),
      unread ? h("span", { class: "tag warn unread-mark", text: t("alert_new") }) : null, deliveryTag(a.delivery)),
    matches);
}

// Where an alert's webhook push stands; nothing while no push is recorded (no webhook, mode off, or not yet).
function deliveryTag(d) {
  if (d.status === "not_pushed") return null;
  const failure = d.http_status ? `HTTP ${d.http_status}` : (d.error || "");
  const detail = {
    queued: t("push_reason_" + (d.reason === "rate_limited" ? "rate_limited" : "digest")),
    delivered: d.updated_at ? localTime(d.updated_at) : "",
    retrying: joined(`${t("push_attempt")} ${d.attempt}: ${failure}`, d.next_attempt_at ? `${t("push_next")} ${localTime(d.next_attempt_at)}` : null).join(""),
    dead: `${t("push_attempt")} ${d.attempt}: ${failure}`,
  }[d.status];
  const tone = { queued: "muted", delivered: "ok", retrying: "warn", dead: "bad" }[d.status];
  return h("span", { class: `tag delivery ${tone}`, "data-status": d.status, text: joined(t("push_" + d.status), detail).join("") });
}

// The shown alerts whose push is still to come (queued, retrying, or new and not yet pushed) get their delivery
// status again, but for those the inbox poll just `listed` with theirs: the poll lists only unread alerts, and
// listing marks them read, so an alert shown since an earlier poll is asked for on its own.
async function refreshDeliveries(box, listed = new Set()) {
  const open = [...box.querySelectorAll(".alert[data-delivery]")].filter((el) => !listed.has(el.dataset.alertId)
    && (["queued", "retrying"].includes(el.dataset.delivery)
      || (el.dataset.delivery === "not_pushed" && state.alerts.unread.has(el.dataset.alertId))));
  for (const el of open.slice(0, 10)) {
    const d = await api("GET", `/v1/alerts/${encodeURIComponent(el.dataset.alertId)}/delivery`).catch(() => null);
    if (d) showDelivery(el, d);
  }
}

function showDelivery(el, d) {
  el.dataset.delivery = d.status;
  el.querySelector(".delivery")?.remove();
  const tag = deliveryTag(d);
  if (tag) el.querySelector(".head").append(tag);
}

async function loadSearches(box) {
  let page;
  try { page = await api("GET", "/v1/alerts/searches", undefined, { limit: 500 }); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  state.alerts.searchNames = Object.fromEntries(page.data.map((sv) => [sv.id, sv.name || sv.id]));
  if (!page.data.length) { box.replaceChildren(empty("no_searches")); return; }
  const cache = {};
  box.replaceChildren(...await Promise.all(page.data.map(async (sv) => {
    const project = sv.project_id ? await nameOf("projects", sv.project_id, cache) : null;
    const redrawForm = () => drawSearchForm(document.getElementById("search-form-box"), box, document.getElementById("alerts"));
    const edit = h("button", { class: "act-edit-search", text: t("edit"), onclick: () => {
      state.alerts.edit = { id: sv.id, version: sv.version, base: searchFields(sv), values: searchFields(sv),
        tickets: [sv.ticket_min_cny, sv.ticket_max_cny], project: project && { id: sv.project_id, name: project }, failure: null };
      redrawForm();
      document.getElementById("search-form-box").scrollIntoView();
    } });
    const del = h("button", { class: "danger act-delete-search", text: t("delete"), onclick: () =>
      askFirst(actions, [edit, del], "delete-search", "confirm_delete_search", () => act(async () => {
        await api("DELETE", `/v1/alerts/searches/${encodeURIComponent(sv.id)}`);
        if (state.alerts.edit && state.alerts.edit.id === sv.id) { state.alerts.edit = null; redrawForm(); }
        await loadSearches(box);
      }, t("done"))) });
    const actions = h("div", { class: "actions" }, edit, del);
    const criteria = joined(sv.text ? h("span", {}, "“", u(sv.text), "”") : null, ...sv.sectors.map((c) => I18N.label("sectors", c)),
      ...sv.stages.map((c) => I18N.label("stages", c)), ...sv.cities.map(u),
      sv.min_score ? `${t("min_score")} ${sv.min_score}` : null);
    return h("div", { class: "item saved-search", "data-search-id": sv.id },
      h("div", { class: "head" }, h("span", { class: "name" }, u(sv.name || sv.id)),
        project ? h("span", { class: "meta" }, `${t("project")}: `, u(project)) : null),
      criteria.length ? h("div", { class: "meta" }, criteria) : null,
      actions);
  })));
}

// A founder's search finds investors for one of its open projects (the API requires project_id); an investor's
// finds projects.
function projectOptions(projects, selected) {
  return projects.filter((p) => p.status === "open").map((p) => h("option", { value: p.id, selected: p.id === selected }, p.name));
}

function searchProjectOptions(projects) {  // the founder's project list changed: so does the search form's choice
  const select = document.querySelector("#search-form [name=project_id]:not(:disabled)");  // (not an edited one's)
  if (select) select.replaceChildren(...projectOptions(projects, select.value));
}

// A form's values moved onto the current version of what it edits, after a 409: the fields not touched here (still
// as `base`, the version read) take the current values `theirs`; the changed ones are kept.
function rebased(values, base, theirs) {
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  return Object.fromEntries(Object.keys(theirs).map((k) => [k, same(values[k], base[k]) ? theirs[k] : values[k]]));
}

// A saved search's criteria as the search form shows them (strings, and codes sorted), so what was typed compares
// with what was read.
function searchFields(sv) {
  return { name: sv.name || "", text: sv.text || "", sectors: [...(sv.sectors || [])].sort(), stages: [...(sv.stages || [])].sort(),
    cities: (sv.cities || []).join(", "), min_score: String(sv.min_score ?? 0) };
}

// Saves a new search, or edits the one in state.alerts.edit ({id, version, base, values, tickets, project,
// failure}), at the version read when Edit was clicked; the form's project and the ticket range (not on the form)
// stay as they are. A 409 (the search changed elsewhere meanwhile) is shown, and the form moves onto the current
// version as the roadshow's move form does: the fields not touched here take the current values, the changed ones
// are kept, and saving again applies them.
async function drawSearchForm(box, list, inbox) {
  const founder = state.me.role === "founder";
  const e = state.alerts.edit;
  const projects = founder && !e ? (await api("GET", "/v1/projects", undefined, { limit: 100 }).catch(() => ({ data: [] }))).data : [];
  // an investor saves searches once verified and active (the API refuses them before): say so instead of a form
  const me = founder ? null : await myProfile().catch(() => null);
  if (state.alerts.edit !== e) return;  // Edit or Cancel clicked meanwhile: that draw is the one to show
  if (!founder && !(me && me.in_market)) {
    // a withdrawn profile stays closed: no review opens it (the API refuses to reactivate one)
    const text = me && me.status === "withdrawn" ? t("withdrawn_closed") : t("searches_closed");
    box.replaceChildren(h("p", { class: "meta", id: "searches-closed", text }));
    return;
  }
  const v = e ? e.values : (state.alerts.draft || searchFields({}));
  const input = (name, attrs) => h("input", { name, value: v[name], ...attrs });
  const form = h("form", { class: "grid", id: "search-form", "data-search-id": e ? e.id : null, novalidate: true },
    field("name", input("name", { maxlength: 200 })),
    field("search_text", input("text", { placeholder: t("search_text_hint") })),
    founder ? field("project", e
      ? h("select", { name: "project_id", disabled: true }, e.project && h("option", { value: e.project.id }, e.project.name))
      : h("select", { name: "project_id" }, projectOptions(projects, v.project_id))) : null,
    field("sectors", h("select", { name: "sectors", multiple: true }, options("sectors", v.sectors))),
    field("stages", h("select", { name: "stages", multiple: true }, options("stages", v.stages))),
    field("cities", input("cities", { placeholder: t("cities_hint") })),
    field("min_score", input("min_score", { type: "number", step: "0.05", min: 0 })),
    h("div", { class: "wide form-error field-error", id: "search-error" }),
    h("div", { class: "wide actions" },
      h("button", { type: "submit", class: "primary", id: "search-submit", text: t(e ? "save_changes" : "save_search") }),
      e ? h("button", { type: "button", class: "act-cancel-search-edit", text: t("cancel"), onclick: () => {
        state.alerts.edit = null;
        drawSearchForm(box, list, inbox);
      } }) : null));
  const values = () => ({ name: form.elements.name.value, text: form.elements.text.value,
    sectors: selectedValues(form.elements.sectors).sort(), stages: selectedValues(form.elements.stages).sort(),
    cities: form.elements.cities.value, min_score: form.elements.min_score.value });
  form.addEventListener("input", () => {  // kept when the language switches
    if (e) e.values = values();
    else state.alerts.draft = { ...values(), project_id: founder ? form.elements.project_id.value : undefined };
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const x = values();
    const body = { name: x.name.trim(), text: x.text.trim(), sectors: x.sectors, stages: x.stages,
      cities: x.cities.split(/[,，、]/).map((c) => c.trim()).filter(Boolean), min_score: numberOrRaw(x.min_score) ?? 0 };
    if (!e) {
      if (founder) body.project_id = form.elements.project_id.value || null;
      const saved = await submitForm(form, () => api("POST", "/v1/alerts/searches", body));
      if (!saved) return;
      toast(t("search_saved"));
      state.alerts.draft = null;
      form.reset();
      await loadSearches(list);
      await loadAlerts(inbox);  // names the new search where it found something
      return;
    }
    e.values = x;
    e.failure = null;
    const saved = await submitForm(form, async () => {
      try {
        return await api("PUT", `/v1/alerts/searches/${encodeURIComponent(e.id)}`, { ...body,
          ticket_min_cny: e.tickets[0], ticket_max_cny: e.tickets[1], expected_version: e.version });
      } catch (err) { e.failure = err; throw err; }
    });
    if (state.alerts.edit !== e) return;  // cancelled, or another search opened, meanwhile
    if (saved || e.failure.status === 404) {  // saved, or deleted elsewhere (the API's message is the toast)
      state.alerts.edit = null;
      if (saved) toast(t("search_saved"));
      await drawSearchForm(box, list, inbox);
      await loadSearches(list);
      await loadAlerts(inbox);  // the alerts name the search as it is now called
      return;
    }
    if (e.failure.status === 409) {
      const now = await api("GET", `/v1/alerts/searches/${encodeURIComponent(e.id)}`).catch(() => null);
      if (now) {
        const theirs = searchFields(now);
        e.values = rebased(e.values, e.base, theirs);
        Object.assign(e, { base: theirs, version: now.version, tickets: [now.ticket_min_cny, now.ticket_max_cny] });
      }
      if (state.alerts.edit !== e) return;
      await drawSearchForm(box, list, inbox);
      await loadSearches(list);  // the list shows the current version too
    }
  });
  if (e && e.failure) {  // drawn again: the API's refusal stays next to its fields
    showErrors(form, e.failure);
    if (e.failure.status === 409) form.querySelector("#search-error").append(h("div", { class: "stale-note", text: t("search_stale") }));
  }
  box.replaceChildren(h("h3", { class: "meta", text: t(e ? "edit_search" : "new_search") }), form);
}

// Delivery settings, saved at the version read (a change made elsewhere meanwhile is a 409: the current settings
// are loaded with what was typed kept), then the webhook signing secret, shown on request and rotated after a
// confirmation. What is typed is kept in state.alerts.settings until saved, across a language switch and a rotation.
async function loadAlertSettings(box, stale) {
  let cur;
  try { cur = await api("GET", "/v1/alerts/settings"); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  state.alerts.pushing = Boolean(cur.webhook_url) && cur.mode !== "off";
  const want = state.alerts.settings
    || { mode: cur.mode, webhook_url: cur.webhook_url || "", max_per_hour: String(cur.max_per_hour), profile_alerts: cur.profile_alerts };
  const mode = h("select", { name: "mode" }, ALERT_MODES.map((m) => h("option", { value: m, selected: want.mode === m }, t("mode_" + m))));
  const url = h("input", { name: "webhook_url", type: "url", value: want.webhook_url, placeholder: t("webhook_hint") });
  const perHour = h("input", { name: "max_per_hour", type: "number", min: 1, max: 1000, step: 1, value: want.max_per_hour });
  const profile = h("input", { name: "profile_alerts", type: "checkbox", checked: want.profile_alerts });
  const form = h("form", { class: "grid", id: "alert-settings-form", "data-version": cur.version, novalidate: true },
    field("alert_mode", mode), field("max_per_hour", perHour), field("webhook_url", url, true),
    h("label", { class: "field check wide", "data-field": "profile_alerts" },
      h("span", {}, profile, " ", t("profile_alerts")), h("div", { class: "field-error", "data-error-for": "profile_alerts" })),
    h("div", { class: "wide form-error field-error" }),
    h("div", { class: "wide actions" }, h("button", { type: "submit", class: "primary", id: "alert-settings-submit", text: t("save_changes") })));
  const typed = () => ({ mode: mode.value, webhook_url: url.value, max_per_hour: perHour.value, profile_alerts: profile.checked });
  for (const kind of ["input", "change"]) form.addEventListener(kind, () => { state.alerts.settings = typed(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let conflict = false;
    const saved = await submitForm(form, async () => {
      try {
        return await api("PUT", "/v1/alerts/settings", { mode: mode.value, webhook_url: url.value.trim() || null,
          max_per_hour: numberOrRaw(perHour.value.trim()), profile_alerts: profile.checked, expected_version: cur.version });
      } catch (err) { conflict = err.status === 409; throw err; }
    });
    if (saved) { state.alerts.settings = null; toast(t("settings_saved")); await loadAlertSettings(box); return; }
    if (conflict) { state.alerts.settings = typed(); await loadAlertSettings(box, true); toast(t("settings_stale"), true); }
  });
  if (stale) form.querySelector(".form-error").textContent = t("settings_stale");
  box.replaceChildren(form, signingSecret(cur, box));
}

// The secret the recipient's webhooks are signed with (HMAC; see the API docs): hidden until asked for, and
// rotated after a confirmation, after which the previous one still signs pushes for a while.
function signingSecret(cur, settingsBox) {
  if (!cur.signing_secret) return h("p", { class: "meta", id: "signing-secret", text: t("no_signing_secret") });
  const value = h("code", { class: "secret-value", text: "•".repeat(16) });
  const show = h("button", { type: "button", class: "act-show-secret", text: t("show_secret"), onclick: () => {
    const hidden = !value.classList.toggle("shown");
    value.textContent = hidden ? "•".repeat(16) : cur.signing_secret;
    show.textContent = t(hidden ? "show_secret" : "hide_secret");
  } });
  const rotate = h("button", { type: "button", class: "danger act-rotate-secret", text: t("rotate_secret"),
    onclick: () => askFirst(actions, [show, rotate], "rotate", "confirm_rotate", async () => {
      if (await act(() => api("POST", "/v1/alerts/settings/rotate-secret"), t("secret_rotated"))) await loadAlertSettings(settingsBox);
    }) });
  const actions = h("div", { class: "actions" }, show, rotate);
  const until = cur.previous_secret_until && new Date(cur.previous_secret_until) > new Date()
    ? h("div", { class: "meta previous-secret", text: `${t("previous_secret_until")} ${localTime(cur.previous_secret_until)}` })
    : null;
  return h("div", { id: "signing-secret", "data-secret-version": cur.secret_version },
    h("div", { class: "meta" }, `${t("signing_secret")} (v${cur.secret_version}) `, value), actions, until);
}

// ---- founder --------------------------------------------------------------------------------------------
function founderPage(main) {
  const list = h("div", { id: "projects" });
  const intros = h("div", { id: "intros" });
  const invites = h("div", { id: "invitations" });
  const formCard = h("section", { class: "card", id: "project-card" });
  main.append(h("div", { class: "cols" },
    h("div", {}, card("my_projects", list), formCard),
    h("div", {}, card("intros", intros), alertsCard(), card("invitations", invites))));
  drawProjectForm(formCard, list, invites);
  loadProjects(list, invites);
  loadIntros(intros);
}

async function loadProjects(list, invites) {
  let page;
  try { page = await api("GET", "/v1/projects", undefined, { limit: 100 }); } catch (err) { list.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  const mine = new Set(page.data.map((p) => p.id));
  loadInvitations(invites, mine);
  searchProjectOptions(page.data);
  if (!page.data.length) { list.replaceChildren(empty("no_projects")); return; }
  list.replaceChildren(...page.data.map((p) => {
    const matches = h("div", { class: "matches" });
    const open = p.status === "open";  // only an open project is edited, withdrawn or marked funded
    // withdraw / funded / reopen; a funded project is final (its next round is a new project), a withdrawn one reopens
    const setStatus = (verb) => act(async () => {
      await api("POST", `/v1/projects/${encodeURIComponent(p.id)}/${verb}`);
      if (state.editing && state.editing.id === p.id) {
        state.editing = null;
        state.draft = null;
        drawProjectForm(document.getElementById("project-card"), list, invites);
      }
      await loadProjects(list, invites);
    }, t("done"));
    const ask = (verb, questionKey) => askFirst(actions, buttons, "status", questionKey, () => setStatus(verb));
    const buttons = [
      open ? h("button", { class: "act-edit", text: t("edit"), onclick: () => {
        state.editing = { id: p.id, version: p.version };
        state.draft = p;
        drawProjectForm(document.getElementById("project-card"), list, invites);
        document.getElementById("project-card").scrollIntoView();
      } }) : null,
      h("button", { class: "act-investors", text: t("show_investors"), onclick: () => loadMatches(p, matches) }),
      open ? h("button", { class: "act-funded", text: t("mark_funded"), onclick: () => ask("funded", "confirm_funded") }) : null,
      open ? h("button", { class: "danger act-withdraw", text: t("withdraw"), onclick: () => ask("withdraw", "confirm_withdraw") }) : null,
      p.status === "withdrawn" ? h("button", { class: "primary act-reopen", text: t("reopen"), onclick: () => setStatus("reopen") }) : null,
    ].filter(Boolean);
    const actions = h("div", { class: "actions" }, buttons);
    return h("div", { class: "item project", "data-project-id": p.id, "data-status": p.status },
      h("div", { class: "head" }, h("span", { class: "name" }, u(p.name)), h("span", { class: "tag", text: t("st_" + p.status) }),
        h("span", { class: "meta", text: `v${p.version}` })),
      h("div", { class: "meta" }, p.sectors.map((c) => h("span", { class: "tag", text: I18N.label("sectors", c) })),
        " ", joined(I18N.label("stages", p.stage), u(p.city), `${t("amount")} ${money(p.amount_sought_cny)}`)),
      h("div", { class: "summary" }, u(p.summary)),
      actions,
      matches);
  }));
}

async function loadMatches(p, box) {
  let page;
  try { page = await api("GET", `/v1/projects/${encodeURIComponent(p.id)}/investors`, undefined, { k: 10 }); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  box.replaceChildren(h("h3", { class: "meta", text: t("matching_investors") }), ...page.data.map((m) => {
    const inv = m.investor;
    const btn = h("button", { class: "act-intro", text: t("request_intro") });
    btn.addEventListener("click", () => act(async () => {
      await api("POST", "/v1/intros", { project_id: p.id, investor_id: inv.id, message: "" });
      btn.disabled = true;
      btn.textContent = t("intro_requested");
      await loadIntros(document.getElementById("intros"));
    }, t("intro_requested")));
    return h("div", { class: "item match", "data-investor-id": inv.id },
      h("div", { class: "head" }, h("span", { class: "name" }, u(inv.name)), h("span", { class: "score", text: `${t("score")} ${m.score.toFixed(2)}` }),
        h("span", { class: "meta" }, joined(I18N.label("kinds", inv.kind), u(inv.organization)))),
      reasonList(m.reasons),
      h("div", { class: "actions" }, btn));
  }));
  if (!page.data.length) box.append(empty("empty_feed"));
}

function drawProjectForm(box, list, invites) {
  const d = state.draft || {};
  const c = d.contact || {};
  const input = (name, value, attrs) => h("input", { name, value: value ?? "", ...attrs });
  const form = h("form", { class: "grid", id: "project-form", novalidate: true },
    field("name", input("name", d.name)),
    field("stage", h("select", { name: "stage" }, options("stages", d.stage || "seed"))),
    field("city", input("city", d.city)),
    field("amount", input("amount_sought_cny", d.amount_sought_cny, { type: "number" })),
    field("founder_background", h("select", { name: "founder_background" }, options("backgrounds", d.founder_background || "researcher"))),
    field("team_size", input("team_size", d.team_size ?? 1, { type: "number" })),
    field("sectors", h("select", { name: "sectors", multiple: true }, options("sectors", d.sectors || []))),
    field("incubator", input("incubator", d.incubator)),
    field("email", input("contact.email", c.email)),
    field("phone", input("contact.phone", c.phone)),
    field("wechat", input("contact.wechat", c.wechat)),
    field("summary", h("textarea", { name: "summary" }, d.summary || ""), true),
    field("traction", h("textarea", { name: "traction" }, d.traction || ""), true),
    h("div", { class: "wide form-error field-error" }),
    h("div", { class: "wide actions" },
      h("button", { type: "submit", class: "primary", id: "project-submit", text: t("submit") }),
      state.editing ? h("button", { type: "button", text: t("cancel"), onclick: () => { state.editing = null; state.draft = null; drawProjectForm(box, list, invites); } }) : null));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const get = (n) => form.elements[n].value;
    const body = {
      name: get("name"), summary: get("summary"), sectors: selectedValues(form.elements.sectors), stage: get("stage"),
      amount_sought_cny: numberOrRaw(get("amount_sought_cny")), city: get("city"), founder_background: get("founder_background"),
      incubator: get("incubator") || null, team_size: numberOrRaw(get("team_size")), traction: get("traction"),
      contact: Object.fromEntries(["email", "phone", "wechat"].map((k) => [k, get("contact." + k).trim()]).filter(([, v]) => v)),
    };
    const saved = await submitForm(form, () => (state.editing
      ? api("PUT", `/v1/projects/${encodeURIComponent(state.editing.id)}`, { ...body, expected_version: state.editing.version })
      : api("POST", "/v1/projects", body)));
    if (!saved) return;
    toast(t("project_saved"));
    state.editing = null;
    state.draft = null;
    drawProjectForm(box, list, invites);
    await loadProjects(list, invites);
  });
  // keep what was typed when the language switches
  form.addEventListener("input", () => {
    const get = (n) => form.elements[n].value;
    state.draft = { ...state.draft, name: get("name"), summary: get("summary"), stage: get("stage"), city: get("city"),
      amount_sought_cny: get("amount_sought_cny"), founder_background: get("founder_background"), team_size: get("team_size"),
      sectors: selectedValues(form.elements.sectors), incubator: get("incubator"), traction: get("traction"),
      contact: { email: get("contact.email"), phone: get("contact.phone"), wechat: get("contact.wechat") } };
  });
  box.replaceChildren(h("h2", { text: t(state.editing ? "edit_project" : "new_project") }), form);
}

// ---- organizer ------------------------------------------------------------------------------------------
function organizerPage(main) {
  const list = h("div", { id: "roadshows" });
  const detail = h("div", { id: "roadshow-detail" });
  const input = (name, attrs) => h("input", { name, ...attrs });
  const form = h("form", { class: "grid", id: "roadshow-form", novalidate: true },
    field("rs_title", input("title")), field("city", input("city")),
    field("date", input("date", { type: "date" })),
    field("start_time", input("start_time", { type: "time", value: "14:00" })),
    field("slot_minutes", input("slot_minutes", { type: "number", min: 5, max: 240, value: 20 })),
    field("sectors", h("select", { name: "sectors", multiple: true }, options("sectors", []))),
    field("n_projects", input("n_projects", { type: "number", value: 3 })), field("m_investors", input("m_investors", { type: "number", value: 3 })),
    field("slots", input("slots", { type: "number", value: 3 })), field("tables", input("tables", { type: "number", value: 3 })),
    field("fit_threshold", input("fit_threshold", { type: "number", step: "0.05", value: 0.3 })),
    field("min_fits", input("min_fits", { type: "number", value: 1 })),
    field("theme", h("textarea", { name: "theme" }), true),
    h("div", { class: "wide form-error field-error" }),
    h("div", { class: "wide actions" }, h("button", { type: "submit", class: "primary", id: "roadshow-create", text: t("create") })));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const get = (n) => form.elements[n].value;
    const body = { title: get("title"), theme: get("theme"), city: get("city"), date: get("date") || null,
      start_time: get("start_time") || null, slot_minutes: numberOrRaw(get("slot_minutes")),
      sectors: selectedValues(form.elements.sectors), n_projects: numberOrRaw(get("n_projects")),
      m_investors: numberOrRaw(get("m_investors")), slots: numberOrRaw(get("slots")), tables: numberOrRaw(get("tables")),
      fit_threshold: numberOrRaw(get("fit_threshold")), min_fits: numberOrRaw(get("min_fits")) };
    const res = await submitForm(form, () => api("POST", "/v1/roadshows", body));
    if (!res) return;
    form.reset();
    state.openRoadshow = res.entity_id;
    await loadRoadshows(list, detail);
  });
  main.append(h("div", { class: "cols" }, h("div", {}, card("create_roadshow", form)), h("div", {}, card("roadshows", list))), detail);
  loadRoadshows(list, detail);
}

async function loadRoadshows(list, detail) {
  let page;
  try { page = await api("GET", "/v1/roadshows"); } catch (err) { list.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  list.replaceChildren(...page.data.map((v) => h("div", { class: "item", "data-roadshow-id": v.id },
    h("div", { class: "head" }, h("span", { class: "name" }, u(v.roadshow.title)),
      h("span", { class: "tag rs-status" + (v.roadshow.status === "cancelled" ? " bad" : ""), text: t("rs_" + v.roadshow.status) })),
    h("div", { class: "meta" }, joined(v.roadshow.date, u(v.roadshow.city))),
    h("div", { class: "actions" }, h("button", { class: "act-open", text: t("open"), onclick: () => { state.openRoadshow = v.id; state.adjust = null; state.move = null; loadRoadshow(detail); } })))));
  if (!page.data.length) list.append(empty("no_roadshows"));
  if (state.openRoadshow) await loadRoadshow(detail);
}

// Loads overlap (a click while the RSVP poll's load is out, another roadshow opened, a language switch that draws a new
// view) and their answers may arrive in any order: only the last load started draws, and only if its roadshow is still
// the open one and its view is still on the page; so only that one sets the RSVP poller.
let roadshowLoads = 0;

// The RSVP poll redraws the view only while the organizer is not busy in it: typing in a form, answering a
// confirmation, or pressing a button. A redraw between a button's press and its release loses the click: the release
// lands on the new view's button, which was not pressed, so neither fires (say, "Build schedule" does nothing). So
// this is asked again when a tick's answer is drawn, not only when the tick asks: the press may begin while the
// answer is on its way. A tick not drawn keeps the poll going; a later one draws.
const busyIn = (detail) => detail.querySelector("form:focus-within, .confirm-question, :active");

// One poller only: two loads can overlap (a refresh while the poll's load is out), and a timer whose id is
// overwritten is never cleared, not even by sign-out (it then asks for /v1/roadshows/null every 5 s with no key).
function pollRsvps(detail) {
  clearInterval(state.timer);
  state.timer = setInterval(() => { if (!busyIn(detail)) loadRoadshow(detail, true); }, 5000);
}

async function loadRoadshow(detail, polled = false) {
  if (!detail.isConnected) return;  // a view a redraw replaced (its poller's last tick): the timer is the new view's
  clearInterval(state.timer);
  const rid = state.openRoadshow;
  const load = ++roadshowLoads;
  const current = () => load === roadshowLoads && state.openRoadshow === rid && detail.isConnected;
  let v;
  try { v = await api("GET", `/v1/roadshows/${encodeURIComponent(rid)}`); } catch (err) {
    if (current()) detail.replaceChildren(h("p", { class: "empty", text: errorText(err) }));
    return;
  }
  if (!current()) return;
  if (polled && busyIn(detail)) return pollRsvps(detail);  // busy meanwhile: a later tick draws (see busyIn)
  const rs = v.roadshow, names = v.names, name = (id) => names[id] || id;
  if (state.expire.roadshow !== rid) state.expire = { hours: 72, error: "", roadshow: rid };  // not another one's
  if (!state.pinSearch || state.pinSearch.roadshow !== rid) state.pinSearch = { roadshow: rid, q: "", side: "projects", found: null, failure: null };
  // not another one's (a roadshow just created opens with none)
  if (!state.adjust || state.adjust.roadshow !== rid) state.adjust = { roadshow: rid, pin: [], exclude: [], names: {}, failure: null };
  // `button` (the one clicked) is disabled while the request is out
  const run = (path, body, button) => act(async () => {
    await api("POST", `/v1/roadshows/${encodeURIComponent(rid)}${path}`, body);
    await loadRoadshow(detail);
  }, t("done"), button);
  const live = rs.status !== "cancelled";  // a called-off roadshow takes no change any more (the API answers 409)
  const before = !rs.invitations.length;
  const editable = live && before;  // the roster is adjusted until invitations go out
  const pending = state.adjust;
  // `label`: the name shown on the pending change (someone found by the pin search is not in the roadshow's names).
  // A change to the pending set answers the last refusal, so its message goes.
  const mark = (kind, id, label) => {
    const other = kind === "pin" ? "exclude" : "pin";
    pending[other] = pending[other].filter((x) => x !== id);
    if (!pending[kind].includes(id)) pending[kind].push(id);
    if (label) pending.names[id] = label;
    pending.failure = null;
    loadRoadshow(detail);
  };
  const unmark = (id) => {
    pending.pin = pending.pin.filter((x) => x !== id);
    pending.exclude = pending.exclude.filter((x) => x !== id);
    pending.failure = null;
    loadRoadshow(detail);
  };
  const moving = live && state.move && state.move.roadshow === rid ? state.move : null;
  const buttons = [
    editable ? h("button", { class: "primary act-propose", text: t("propose"), onclick: (ev) => run("/roster", undefined, ev.currentTarget) }) : null,
    editable && rs.roster ? h("button", { class: "primary act-invite", text: t("send_invites"), onclick: (ev) => run("/invitations", undefined, ev.currentTarget) }) : null,
    live && !before ? h("button", { class: "act-schedule", text: t("build_schedule"), onclick: (ev) => run("/schedule", undefined, ev.currentTarget) }) : null,
    live && !moving ? h("button", { class: "act-edit-logistics", text: t("edit_logistics"), onclick: () => {
      state.move = { roadshow: rid, version: v.version, base: logistics(rs), values: logistics(rs), failure: null };
      loadRoadshow(detail);
    } }) : null,
    h("button", { class: "act-refresh", text: t("refresh"), onclick: () => loadRoadshow(detail) }),
    live ? h("button", { class: "danger act-calloff", text: t("call_off"),
      onclick: () => askFirst(actions, buttons, "calloff", "confirm_call_off", (ev) => run("/cancel", undefined, ev.currentTarget)) }) : null,
  ].filter(Boolean);
  const actions = h("div", { class: "actions" }, buttons);
  const head = h("section", { class: "card", id: "roadshow" },
    h("h2", {}, u(rs.title), " ", live ? null : statusTag(rs.status, "rs_")),
    h("div", { class: "meta" }, joined(`${rs.date} ${rs.start_time.slice(0, 5)}`, u(rs.city), u(rs.theme))),
    h("div", { class: "stats" }, `${t("rs_status")}: `, h("b", { id: "rs-status", "data-status": rs.status, text: t("rs_" + rs.status) })),
    actions,
    moving ? moveForm(moving, detail) : null);
  const parts = [head];
  const isPinned = (id) => rs.pinned.includes(id) || pending.pin.includes(id);
  const finder = editable ? pinFinder(state.pinSearch, isPinned, mark) : null;
  // Re-solve sends the pending pins and exclusions, which leave the page only once the API has taken them: a refusal
  // (409: invitations went out meanwhile; 422: a pin is no longer an open project or a verified investor) keeps them,
  // its words beside the button (re-worded on a language switch), so the organizer can drop one (×) and try again.
  const resolveError = h("span", { class: "field-error", id: "resolve-error", text: pending.failure ? errorText(pending.failure) : "" });
  // One adjust at a time: the button is disabled while it is out, and so is the one a redraw meanwhile (a pin marked)
  // draws, as `pending.sending` says (else the same pins would go twice).
  const resolveNow = (button) => (pending.sending ? undefined : act(async () => {
    const sent = { pin: [...pending.pin], exclude: [...pending.exclude] };
    pending.failure = null;
    pending.sending = true;
    resolveError.textContent = "";
    try { await api("POST", `/v1/roadshows/${encodeURIComponent(rid)}/adjust`, sent); } catch (err) {
      pending.failure = err;
      resolveError.textContent = errorText(err);
      throw err;
    } finally {
      pending.sending = false;
    }
    // what was marked while the request was out stays pending
    pending.pin = pending.pin.filter((x) => !sent.pin.includes(x));
    pending.exclude = pending.exclude.filter((x) => !sent.exclude.includes(x));
    await loadRoadshow(detail);
  }, t("done"), button));
  const change = (kind, id) => h("span", { class: "tag pending-change " + (kind === "pin" ? "ok" : "bad"), "data-id": id },
    `${t(kind === "pin" ? "pinned" : "excluded")}: `, u(pending.names[id] || name(id)), " ",
    h("button", { text: "×", class: "act-drop", title: t(kind === "pin" ? "unpin" : "unexclude"), onclick: () => unmark(id) }));
  const resolve = editable && (pending.pin.length || pending.exclude.length) ? h("div", { class: "actions", id: "pending-changes" },
    h("span", { class: "meta", text: `${t("pending_changes")}: +${pending.pin.length} / −${pending.exclude.length}` }),
    pending.pin.map((id) => change("pin", id)), pending.exclude.map((id) => change("exclude", id)),
    h("button", { class: "primary act-resolve", text: t("resolve"), disabled: Boolean(pending.sending),
      onclick: (ev) => resolveNow(ev.currentTarget) }), resolveError) : null;

  if (rs.roster) {
    const r = rs.roster;
    const picks = h("table", { id: "picks" }, h("tr", {}, ["kind", "name", "reasons", ""].map((k) => h("th", { text: k ? t(k) : "" }))),
      r.picks.map((p) => h("tr", { "data-id": p.id, "data-kind": p.kind },
        h("td", { text: t(p.kind) }), h("td", {}, u(name(p.id))), h("td", { text: I18N.lang === "zh" ? p.zh : p.en }),
        h("td", { class: "actions" }, editable ? [
          isPinned(p.id) ? h("span", { class: "tag ok", text: t("pinned") }) : h("button", { class: "act-pin", text: t("pin"), onclick: () => mark("pin", p.id) }),
          pending.exclude.includes(p.id) ? h("span", { class: "tag bad", text: t("excluded") }) : h("button", { class: "danger act-exclude", text: t("exclude"), onclick: () => mark("exclude", p.id) }),
        ] : null))));
    const adjusted = [...rs.pinned.map((id) => ["pinned", id]), ...rs.excluded.map((id) => ["excluded", id])];
    // A pin whose invitation was declined or expired holds no seat: the roadshow keeps the pin (the backfill never
    // invites that one again) and gave the seat to someone else. It shows as what became of it, not as a current pin,
    // and stays listed, so the organizer sees that a pin did not work out.
    const lapsed = (id) => {
      const answer = rs.invitations.filter((i) => i.invitee_id === id).at(-1);
      return answer && ["declined", "expired"].includes(answer.status) ? answer.status : null;
    };
    const chip = ([k, id]) => {
      const st = k === "pinned" ? lapsed(id) : null;
      return h("span", { class: "tag " + (st ? "muted lapsed-pin" : k === "pinned" ? "ok" : "bad"), "data-id": id, "data-status": st },
        `${t(st ? "pinned_" + st : k)}: `, u(name(id)), " ",
        editable ? h("button", { text: "×", class: "act-release", title: t(k === "pinned" ? "unpin" : "unexclude"),
          onclick: (ev) => run("/adjust", k === "pinned" ? { unpin: [id] } : { unexclude: [id] }, ev.currentTarget) }) : null);
    };
    parts.push(h("section", { class: "card", id: "roster" }, h("h2", { text: t("roster") }),
      h("div", { class: "stats", id: "solver" },
        h("span", {}, `${t("objective")}: `, h("b", { text: r.objective.toFixed(3) })),
        h("span", {}, `${t("bound")}: `, h("b", { text: r.bound.toFixed(3) })),
        h("span", {}, `${t("gap")}: `, h("b", { id: "gap", text: pct(r.gap) })),
        h("span", {}, `${t("method")}: `, h("b", { text: `${r.method} (${r.status}, ${r.seconds.toFixed(2)}s)` }))),
      picks,
      adjusted.length ? h("div", { class: "meta", id: "adjusted" }, adjusted.map(chip)) : null,
      resolve));
    parts.push(finder, h("section", { class: "card", id: "matrix" }, h("h2", { text: t("match_matrix") }), h("div", { class: "plot" }, heatMap(v))));
  } else {
    parts.push(card("roster", empty("no_roster"), resolve), finder);  // pins before any proposal: Re-solve proposes
  }

  if (rs.invitations.length) {
    // Expire what is still unanswered after N hours (the seats are backfilled); the hours and the API's refusal
    // are kept in the state, as this card is redrawn every few seconds while invitations are out.
    const hours = h("input", { type: "number", name: "older_than_hours", min: 0, step: "any", value: state.expire.hours,
      oninput: () => { state.expire.hours = hours.value; } });
    const expireError = h("span", { class: "field-error", id: "expire-error", text: state.expire.error });
    const expire = h("form", { class: "actions", id: "expire-form", novalidate: true, onsubmit: async (ev) => {
      ev.preventDefault();
      state.expire.error = "";
      try { await api("POST", `/v1/roadshows/${encodeURIComponent(rid)}/expire`, { older_than_hours: numberOrRaw(hours.value) }); } catch (err) {
        state.expire.error = expireError.textContent = errorText(err);  // 409: none is that old
        toast(state.expire.error, true);
        return;
      }
      toast(t("done"));
      await loadRoadshow(detail);
    } }, h("span", { class: "meta", text: t("expire_before") }), hours, h("span", { class: "meta", text: t("expire_after") }),
      h("button", { type: "submit", class: "act-expire", text: t("expire") }), expireError);
    parts.push(h("section", { class: "card", id: "invitations" }, h("h2", { text: t("invitations") }),
      live && rs.invitations.some((i) => i.status === "pending") ? expire : null,
      h("table", {}, h("tr", {}, ["invitee", "kind", "status", ""].map((k) => h("th", { text: k ? t(k) : "" }))),
        rs.invitations.map((i) => h("tr", { class: "invitation" + (i.replaces ? " backfill" : ""), "data-invitee": i.invitee_id },
          h("td", {}, u(name(i.invitee_id))), h("td", { text: t(i.kind) }), h("td", {}, statusTag(i.status)),
          h("td", { class: "meta" }, i.replaces ? [t("backfill_for"), u(name(i.replaces))] : null))))));
  }

  if (rs.schedule.length) {
    const cells = {};
    for (const m of rs.schedule) cells[`${m.slot}:${m.table}`] = m;
    // slots and tables are 1-based (matcher/schedule.py)
    const upto = (n) => Array.from({ length: n }, (_, i) => i + 1);
    const slots = upto(Math.max(rs.slots, ...rs.schedule.map((m) => m.slot)));
    const tables = upto(Math.max(rs.tables, ...rs.schedule.map((m) => m.table)));
    const csv = () => download(`/v1/roadshows/${encodeURIComponent(rid)}/schedule.csv`, `${rid}-schedule.csv`);
    parts.push(h("section", { class: "card", id: "schedule" }, h("h2", {}, t("schedule"), " ", live ? null : statusTag("cancelled", "rs_")),
      h("div", { class: "actions" }, h("button", { class: "act-csv", text: t("download_csv"), onclick: csv })),
      // a called-off roadshow keeps its schedule for the record, struck through like the invitees' copies
      h("table", { class: "grid" + (live ? "" : " cancelled") }, h("tr", {}, h("th", { text: `${t("table")} \\ ${t("slot")}` }), slots.map((sl) => h("th", { text: `${t("slot")} ${sl}` }))),
        tables.map((tb) => h("tr", {}, h("th", { text: `${t("table")} ${tb}` }), slots.map((sl) => {
          const m = cells[`${sl}:${tb}`];
          return h("td", { class: m ? "meeting" : null }, m ? [h("div", {}, u(name(m.project_id))),
            h("div", { class: "meta" }, "× ", u(name(m.investor_id)), ` (${m.score.toFixed(2)})`)] : "");
        }))))));
  } else if (live && !before) {
    parts.push(card("schedule", empty("no_schedule")));
  }
  detail.replaceChildren(...parts.filter(Boolean));  // the finder is null once the roster is final
  const listed = document.querySelector(`#roadshows [data-roadshow-id="${CSS.escape(rid)}"] .rs-status`);
  if (listed) {
    listed.textContent = t("rs_" + rs.status);
    listed.classList.toggle("bad", !live);
  }
  if (rs.status === "inviting") pollRsvps(detail);  // watch RSVPs, but not while the organizer is busy (busyIn)
}

// The organizer finds any open project or verified, active investor to pin, not only the proposed roster's picks
// (the API seats a pin whatever the theme's sectors and city). `f` (state.pinSearch) keeps the query and the API's
// last answer, as the detail is redrawn after every action and on a language switch. Pin adds to the pending pins
// (`mark`), which Re-solve sends. A search redraws only this card: the roadshow has not changed.
function pinFinder(f, isPinned, mark) {
  const q = h("input", { name: "q", value: f.q, size: 24, oninput: () => { f.q = q.value; } });
  const side = h("select", { name: "side", onchange: () => { f.side = side.value; } },
    ["projects", "investors"].map((x) => h("option", { value: x, selected: f.side === x }, t(x === "projects" ? "project" : "investor"))));
  const form = h("form", { class: "filters", id: "pin-search", onsubmit: async (ev) => {
    ev.preventDefault();
    Object.assign(f, { q: q.value, side: side.value });
    try {
      const page = await api("GET", "/v1/search", undefined, { q: f.q.trim(), side: f.side, k: 10 });
      Object.assign(f, { found: page.data, failure: null });
    } catch (err) {
      Object.assign(f, { found: null, failure: err });  // kept as the error, so a language switch re-words it
    }
    // the card shown now (the detail may have been redrawn meanwhile), unless another roadshow was opened
    if (state.pinSearch === f) document.getElementById("pin-finder")?.replaceWith(pinFinder(f, isPinned, mark));
  } }, field("pin_query", q), field("kind", side), h("button", { type: "submit", class: "primary act-pin-search", text: t("search") }));
  const item = (m) => {
    const p = m.project, inv = m.investor;
    return h("div", { class: "item pin-candidate", "data-id": m.entity_id },
      h("div", { class: "head" }, h("span", { class: "name" }, u((p || inv).name)),
        h("span", { class: "meta" }, p ? joined(u(p.city), p.sectors.map((c) => I18N.label("sectors", c))) : u(inv.organization))),
      reasonList(m.reasons),
      h("div", { class: "actions" }, isPinned(m.entity_id) ? h("span", { class: "tag ok", text: t("pinned") })
        : h("button", { class: "act-pin", text: t("pin"), onclick: () => mark("pin", m.entity_id, (p || inv).name) })));
  };
  let found = null;
  if (f.failure) found = h("p", { class: "field-error", text: errorText(f.failure) });
  else if (f.found) found = f.found.length ? f.found.map(item) : empty("nothing_about_query");
  return h("section", { class: "card", id: "pin-finder" }, h("h2", { text: t("find_to_pin") }), form,
    h("div", { id: "pin-found" }, found));
}

// When and where, as the move form shows them (strings, so what was typed compares with what was read).
function logistics(rs) {
  const start = rs.start_time.slice(0, 8);
  return { title: rs.title, city: rs.city, date: rs.date, start_time: start.endsWith(":00") ? start.slice(0, 5) : start,
    slot_minutes: String(rs.slot_minutes) };
}

// The organizer moves the roadshow (title, city, date, start time, slot length), at the version read when the form
// opened. `m` (state.move) keeps what was typed and the API's last refusal, as the card is redrawn every few
// seconds while invitations are out. A 409 (the roadshow changed meanwhile, say an invitee answered) is shown,
// and the form moves onto the current version: the fields not touched here take the current values, the changed
// ones are kept, and saving again applies them.
function moveForm(m, detail) {
  const rid = m.roadshow;
  const input = (name, attrs) => h("input", { name, value: m.values[name] ?? "", ...attrs });
  const form = h("form", { class: "grid", id: "move-form", novalidate: true },
    field("rs_title", input("title")), field("city", input("city")), field("date", input("date", { type: "date" })),
    field("start_time", input("start_time", { type: "time" })),
    field("slot_minutes", input("slot_minutes", { type: "number", min: 5, max: 240 })),
    h("div", { class: "wide form-error field-error", id: "move-error" }),
    h("div", { class: "wide actions" },
      h("button", { type: "submit", class: "primary", id: "move-submit", text: t("save_changes") }),
      h("button", { type: "button", class: "act-cancel-move", text: t("cancel"), onclick: () => { state.move = null; loadRoadshow(detail); } })));
  const values = () => Object.fromEntries(Object.keys(m.base).map((k) => [k, form.elements[k].value]));
  form.addEventListener("input", () => { m.values = values(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    m.values = values();
    const x = m.values;
    const body = { title: x.title, city: x.city, date: x.date || null, start_time: x.start_time || null,
      slot_minutes: numberOrRaw(x.slot_minutes), expected_version: m.version };
    m.failure = null;
    const saved = await submitForm(form, async () => {
      try { return await api("PUT", `/v1/roadshows/${encodeURIComponent(rid)}/logistics`, body); } catch (err) {
        m.failure = err;
        throw err;
      }
    });
    if (state.move !== m) return;  // closed, or another roadshow opened, meanwhile
    if (saved) {
      state.move = null;
      toast(t("done"));
      await loadRoadshows(document.getElementById("roadshows"), detail);  // the list shows the new title and date
      return;
    }
    if (m.failure && m.failure.status === 409) {
      const now = await api("GET", `/v1/roadshows/${encodeURIComponent(rid)}`).catch(() => null);
      if (now) {
        const theirs = logistics(now.roadshow);
        m.values = rebased(m.values, m.base, theirs);
        m.base = theirs;
        m.version = now.version;
      }
      await loadRoadshow(detail);
    }
  });
  if (m.failure) {  // drawn again: the API's refusal stays next to its fields
    showErrors(form, m.failure);
    if (m.failure.status === 409) form.querySelector("#move-error").append(h("div", { class: "stale-note", text: t("move_stale") }));
  }
  return form;
}

// The roster's investors x projects match scores, white (low) to blue (high).
function heatMap(v) {
  const r = v.roadshow.roster, names = v.names, scores = v.pair_scores || {};
  const rows = r.investor_ids, cols = r.project_ids;
  const cw = 96, ch = 30, left = 150, top = 60;
  const width = left + cols.length * cw + 10, height = top + rows.length * ch + 10;
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "heatmap", role: "img", "aria-label": t("match_matrix") });
  const clip = (x, n) => (x.length > n ? x.slice(0, n - 1) + "…" : x);
  const all = rows.flatMap((i) => cols.map((p) => (scores[i] || {})[p])).filter((x) => x !== undefined);
  const lo = Math.min(0, ...all), hi = Math.max(1, ...all);  // a fixed 0..1 scale, so equal scores are not all "best"
  cols.forEach((p, j) => svg.append(s("text", { x: left + j * cw + cw / 2, y: top - 10, "text-anchor": "middle" }, clip(names[p] || p, 14))));
  rows.forEach((inv, i) => {
    svg.append(s("text", { x: left - 6, y: top + i * ch + ch / 2 + 4, "text-anchor": "end" }, clip(names[inv] || inv, 20)));
    cols.forEach((p, j) => {
      const x = (scores[inv] || {})[p];
      const k = x === undefined ? 0 : (x - lo) / (hi - lo || 1);
      const fill = x === undefined ? "#f0f0f0" : `rgb(${Math.round(255 - 234 * k)},${Math.round(255 - 154 * k)},${Math.round(255 - 63 * k)})`;
      const rect = s("rect", { x: left + j * cw, y: top + i * ch, width: cw - 2, height: ch - 2, fill, class: "cell", "data-investor": inv, "data-project": p });
      rect.append(s("title", {}, `${uText(names[inv] || inv)} × ${uText(names[p] || p)}: ${x === undefined ? "—" : x.toFixed(3)}`));
      svg.append(rect, s("text", { x: left + j * cw + cw / 2 - 1, y: top + i * ch + ch / 2 + 3, "text-anchor": "middle", fill: k > 0.6 ? "#fff" : "#1f2933" }, x === undefined ? "—" : x.toFixed(2)));
    });
  });
  return svg;
}

// ---- registrar ------------------------------------------------------------------------------------------
const REGISTRY_PAGE = 10;

function registrarPage(main) {
  const pending = h("div", { id: "pending" });
  const registry = h("div", { id: "registry" });
  const reload = () => Promise.all([loadPending(pending, reload), loadRegistry(registry, reload)]);  // after a decision
  const f = state.registry;
  const q = h("input", { name: "q", value: f.q, size: 24 });
  const decision = h("select", { name: "verification" }, h("option", { value: "" }, t("any")),
    ["verified", "rejected", "pending"].map((code) => h("option", { value: code, selected: f.verification === code }, t("ver_" + code))));
  const search = h("form", { class: "filters", id: "registry-form" }, field("registry_q", q), field("decision", decision),
    h("button", { type: "submit", class: "primary act-search", text: t("search") }));
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.registry = { q: q.value.trim(), verification: decision.value };
    loadRegistry(registry, reload);
  });
  main.append(card("pending_regs", pending), card("registry", search, registry));
  reload();
}

// The registrar's decision on one profile, as a table cell: Verify (unless `verify` is false), and Reject with the
// reason the investor reads (the API refuses an empty one, shown under the buttons). Then `after()`.
function reviewCell(inv, after, verify = true) {
  const reason = h("input", { class: "reject-reason", placeholder: t("reject_reason"), size: 14 });
  const err = h("div", { class: "field-error" });
  const review = (path, body) => act(async () => {
    err.textContent = "";
    try { await api("POST", `/v1/investors/${encodeURIComponent(inv.id)}/${path}`, body); } catch (e) {
      if (e.status === 422) err.textContent = e.body.errors && e.body.errors.length ? I18N.fieldError(e.body.errors[0].message) : errorText(e);
      throw e;
    }
    await after();
  }, t("done"));
  return h("td", { class: "actions" },
    verify ? h("button", { class: "primary act-verify", text: t("verify"), onclick: () => review("verify") }) : null,
    reason, h("button", { class: "danger act-reject", text: t("reject"), onclick: () => review("reject", { reason: reason.value }) }), err);
}

async function loadPending(box, after) {
  let page;
  try { page = await api("GET", "/v1/registrar/pending"); } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  if (!page.data.length) { box.replaceChildren(empty("no_pending")); return; }
  box.replaceChildren(h("table", {},
    h("tr", {}, ["name", "kind", "organization", "sectors", "stages", "ticket", "cities", "thesis", ""].map((k) => h("th", { text: k ? t(k) : "" }))),
    page.data.map((inv) => h("tr", { class: "pending-investor", "data-investor-id": inv.id },
      h("td", {}, u(inv.name)), h("td", { text: I18N.label("kinds", inv.kind) }), h("td", {}, u(inv.organization)),
      h("td", {}, inv.sectors.map((c) => h("span", { class: "tag", text: I18N.label("sectors", c) }))),
      h("td", { text: inv.stages.map((c) => I18N.label("stages", c)).join(", ") }),
      h("td", { text: `${money(inv.ticket_min_cny)} – ${money(inv.ticket_max_cny)}` }),
      h("td", {}, joinedWith(", ", inv.cities.map(u))),
      h("td", { class: "meta" }, u(inv.thesis),  // back in review after a rejection: what the registrar said then
        inv.rejection_reason ? h("p", { class: "previous-rejection" }, `${t("previously_rejected")} `, u(inv.rejection_reason)) : null),
      reviewCell(inv, after)))));
}

// The whole registry as the search (state.registry) finds it, oldest change first, a page at a time: "Load more"
// appends the next page. A verified investor can be rejected here (a registrar's second look).
async function loadRegistry(box, after, cursor) {
  const f = state.registry;
  let page;
  try {
    page = await api("GET", "/v1/registrar/investors", undefined, { q: f.q, verification: f.verification, limit: REGISTRY_PAGE, cursor });
  } catch (err) { box.replaceChildren(h("p", { class: "empty", text: errorText(err) })); return; }
  const rows = page.data.map((inv) => h("tr", { class: "registry-investor", "data-investor-id": inv.id, "data-verification": inv.verification },
    h("td", {}, u(inv.name)), h("td", { text: I18N.label("kinds", inv.kind) }), h("td", {}, u(inv.organization)),
    h("td", {}, joinedWith(", ", inv.cities.map(u))),
    h("td", {}, statusTag(inv.verification, "ver_"), inv.status === "withdrawn" ? statusTag(inv.status) : null,
      inv.rejection_reason ? h("div", { class: "meta rejection-reason" },
        `${t(inv.verification === "rejected" ? "rejected_because" : "previously_rejected")} `, u(inv.rejection_reason)) : null),
    inv.verification === "verified" ? reviewCell(inv, after, false) : h("td")));
  const more = h("div", { class: "actions registry-more" }, page.next_cursor
    ? h("button", { class: "act-more", text: t("load_more"), onclick: () => loadRegistry(box, after, page.next_cursor) }) : null);
  const table = cursor ? box.querySelector("table") : null;
  if (table) {  // the next page, below the ones shown
    table.append(...rows);
    box.querySelector(".registry-more").replaceWith(more);
    return;
  }
  if (!page.data.length) { box.replaceChildren(empty("no_registry")); return; }
  box.replaceChildren(h("p", { class: "meta", id: "registry-count", text: `${t("registry_found")} ${page.count}` }),
    h("table", {}, h("tr", {}, ["name", "kind", "organization", "cities", "decision", ""].map((k) => h("th", { text: k ? t(k) : "" }))), rows),
    more);
}

// ---- start ----------------------------------------------------------------------------------------------
document.querySelectorAll(".lang button").forEach((b) => b.addEventListener("click", () => { I18N.set(b.dataset.lang); render(); }));
document.getElementById("signout").addEventListener("click", () => signOut());
I18N.set(I18N.lang);
if (state.key) signIn(); else render();
