"""The web pages in headless Chromium against a live deployment (real broker): an investor's feed, a founder's
project form with the API's validation errors, an organizer's roadshow with a backfill, and the deal-alert card
(inbox, saved searches, delivery settings) of investors and founders."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers import webhooks
from models.roadshows import Roadshow
from tests.e2e.conftest import start_deployment
from tests.e2e.helpers import (
    accepted,
    alerter_running,
    investor_body,
    register,
    seed_market,
    submit,
    uid,
    waiting,
)
from tests.integration.alert_rig import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.kafka]

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield found
        finally:
            found.close()


@pytest.fixture
def deployment(request: pytest.FixtureRequest, kafka_bootstrap: str, tmp_path: Path) -> Iterator[Any]:
    """A deployment per browser test: rosters choose among every project and investor a deployment holds, so
    tests sharing one found each other's entities on their rosters. Settings overrides come as an indirect
    parameter."""
    dep, stop = start_deployment(kafka_bootstrap, tmp_path, **getattr(request, "param", {}))
    try:
        yield dep
    finally:
        stop()


@pytest.fixture
def new_page(browser, deployment):
    """Pages in their own browser contexts (so each has its own sessionStorage), closed after the test."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(base_url=deployment.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, dep: Any, role: str, entity_id: str | None = None) -> str:
    """Issues a key, waits until the replica knows it, signs in with it in English; returns the key."""
    key, _, token = dep.issue_key(role, entity_id)
    assert dep.client(key).get("/v1/me", params={"wait_for": token}).json()["role"] == role
    page.goto("/")
    page.click("#lang-en")
    page.fill("#api-key", key)
    page.click("#signin")
    page.wait_for_selector(f"#who:has-text('{entity_id or role.capitalize()}')")
    return key


def refused(page: Any, button: str, form: str, field: str) -> str:
    """Clicks `button`; returns the API's message the page then shows next to `field` of `form` (a selector),
    once shown, after checking that only that field is marked invalid. (Waits on a selector: the page's content
    security policy forbids wait_for_function's eval.)"""
    page.click(button)
    page.wait_for_selector(f"{form} [data-error-for={field}]:not(:empty)")
    assert page.locator(f"{form} .invalid").count() == 1
    assert page.locator(f"{form} [data-field={field}].invalid").count() == 1
    return page.locator(f"{form} [data-error-for={field}]").inner_text()


def fill_form(form: Any, values: dict[str, str | list[str]]) -> None:
    """Fills the fields of `form` (a locator) by name, in order: a select takes an option's value (a list of them
    for a multiple select), an input or textarea the text to type."""
    for name, value in values.items():
        control = form.locator(f'[name="{name}"]')
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)


def test_investor_verified_on_the_registrar_page_saves_and_passes_and_the_passed_project_leaves_the_feed(
        deployment, new_page):  # and signed out, the next investor in the tab sees none of its filters or saves
    dep = deployment
    founder = dep.as_role("founder", uid("f"))
    token = None
    projects = []
    for n, (stage, sectors) in enumerate([("seed", ["smart_manufacturing", "ai"]), ("angel", ["robotics"]),
                                          ("seed", ["ai"]), ("pre-a", ["smart_manufacturing"])]):
        pid, token = submit(founder, after=token, name=f"网页测试项目 {n}", stage=stage, sectors=sectors)
        projects.append(pid)
    investor, investor_id, token = register(dep, None, name="网页天使 Web Angels", stages=["seed", "angel", "pre-a"])

    registrar = new_page()
    sign_in(registrar, dep, "registrar")
    row = registrar.locator(f"tr.pending-investor[data-investor-id='{investor_id}']")
    row.wait_for()
    shot(registrar, "registrar_pending")
    row.locator(".act-verify").click()
    row.wait_for(state="detached")

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    items = page.locator(".feed-item")
    page.wait_for_selector(f".feed-item[data-project-id='{projects[-1]}']")
    assert items.count() >= len(projects)
    assert page.locator("#feed-chart circle.bubble").count() >= 3  # sector x stage cells of the feed
    assert page.locator(".feed-item .reasons li").first.inner_text().isascii()  # English reasons
    shot(page, "investor_feed")

    kept, passed = projects[0], projects[1]
    page.locator(f".feed-item[data-project-id='{kept}'] .act-save").click()
    page.locator(f".feed-item[data-project-id='{kept}'] .saved-mark").wait_for()
    item = page.locator(f".feed-item[data-project-id='{passed}']")
    item.locator(".act-pass").click()
    item.locator(".pass-reason").fill("估值太高 valuation too high")
    item.locator(".act-confirm-pass").click()
    item.wait_for(state="detached")
    assert page.locator(f".feed-item[data-project-id='{kept}']").count() == 1
    feed = investor.get(f"/v1/investors/{investor_id}/feed", params={"k": 50}).json()["data"]
    assert passed not in {m["entity_id"] for m in feed} and kept in {m["entity_id"] for m in feed}
    taken = page.locator(f"#passes .passed[data-project-id='{passed}']")  # listed with its reason, to take back
    assert "valuation too high" in taken.inner_text()
    taken.locator(".act-unpass").click()
    page.locator(f".feed-item[data-project-id='{passed}']").wait_for()  # back in the feed
    page.locator("#passes .empty").wait_for()

    page.click("#lang-zh")  # every label switches; the reasons come in Chinese
    page.wait_for_selector("h2:has-text('项目推荐')")
    page.locator(".feed-item").first.wait_for()
    assert not page.locator(".feed-item .reasons li").first.inner_text().isascii()
    shot(page, "investor_feed_after_pass_zh")

    page.locator("#filters [name=stage]").select_option("seed")
    page.click("#filters button[type=submit]")
    page.locator(f".feed-item[data-project-id='{passed}']").wait_for(state="detached")  # an angel-stage project
    _, other_id, token = register(dep, dep.as_role("registrar"), name="下一位天使 Next Angels",
                                  stages=["seed", "angel", "pre-a"])
    key, _, token = dep.issue_key("investor", other_id)
    assert dep.client(key).get("/v1/me", headers=waiting(token)).status_code == 200
    late, held = projects[2], []  # saved just before signing out: its answer comes in the next one's session
    page.route("**/v1/feedback", lambda route: held.append(route))
    page.locator(f".feed-item[data-project-id='{late}'] .act-save").click()
    for _ in range(100):  # until the request is held
        if held:
            break
        page.wait_for_timeout(50)
    page.click("#signout")  # in the same tab, with no reload to wipe the page's memory
    page.fill("#api-key", key)
    page.click("#signin")
    page.wait_for_selector(f"#who:has-text('{other_id}')")
    with page.expect_response("**/v1/feedback"):
        held[0].continue_()
    page.unroute("**/v1/feedback")
    page.wait_for_timeout(1000)  # the page reads the answer after it arrives (the old page marked it then)
    assert not page.evaluate("id => state.saved.has(id)", late)  # so no redraw of this feed marks it
    page.locator(f".feed-item[data-project-id='{passed}']").wait_for()  # no filter carried over
    assert page.locator("#filters [name=stage]").input_value() == ""
    kept_item = page.locator(f".feed-item[data-project-id='{kept}']")
    assert kept_item.count() == 1 and kept_item.locator(".saved-mark").count() == 0  # not saved by this one


def test_a_rejected_investor_reads_the_reason_and_its_edit_shows_the_registrar_the_earlier_one(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    client, investor_id, token = register(dep, None, name="驳回天使 Rejected Angels")
    _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/reject", headers=waiting(token),
                                       json={"reason": "无法核实资金来源 source of funds unverified"}))
    page = new_page()
    own = f"/v1/investors/{investor_id}"
    profile_reads: list[str] = []
    page.on("request", lambda r: profile_reads.append(r.url) if r.url.endswith(own) else None)
    sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#feed .empty:has-text('source of funds unverified')")
    assert "rejected" in page.locator("#feed .empty").inner_text()
    page.wait_for_selector("#searches-closed:has-text('once a registrar has verified')")  # no form the API refuses
    assert page.locator("#search-form").count() == 0
    page.wait_for_selector("#verification[data-status='rejected']")
    assert len(profile_reads) == 1  # the profile card, the feed and the search form share one read

    edited = investor_body(name="驳回天使 Rejected Angels", thesis="附审计报告 audited statements attached")
    _, token = accepted(client.put(f"/v1/investors/{investor_id}", headers=waiting(token),
                                   json={**edited, "expected_version": 2}))
    desk = new_page()
    sign_in(desk, dep, "registrar")
    row = desk.locator(f"tr.pending-investor[data-investor-id='{investor_id}']")
    row.wait_for()
    assert "source of funds unverified" in row.locator(".previous-rejection").inner_text()

def test_a_withdrawn_investor_is_told_its_profile_is_withdrawn_not_that_it_awaits_verification(deployment, new_page):
    dep = deployment
    client, investor_id, token = register(dep, dep.as_role("registrar"), name="撤回天使 Withdrawn Angels")
    _, token = accepted(client.post(f"/v1/investors/{investor_id}/withdraw", headers=waiting(token)))
    assert client.get(f"/v1/investors/{investor_id}", headers=waiting(token)).json()["status"] == "withdrawn"
    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#feed .empty:has-text('withdrawn')")
    page.wait_for_selector("#searches-closed:has-text('withdrawn')")
    assert "verif" not in page.locator("#feed .empty").inner_text() + page.locator("#searches-closed").inner_text()


def test_founder_sees_the_apis_validation_error_next_to_the_field_fixes_it_and_the_project_appears(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    _, investor_id, token = register(dep, registrar, name="表单天使 Form Angels")
    founder_id = uid("f")
    page = new_page()
    sign_in(page, dep, "founder", founder_id)

    form = page.locator("#project-form")
    fill_form(form, {"name": "网页表单项目 WebForm",
                     "summary": "工业视觉质检系统，服务宁波注塑工厂 industrial vision QC",
                     "sectors": ["smart_manufacturing", "ai"], "stage": "seed", "city": "宁波",
                     "amount_sought_cny": "0",  # invalid: must be > 0
                     "contact.email": "me@webform.example"})
    assert "must be > 0" in refused(page, "#project-submit", "#project-form", "amount_sought_cny")
    shot(page, "founder_validation_error")

    form.locator("[name=amount_sought_cny]").fill("3000000")
    page.click("#project-submit")
    project = page.locator(".project", has_text="网页表单项目 WebForm")
    project.wait_for()
    assert form.locator("[data-error-for=amount_sought_cny]").inner_text() == ""

    project.locator(".act-investors").click()  # the verified investor matches, with reasons
    match = project.locator(f".match[data-investor-id='{investor_id}']")
    match.wait_for()
    assert match.locator(".reasons li").count() >= 1
    match.locator(".act-intro").click()
    page.locator("#intros .intro [data-status=requested]").wait_for()
    assert "null" not in page.locator("#intros").inner_text()  # no heading while none waits for our answer
    shot(page, "founder_projects")


def test_on_the_chinese_page_the_apis_field_errors_read_in_chinese_and_an_unknown_one_as_the_api_wrote_it(
        deployment, new_page):
    dep = deployment
    page = new_page()
    sign_in(page, dep, "founder", uid("f"))
    page.click("#lang-zh")
    page.wait_for_selector("#project-card h2:has-text('提交新项目')")
    form = page.locator("#project-form")
    fill_form(form, {"name": "", "summary": "工业视觉质检系统", "sectors": ["ai"], "city": "宁波",
                     "amount_sought_cny": "-5", "contact.email": "bad"})
    page.click("#project-submit")
    page.wait_for_selector("#project-form [data-error-for='contact.email']:not(:empty)")
    error = {name: form.locator(f"[data-error-for='{name}']").inner_text()
             for name in ("name", "amount_sought_cny", "contact.email")}
    assert error == {"name": "此项必填", "amount_sought_cny": "须大于 0",
                     "contact.email": "请填写有效的邮箱地址，例如 name@example.com"}
    assert page.locator("#toast").inner_text() == "请修正标出的字段"
    shot(page, "founder_validation_error_zh")

    desk = new_page()  # a message of no known shape (the ticket range's) is shown as the API wrote it
    sign_in(desk, dep, "investor", uid("i"))
    desk.click("#lang-zh")
    desk.wait_for_selector("#profile-card h2:has-text('登记投资人资料')")
    fill_form(desk.locator("#profile-form"), {
        "name": "区间天使 Range Angels", "sectors": ["ai"], "stages": ["seed"], "ticket_min_cny": "5000000",
        "ticket_max_cny": "1000000", "contact.email": "range@angels.example", "thesis": "工业视觉 industrial vision"})
    shown = refused(desk, "#profile-submit", "#profile-form", "ticket_min_cny")
    assert shown.isascii() and "ticket_max_cny" in shown


@pytest.mark.parametrize("deployment", [{"auth_failures_per_minute": 2}], indirect=True)
def test_on_the_chinese_page_a_throttled_sign_in_says_why_in_chinese_with_the_wait_and_the_apis_own_words(
        deployment, new_page):
    page = new_page()
    page.goto("/")
    page.click("#lang-zh")
    for n, status in enumerate((401, 401, 429)):  # two different unknown keys: the most this deployment answers
        page.fill("#api-key", f"mmk_not-a-key-anyone-was-issued-{n}")
        with page.expect_response("**/v1/me") as answer:
            page.click("#signin")
        assert answer.value.status == status
    detail, wait = answer.value.json()["detail"], answer.value.headers["retry-after"]
    page.wait_for_selector("#signin-error:has-text('无效密钥过多')")
    shown = page.locator("#signin-error").inner_text()
    assert shown == f"来自本地址的无效密钥过多，请稍后再试（{wait} 秒后可重试）：{detail}"


def test_a_key_revoked_while_signed_in_sends_the_page_back_to_sign_in_and_its_polling_stops(deployment, new_page):
    dep, founder_id = deployment, uid("f")
    key, key_id, token = dep.issue_key("founder", founder_id)
    assert dep.client(key).get("/v1/me", headers=waiting(token)).status_code == 200
    page = new_page()
    page.goto("/")
    page.click("#lang-en")
    page.fill("#api-key", key)
    page.click("#signin")
    page.wait_for_selector(f"#who:has-text('{founder_id}')")
    _, token = accepted(dep.client(dep.admin_key).delete(f"/v1/keys/{key_id}"))
    # a read waits at most READ_WAIT_SECONDS for the revocation; on a busy machine ask again until it is applied
    deadline = time.monotonic() + 30
    while dep.client(key).get("/v1/me", headers=waiting(token)).status_code != 401:
        assert time.monotonic() < deadline, "the revocation was never applied"
        time.sleep(0.2)
    page.wait_for_selector("#signin-error:has-text('no longer valid')", timeout=15_000)  # the alerts poll found out
    assert page.locator("#who").inner_text() == "" and page.evaluate("sessionStorage.getItem('apiKey')") is None
    polled = []
    page.on("request", lambda request: polled.append(request.url) if "/v1/" in request.url else None)
    page.wait_for_timeout(5_000)  # longer than the alerts poll's 4 s
    assert polled == []


def test_organizer_builds_a_roster_invites_and_sees_the_backfill_of_a_decline(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 4, 3, "路演视觉项目", "路演天使")
    organizer_id = uid("org")
    page = new_page()
    key = sign_in(page, dep, "organizer", organizer_id)
    organizer = dep.client(key)
    organizer.get("/v1/roadshows", headers=waiting(token))  # the replica has every profile before solving

    fill_form(page.locator("#roadshow-form"), {
        "title": "宁波智能制造路演 Web", "theme": "工业视觉 机器人 智能工厂 industrial AI", "city": "宁波",
        "date": "2026-12-10", "sectors": ["smart_manufacturing"], "n_projects": "2", "m_investors": "2", "slots": "2",
        "tables": "2", "fit_threshold": "0.2"})
    page.click("#roadshow-create")
    page.locator("#roadshow .act-propose").click()
    page.locator("#picks tr[data-kind=project]").first.wait_for()
    assert page.locator("#heatmap rect.cell").count() == 4  # 2 investors x 2 projects
    assert "%" in page.locator("#gap").inner_text()

    excluded = page.locator("#picks tr[data-kind=project]").first.get_attribute("data-id")
    page.locator(f"#picks tr[data-id='{excluded}'] .act-exclude").click()
    page.locator(".act-resolve").click()
    page.locator(f"#picks tr[data-id='{excluded}']").wait_for(state="detached")  # re-solved without it
    assert page.locator("#adjusted .tag.bad", has_text="Excluded").count() == 1
    shot(page, "organizer_roster")
    page.locator("#adjusted .tag.bad .act-release").click()  # allowed again: neither excluded nor pinned
    page.locator("#adjusted .tag.bad").wait_for(state="detached")
    assert page.locator("#adjusted .tag.ok").count() == 0

    page.locator(".act-invite").click()
    page.locator("#invitations tr.invitation").first.wait_for()
    rid = organizer.get("/v1/roadshows").json()["data"][0]["id"]
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    declining = rs["roster"]["project_ids"][0]
    _, token = accepted(founders[declining].post(f"/v1/roadshows/{rid}/invitations/{declining}/decline"))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.locator(".act-refresh").click()
    backfill = page.locator("#invitations tr.backfill")
    backfill.wait_for()
    assert "Backfill for" in backfill.inner_text()
    assert page.locator(f"#invitations tr[data-invitee='{declining}'] [data-status=declined]").count() == 1
    shot(page, "organizer_backfill")

    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    for inv in rs["invitations"]:
        if inv["status"] == "pending":
            client = founders[inv["invitee_id"]] if inv["kind"] == "project" else investors[inv["invitee_id"]]
            _, token = accepted(client.post(
                f"/v1/roadshows/{rid}/invitations/{inv['invitee_id']}/accept", headers=waiting(token)))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.locator(".act-schedule").click()
    page.locator("#schedule table.grid").wait_for()
    meetings = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]["schedule"]
    assert meetings and page.locator("#schedule td.meeting").count() == len(meetings)  # every meeting in the grid
    with page.expect_download() as download:
        page.locator(".act-csv").click()
    assert "slot" in Path(download.value.path()).read_text(encoding="utf-8").splitlines()[0].lower()
    shot(page, "organizer_schedule")


def test_organizer_finds_a_project_outside_the_theme_pins_it_and_the_re_solved_roster_seats_it(deployment, new_page):
    dep = deployment
    founders, _, token = seed_market(dep, dep.as_role("registrar"), 3, 2, "固定搜索项目", "固定搜索天使")
    outsider, token = submit(dep.as_role("founder", uid("f")), after=token, name="宠物鲜食 PetNutri",
                             summary="为城市养宠家庭定制的鲜食订阅 fresh pet food subscriptions", sectors=["consumer"],
                             city="杭州")
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={
        "title": "固定路演 Pin", "theme": "工业视觉 机器人 智能工厂 industrial AI", "sectors": ["smart_manufacturing"],
        "city": "宁波", "date": "2026-12-10", "n_projects": 2, "m_investors": 2, "slots": 2, "tables": 2,
        "min_fits": 1, "fit_threshold": 0.2}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/roster", headers=waiting(token)))
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert outsider not in rs["roster"]["project_ids"]  # outside the theme's sectors and city
    page.click("#lang-en")  # redraws the page: the list now has the roadshow
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    page.locator("#picks tr[data-kind=project]").first.wait_for()

    finder = page.locator("#pin-finder")
    finder.locator("[name=q]").fill("zzqxv")  # about nothing in the library
    finder.locator(".act-pin-search").click()
    finder.locator("#pin-found .empty:has-text('Nothing in the library is about that query')").wait_for()
    finder.locator("[name=q]").fill("***")  # the API's refusal, in its words
    finder.locator(".act-pin-search").click()
    finder.locator("#pin-found .field-error:has-text('must contain a letter or digit')").wait_for()

    finder.locator("[name=q]").fill("PetNutri")
    finder.locator("[name=side]").select_option("projects")
    finder.locator(".act-pin-search").click()
    found = finder.locator(f".pin-candidate[data-id='{outsider}']")
    found.wait_for()
    assert found.locator(".name").inner_text() == "宠物鲜食 PetNutri"
    assert found.locator("li[data-code=query_terms]").inner_text().startswith("Query terms found")
    assert finder.locator(".pin-candidate").count() == 1  # only what is about the query
    page.click("#lang-zh")  # the query and its results outlast a language switch, their reasons re-worded
    page.locator(f"#pin-finder .pin-candidate[data-id='{outsider}'] li[data-code=query_terms]:has-text('包含搜索词')"
                 ).wait_for()
    assert page.locator("#pin-finder [name=q]").input_value() == "PetNutri"
    page.click("#lang-en")

    found.locator(".act-pin").click()  # pending until Re-solve; the detail is redrawn with the results kept
    found.locator(".tag.ok:has-text('Pinned')").wait_for()
    assert "+1" in page.locator("#roster").inner_text()
    page.locator(".act-resolve").click()
    page.locator(f"#picks tr[data-id='{outsider}']").wait_for()  # re-solved with it seated
    assert "宠物鲜食 PetNutri" in page.locator("#adjusted .tag.ok").inner_text()
    assert found.locator(".tag.ok").count() == 1 and found.locator(".act-pin").count() == 0
    shot(page, "organizer_pin_found")
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert rs["pinned"] == [outsider] and outsider in rs["roster"]["project_ids"]
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/roster"))  # proposed again, the pin keeps its seat
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert outsider in rs["roster"]["project_ids"] and set(rs["roster"]["project_ids"]) - {outsider} <= set(founders)


def test_a_re_solve_the_api_refuses_keeps_the_pending_pins_beside_its_words_until_the_organizer_drops_one(
        deployment, new_page):  # and a roadshow created next opens with none of the other one's pending changes
    dep = deployment
    _, _, token = seed_market(dep, dep.as_role("registrar"), 3, 2, "拒绝重解项目", "拒绝重解天使")
    outsider_founder = dep.as_role("founder", uid("f"))
    outsider, token = submit(outsider_founder, after=token, name="宠物鲜食 PetNutri", sectors=["consumer"],
                             summary="为城市养宠家庭定制的鲜食订阅 fresh pet food subscriptions", city="杭州")
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    page.locator("#roadshows .empty:has-text('No roadshows yet')").wait_for()  # not "No roster yet"
    rid, token = proposed_roadshow(organizer, token, "重解被拒 Refused")
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.click("#lang-en")  # redraws the page: the list now has the roadshow
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    page.locator("#picks tr[data-kind=project]").first.wait_for()

    excluded = page.locator("#picks tr[data-kind=project]").first.get_attribute("data-id")
    page.locator(f"#picks tr[data-id='{excluded}'] .act-exclude").click()
    pending = page.locator("#pending-changes")
    # The exclusion redraws the whole detail once its load is answered, the pin finder with it: typed into or
    # clicked before then, the query or the click can land on a finder the redraw then replaces (the query lost,
    # the search sent with none). So the redraw first.
    pending.locator(f".pending-change[data-id='{excluded}']").wait_for()
    finder = page.locator("#pin-finder")
    finder.locator("[name=q]").fill("PetNutri")
    finder.locator(".act-pin-search").click()
    finder.locator(f".pin-candidate[data-id='{outsider}'] .act-pin").click()
    pending.locator(f".pending-change[data-id='{outsider}']:has-text('宠物鲜食 PetNutri')").wait_for()
    _, token = accepted(outsider_founder.post(f"/v1/projects/{outsider}/withdraw"))  # meanwhile: no longer open
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))

    page.locator(".act-resolve").click()  # 422: the pin is neither an open project nor a verified investor
    page.locator(f"#toast.bad:has-text(\"'{outsider}' is neither\")").wait_for()
    page.click("#lang-zh")  # a redraw: both changes are kept for another try, the API's words beside them
    page.locator("#pending-changes:has-text('待应用的调整: +1 / −1')").wait_for()
    assert pending.locator(".pending-change").count() == 2
    assert f"'{outsider}' is neither" in page.locator("#resolve-error").inner_text()
    page.click("#lang-en")
    page.locator("#pending-changes:has-text('Pending changes: +1 / −1')").wait_for()
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert rs["pinned"] == [] and rs["excluded"] == []
    shot(page, "organizer_resolve_refused")
    pending.locator(f".pending-change[data-id='{outsider}'] .act-drop").click()  # the fix: drop the withdrawn pin
    page.locator("#pending-changes:has-text('+0 / −1')").wait_for()
    assert page.locator("#resolve-error").inner_text() == ""
    page.locator(".act-resolve").click()
    page.locator(f"#picks tr[data-id='{excluded}']").wait_for(state="detached")  # re-solved without it
    assert pending.count() == 0
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert rs["pinned"] == [] and rs["excluded"] == [excluded]

    kept = page.locator("#picks tr[data-kind=project]").first.get_attribute("data-id")
    page.locator(f"#picks tr[data-id='{kept}'] .act-exclude").click()
    pending.locator(f".pending-change[data-id='{kept}']").wait_for()
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/invitations"))  # from another tab: the roster is final
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.locator(".act-resolve").click()  # 409
    page.locator("#resolve-error:has-text('invitations were sent')").wait_for()
    assert pending.locator(f".pending-change[data-id='{kept}']").count() == 1

    fill_form(page.locator("#roadshow-form"), {  # a new roadshow opens without that one's pending exclusion
        "title": "下一场路演 Next", "theme": "工业视觉 industrial vision", "city": "宁波", "date": "2026-12-11"})
    page.click("#roadshow-create")
    page.locator("#roadshow h2:has-text('下一场路演 Next')").wait_for()
    assert page.locator("#roadshow-detail .empty:has-text('No roster yet')").count() == 1
    assert pending.count() == 0


def in_feed(client: Any, investor_id: str, project_id: str, timeout: float = 15.0) -> None:
    """Waits until the project is in the investor's feed (its vector comes from the embedder stream)."""
    deadline = time.monotonic() + timeout
    while project_id not in {m["entity_id"] for m in client.get(f"/v1/investors/{investor_id}/feed",
                                                                   params={"k": 100}).json()["data"]}:
        assert time.monotonic() < deadline, f"{project_id} never reached {investor_id}'s feed"
        time.sleep(0.2)


def proposed_roadshow(organizer: Any, token: str, title: str, **fields: Any) -> tuple[str, str]:
    """A 2 x 2 smart-manufacturing roadshow in 宁波 with its roster proposed: (id, token). `fields` override the
    roadshow's (say, an empty city)."""
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={
        "title": title, "theme": "工业视觉 机器人 智能工厂 industrial AI", "sectors": ["smart_manufacturing"],
        "city": "宁波", "date": "2026-12-10", "n_projects": 2, "m_investors": 2, "slots": 2, "tables": 2,
        "min_fits": 1, "fit_threshold": 0.2, **fields}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/roster", headers=waiting(token)))
    return rid, token


def invited_roadshow(organizer: Any, token: str, title: str, pin: list[str], **fields: Any) -> tuple[str, str]:
    """A `proposed_roadshow` whose roster is the pinned projects and investors, invitations sent: (id, token)."""
    rid, token = proposed_roadshow(organizer, token, title, **fields)
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/adjust", headers=waiting(token), json={"pin": pin}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/invitations", headers=waiting(token)))
    return rid, token


def scheduled_roadshow(dep: Any, project_name: str, investor_name: str, title: str
                       ) -> tuple[Any, str, dict[str, Any], dict[str, Any], str]:
    """Two projects and two investors, invited to a 2 x 2 roadshow (`invited_roadshow`), all accepted, the schedule
    built: (organizer, roadshow id, founder client by project, investor client by id, token)."""
    founders, investors, token = seed_market(dep, dep.as_role("registrar"), 2, 2, project_name, investor_name)
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = invited_roadshow(organizer, token, title, [*founders, *investors])
    for inv in organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]["invitations"]:
        client = founders[inv["invitee_id"]] if inv["kind"] == "project" else investors[inv["invitee_id"]]
        _, token = accepted(client.post(f"/v1/roadshows/{rid}/invitations/{inv['invitee_id']}/accept",
                                        headers=waiting(token)))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/schedule", headers=waiting(token)))
    return organizer, rid, founders, investors, token


def test_a_new_investor_registers_on_the_page_fixes_the_field_the_api_refused_and_awaits_verification(
        deployment, new_page):
    dep = deployment
    investor_id = uid("i")
    page = new_page()
    key = sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#feed .empty:has-text('not registered')")  # not the API's "investor '…' not found"
    assert "not found" not in page.locator("#feed").inner_text()

    form = page.locator("#profile-form")
    form.locator("[name=name]").fill("网页登记天使 Signup Angels")
    page.click("#lang-zh")  # what was typed survives a language switch
    page.wait_for_selector("#profile-card h2:has-text('登记投资人资料')")
    assert form.locator("[name=name]").input_value() == "网页登记天使 Signup Angels"
    page.click("#lang-en")
    page.wait_for_selector("#profile-card h2:has-text('Register your investor profile')")
    fill_form(form, {"kind": "angel_group", "organization": "登记基金 Signup Fund",
                     "thesis": "早期工业视觉与机器人 early-stage industrial vision and robotics",
                     "sectors": ["smart_manufacturing", "robotics"], "stages": ["seed", "angel"],
                     "ticket_min_cny": "9000000",  # invalid: above the maximum
                     "ticket_max_cny": "5000000", "cities": "宁波，杭州", "contact.email": "deals@signup.example"})
    assert "must be <= ticket_max_cny" in refused(page, "#profile-submit", "#profile-form", "ticket_min_cny")
    shot(page, "investor_register_error")

    form.locator("[name=ticket_min_cny]").fill("500000")
    page.click("#profile-submit")
    page.locator("#verification[data-status=pending]").wait_for()
    assert "awaits the registrar's verification" in page.locator("#profile-card").inner_text()
    page.wait_for_selector("#feed .empty:has-text('not verified yet')")
    me = dep.client(key).get(f"/v1/investors/{investor_id}").json()
    assert (me["name"], me["kind"], me["organization"], me["ticket_min_cny"], me["ticket_max_cny"]) == (
        "网页登记天使 Signup Angels", "angel_group", "登记基金 Signup Fund", 500_000, 5_000_000)
    assert set(me["sectors"]) == {"smart_manufacturing", "robotics"} and set(me["stages"]) == {"seed", "angel"}
    assert me["cities"] == ["宁波", "杭州"] and me["contact"]["email"] == "deals@signup.example"
    pending = dep.as_role("registrar").get("/v1/registrar/pending").json()["data"]
    assert investor_id in {i["id"] for i in pending}  # on the registrar's desk
    shot(page, "investor_registered")


def test_a_rejected_investor_edits_its_profile_on_the_page_and_is_back_in_review_with_the_rest_kept(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    client, investor_id, token = register(dep, None, name="改资料天使 Edit Angels", capacity_per_month=5)
    _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/reject", headers=waiting(token),
                                       json={"reason": "缺少投资案例 no track record"}))
    before = client.get(f"/v1/investors/{investor_id}", headers=waiting(token)).json()
    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#feed .empty:has-text('no track record')")
    page.locator("#verification[data-status=rejected]").wait_for()

    page.locator(".act-edit-profile").click()
    form = page.locator("#profile-form")
    assert form.locator("[name=name]").input_value() == "改资料天使 Edit Angels"  # the current profile, to edit
    assert form.locator("[name=cities]").input_value() == "杭州, 宁波"
    form.locator("[name=thesis]").fill("")  # invalid on an edit too
    assert refused(page, "#profile-submit", "#profile-form", "thesis")
    form.locator("[name=thesis]").fill("已投三家工业视觉公司 three industrial vision deals")
    page.click("#profile-submit")
    page.locator("#verification[data-status=pending]").wait_for()
    assert "awaits the registrar's verification" in page.locator("#profile-card").inner_text()

    after = client.get(f"/v1/investors/{investor_id}").json()
    assert after["version"] == before["version"] + 1  # the edit was based on the version read
    assert after["thesis"] == "已投三家工业视觉公司 three industrial vision deals"
    assert (after["capacity_per_month"], after["portfolio"]) == (5, before["portfolio"])  # fields not on the form
    assert after["contact"] == before["contact"]
    row = next(i for i in registrar.get("/v1/registrar/pending").json()["data"] if i["id"] == investor_id)
    assert row["rejection_reason"] == "缺少投资案例 no track record"  # the registrar sees what it said then
    shot(page, "investor_profile_edited")


def test_an_investors_meeting_request_reaches_the_founder_as_an_intro_and_asking_twice_is_explained(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    project_id, token = submit(founder, name="约见测试项目 MeetMe", sectors=["smart_manufacturing", "ai"], stage="seed")
    investor, investor_id, token = register(dep, registrar, name="约见天使 Meeting Angels")
    investor.get("/v1/intros", headers=waiting(token))
    in_feed(investor, investor_id, project_id)

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    item = page.locator(f".feed-item[data-project-id='{project_id}']")
    item.locator(".act-meet").click()
    item.locator(".intro-message").fill("想约您聊聊质检方案 let's talk about your QC line")
    item.locator(".act-send-intro").click()
    page.wait_for_selector("#toast:has-text('Introduction request sent to the founder')")
    item.locator(".requested-mark").wait_for()
    assert item.locator(".act-meet").count() == 0
    page.locator("#intros .intro [data-status=requested]").wait_for()
    intros = founder.get("/v1/intros").json()["data"]  # the page's own reads waited for the write
    assert [(i["project_id"], i["investor_id"], i["requested_by"], i["status"]) for i in intros] == [
        (project_id, investor_id, "investor", "requested")]
    assert intros[0]["message"] == "想约您聊聊质检方案 let's talk about your QC line"
    shot(page, "investor_meeting_requested")

    again = new_page()  # another tab, which does not know about the request
    sign_in(again, dep, "investor", investor_id)
    item = again.locator(f".feed-item[data-project-id='{project_id}']")
    item.locator(".act-meet").click()
    item.locator(".act-send-intro").click()
    again.wait_for_selector("#toast.bad:has-text('already asked')")
    assert "requested" in again.locator("#toast").inner_text()
    item.locator(".requested-mark").wait_for()
    assert len(founder.get("/v1/intros").json()["data"]) == 1

    desk = new_page()  # the founder has it among the intros waiting for an answer, and accepts
    sign_in(desk, dep, "founder", founder_id)
    intro = desk.locator(f"#intros .intro[data-intro-id='{intros[0]['id']}']")
    intro.locator(".act-accept").wait_for()
    assert "约见天使 Meeting Angels" in intro.inner_text() and "QC line" in intro.inner_text()
    intro.locator(".act-accept").click()
    desk.locator(f"#intros .intro[data-intro-id='{intros[0]['id']}'] [data-status=accepted]").wait_for()


def test_invitees_see_their_own_meetings_with_times_tables_and_names_and_download_their_calendar(
        deployment, new_page):
    dep = deployment
    organizer, rid, founders, investors, token = scheduled_roadshow(dep, "会面日程项目", "会面日程天使",
                                                                    "会面日程路演 Meetings")
    view = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()
    schedule, names = view["roadshow"]["schedule"], view["names"]
    investor_id = schedule[0]["investor_id"]
    theirs = sorted((m for m in schedule if m["investor_id"] == investor_id), key=lambda m: (m["slot"], m["table"]))

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    invitation = page.locator(f"#invitations .invitation[data-roadshow-id='{rid}']")
    rows = invitation.locator("tr.my-meeting")
    rows.first.wait_for()
    assert rows.count() == len(theirs)
    for row, m in zip(rows.all(), theirs, strict=True):  # 14:00 start, 20-minute slots (the defaults)
        start = 14 * 60 + 20 * (m["slot"] - 1)
        text = row.inner_text()
        assert f"{start // 60:02d}:{start % 60:02d}" in text and f"Table {m['table']}" in text
        assert names[m["project_id"]] in text
    with page.expect_download() as download:
        invitation.locator(".act-ics").click()
    assert download.value.suggested_filename == f"{rid}-{investor_id}.ics"
    ics = Path(download.value.path()).read_text(encoding="utf-8")
    assert ics.startswith("BEGIN:VCALENDAR") and ics.count("BEGIN:VEVENT") == len(theirs)
    assert "Match score" not in ics  # the invitee's copy
    shot(page, "investor_meetings")

    project_id = theirs[0]["project_id"]  # the founder of a project sees its meetings, naming the investors
    founder_id = founders[project_id].get("/v1/me").json()["entity_id"]
    desk = new_page()
    sign_in(desk, dep, "founder", founder_id)
    invitation = desk.locator(f"#invitations .invitation[data-roadshow-id='{rid}'][data-invitee='{project_id}']")
    rows = invitation.locator("tr.my-meeting")
    rows.first.wait_for()
    ours = [m for m in schedule if m["project_id"] == project_id]
    assert rows.count() == len(ours)
    assert names[investor_id] in invitation.inner_text()
    with desk.expect_download() as download:
        invitation.locator(".act-ics").click()
    assert Path(download.value.path()).read_text(encoding="utf-8").count("BEGIN:VEVENT") == len(ours)


def test_a_meeting_of_an_old_roadshow_that_runs_past_midnight_shows_the_next_days_date_before_its_time(
        deployment, new_page):
    """The API now refuses meetings past midnight, but the log keeps roadshows it accepted before: here a move to
    23:50 on New Year's Eve, published as an older version would have, so slot 2 starts on 1 January 2027."""
    dep = deployment
    organizer, rid, _, investors, token = scheduled_roadshow(dep, "跨夜会面项目", "跨夜会面天使", "跨夜路演 Late")
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    c = dep.container
    stored = c.view.roadshows[rid].value
    late = Roadshow.model_validate({**stored.model_dump(), "date": "2026-12-31", "start_time": "23:50"},
                                   context={"from_log": True})
    token = c.commands.publish("RoadshowMoved", rid, late, f"organizer:{stored.organizer_id}", c.view.roadshows
                               ).delivery.token
    investor_id = next(m.investor_id for m in stored.schedule if m.slot == 2)
    # read as the invitee, whose page shows the meeting times
    mine = investors[investor_id].get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert (mine["date"], mine["start_time"]) == ("2026-12-31", "23:50:00")
    slots = sorted(m["slot"] for m in mine["schedule"] if m["investor_id"] == investor_id)

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    invitation = page.locator(f"#invitations .invitation[data-roadshow-id='{rid}']")
    assert "2026-12-31 23:50" in invitation.locator(".meta").first.inner_text()
    times = invitation.locator("tr.my-meeting td:first-child")
    times.first.wait_for()
    expected = {1: "23:50–00:10", 2: "1/1/2027 00:10–00:30"}  # slot 1 starts on the roadshow's day, slot 2 does not
    assert times.all_inner_texts() == [expected[s] for s in slots]
    page.click("#lang-zh")  # the date in the page's other locale
    slot_2 = f"#invitations .invitation[data-roadshow-id='{rid}'] tr.my-meeting[data-slot='2']"
    page.locator(f"{slot_2} td:has-text('2027/1/1 00:10–00:30')").wait_for()
    shot(page, "investor_meetings_past_midnight")


def test_organizer_expires_unanswered_invitations_after_the_api_refuses_to_expire_fresh_ones(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 3, 3, "过期邀请项目", "过期邀请天使")
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    rid, token = invited_roadshow(organizer, token, "过期邀请路演 Expiry", [*list(founders)[:2], *list(investors)[:2]])
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.click("#lang-en")  # redraws the page: the list now has the roadshow
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()

    form = page.locator("#expire-form")
    form.locator("[name=older_than_hours]").fill("48")
    form.locator(".act-expire").click()
    page.wait_for_selector("#expire-error:has-text('no pending invitation is old enough to expire')")
    assert page.locator("#invitations [data-status=pending]").count() == 4  # nothing changed
    shot(page, "organizer_expire_refused")

    form.locator("[name=older_than_hours]").fill("0")
    form.locator(".act-expire").click()
    page.locator("#invitations [data-status=expired]").nth(3).wait_for()
    assert page.locator("#invitations [data-status=expired]").count() == 4
    assert page.locator("#expire-error:not(:empty)").count() == 0
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert sum(i["status"] == "expired" for i in rs["invitations"]) == 4
    backfills = [i for i in rs["invitations"] if i["replaces"]]
    assert page.locator("#invitations tr.backfill").count() == len(backfills)
    shot(page, "organizer_expired")


def organizer_on_an_invited_roadshow(dep, new_page, project_name: str, investor_name: str, title: str):
    """An organizer signed in on the English page, whose roadshow (`invited_roadshow`: 2 projects and 2 investors,
    all pinned) has sent its invitations and is listed: (page, organizer client, roadshow id, the investors' clients
    by id, offset token)."""
    founders, investors, token = seed_market(dep, dep.as_role("registrar"), 2, 2, project_name, investor_name)
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    rid, token = invited_roadshow(organizer, token, title, [*founders, *investors])
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.click("#lang-en")  # redraws the page: the list now has the roadshow
    return page, organizer, rid, investors, token


def test_the_organizers_rsvp_poll_stops_at_sign_out_even_after_two_refreshes_overlapped(deployment, new_page):
    dep = deployment
    page, organizer, rid, investors, token = organizer_on_an_invited_roadshow(
        dep, new_page, "轮询停止项目", "轮询停止天使", "轮询路演 Poll")
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    page.locator("#invitations tr.invitation").first.wait_for()  # inviting: the page polls for answers

    answered = []
    page.on("response", lambda r: answered.append(r.url) if f"/v1/roadshows/{rid}" in r.url else None)
    page.locator(".act-refresh").dblclick()  # two loads out at once, each ending in a poller
    deadline = time.monotonic() + 10
    while len(answered) < 2:
        assert time.monotonic() < deadline, "the two refreshes were never answered"
        page.wait_for_timeout(50)
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/v1/" in r.url else None)
    page.click("#signout")
    page.wait_for_selector("#signin-form")
    page.wait_for_timeout(6_000)  # longer than the 5 s poll
    assert asked == []


def test_founder_withdraws_one_project_marks_another_funded_and_only_the_open_one_stays_editable(
        deployment, new_page):
    dep = deployment
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    ids, token = [], None
    for n in range(3):
        pid, token = submit(founder, after=token, name=f"状态项目 Status {n}")
        ids.append(pid)
    founder.get("/v1/projects", headers=waiting(token))
    withdrawn, funded, still_open = ids
    page = new_page()
    sign_in(page, dep, "founder", founder_id)

    def project(pid: str) -> Any:
        return page.locator(f".project[data-project-id='{pid}']")

    project(withdrawn).locator(".act-withdraw").click()
    assert "until you reopen it" in project(withdrawn).locator(".confirm-question").inner_text()
    project(withdrawn).locator(".act-cancel-status").click()  # changed its mind: nothing happens
    assert project(withdrawn).get_attribute("data-status") == "open"
    project(withdrawn).locator(".act-withdraw").click()
    project(withdrawn).locator(".act-confirm-status").click()
    page.locator(f".project[data-project-id='{withdrawn}'][data-status=withdrawn]").wait_for()

    project(funded).locator(".act-edit").click()  # being edited when it is marked funded: the form lets go of it
    page.wait_for_selector("#project-card h2:has-text('Edit project')")
    project(funded).locator(".act-funded").click()
    assert "cannot be undone" in project(funded).locator(".confirm-question").inner_text()
    project(funded).locator(".act-confirm-status").click()
    page.locator(f".project[data-project-id='{funded}'][data-status=funded]").wait_for()
    page.wait_for_selector("#project-card h2:has-text('Submit a project')")

    for pid, status in ((withdrawn, "withdrawn"), (funded, "funded")):
        assert status in project(pid).locator(".head").inner_text()
        assert project(pid).locator(".act-edit, .act-withdraw, .act-funded").count() == 0
    assert project(still_open).locator(".act-edit, .act-withdraw, .act-funded").count() == 3
    statuses = {p["id"]: p["status"] for p in founder.get("/v1/projects").json()["data"]}
    assert statuses == {withdrawn: "withdrawn", funded: "funded", still_open: "open"}
    shot(page, "founder_project_statuses")


def test_each_side_withdraws_its_own_unanswered_intro_request_and_the_investor_may_ask_again(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    project_id, token = submit(founder, name="撤回引荐项目 TakeBack", sectors=["smart_manufacturing", "ai"],
                               stage="seed")
    _, asked_id, token = register(dep, registrar, name="被约天使 Asked Angels")  # the founder asks this one
    asking, asking_id, token = register(dep, registrar, name="主动天使 Asking Angels")  # this one asks the founder
    founders_ask, token = accepted(founder.post("/v1/intros", headers=waiting(token), json={
        "project_id": project_id, "investor_id": asked_id, "message": "想约您聊聊 let's talk"}))
    asking.get("/v1/intros", headers=waiting(token))
    in_feed(asking, asking_id, project_id)

    page = new_page()  # the investor asks from its feed, then takes the request back
    sign_in(page, dep, "investor", asking_id)
    item = page.locator(f".feed-item[data-project-id='{project_id}']")
    item.locator(".act-meet").click()
    item.locator(".act-send-intro").click()
    item.locator(".requested-mark").wait_for()
    page.locator("#intros .intro [data-status=requested]").wait_for()
    page.locator("#intros .intro .act-withdraw-intro").click()
    page.locator("#intros .intro [data-status=withdrawn]").wait_for()
    assert page.locator("#intros .act-withdraw-intro").count() == 0
    item.locator(".act-meet").wait_for()  # the feed offers the meeting request again
    assert item.locator(".requested-mark").count() == 0
    intros = asking.get("/v1/intros").json()["data"]
    assert [(i["requested_by"], i["status"]) for i in intros] == [("investor", "withdrawn")]
    shot(page, "investor_intro_withdrawn")

    item.locator(".act-meet").click()  # and asks again, which the API allows after a withdrawal
    item.locator(".act-send-intro").click()
    page.wait_for_selector("#toast:has-text('Introduction request sent to the founder')")
    page.locator("#intros .intro [data-status=requested]").wait_for()
    again = next(i["id"] for i in asking.get("/v1/intros").json()["data"] if i["status"] == "requested")

    desk = new_page()  # the founder may take back only its own request; the investor's waits for its answer
    sign_in(desk, dep, "founder", founder_id)
    ours = desk.locator(f"#intros .intro[data-intro-id='{founders_ask}']")
    theirs = desk.locator(f"#intros .intro[data-intro-id='{again}']")
    theirs.locator(".act-accept").wait_for()
    assert theirs.locator(".act-withdraw-intro").count() == 0
    assert ours.locator(".act-accept, .act-decline").count() == 0
    ours.locator(".act-withdraw-intro").click()
    desk.locator(f"#intros .intro[data-intro-id='{founders_ask}'] [data-status=withdrawn]").wait_for()
    assert ours.locator(".act-withdraw-intro").count() == 0
    statuses = {i["id"]: i["status"] for i in founder.get("/v1/intros").json()["data"]}
    assert statuses[founders_ask] == "withdrawn" and statuses[again] == "requested"
    shot(desk, "founder_intro_withdrawn")


def test_founder_reopens_a_withdrawn_project_which_is_editable_again_while_a_funded_one_stays_closed(
        deployment, new_page):
    dep = deployment
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    withdrawn, token = submit(founder, name="重开项目 Reopen")
    funded, token = submit(founder, after=token, name="已融资项目 Funded")
    _, token = accepted(founder.post(f"/v1/projects/{withdrawn}/withdraw", headers=waiting(token)))
    _, token = accepted(founder.post(f"/v1/projects/{funded}/funded", headers=waiting(token)))
    founder.get("/v1/projects", headers=waiting(token))
    page = new_page()
    sign_in(page, dep, "founder", founder_id)

    def project(pid: str) -> Any:
        return page.locator(f".project[data-project-id='{pid}']")

    project(withdrawn).locator(".act-reopen").wait_for()
    assert project(funded).locator(".act-reopen, .act-edit, .act-withdraw, .act-funded").count() == 0  # final
    project(withdrawn).locator(".act-reopen").click()
    page.locator(f".project[data-project-id='{withdrawn}'][data-status=open]").wait_for()
    assert project(withdrawn).locator(".act-edit, .act-withdraw, .act-funded").count() == 3
    assert project(withdrawn).locator(".act-reopen").count() == 0

    project(withdrawn).locator(".act-withdraw").click()  # withdrawing again is no longer said to be final
    question = project(withdrawn).locator(".confirm-question").inner_text()
    assert "until you reopen it" in question and "cannot be undone" not in question
    project(withdrawn).locator(".act-cancel-status").click()

    project(withdrawn).locator(".act-edit").click()  # editable again, at its new version
    page.wait_for_selector("#project-card h2:has-text('Edit project')")
    page.locator("#project-form [name=name]").fill("重开项目 Reopened")
    page.click("#project-submit")
    page.locator(f".project[data-project-id='{withdrawn}'] .name:has-text('Reopened')").wait_for()
    statuses = {p["id"]: (p["status"], p["name"]) for p in founder.get("/v1/projects").json()["data"]}
    assert statuses == {withdrawn: ("open", "重开项目 Reopened"), funded: ("funded", "已融资项目 Funded")}
    shot(page, "founder_project_reopened")


def test_an_invitee_declines_a_pending_invitation_only_after_confirming(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 2, 3, "谢绝邀请项目", "谢绝邀请天使")
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = invited_roadshow(organizer, token, "谢绝邀请 Decline", [*founders, *list(investors)[:2]])
    investor_id = list(investors)[0]

    def status() -> str:
        rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
        return next(i for i in rs["invitations"] if i["invitee_id"] == investor_id)["status"]

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    invitation = page.locator(f"#invitations .invitation[data-roadshow-id='{rid}']")
    invitation.locator(".act-decline").click()
    assert "cannot be undone" in invitation.locator(".confirm-question").inner_text()
    invitation.locator(".act-cancel-decline-invitation").click()  # changed its mind: nothing happens
    invitation.locator(".act-accept").wait_for()
    assert status() == "pending"

    invitation.locator(".act-decline").click()
    invitation.locator(".act-confirm-decline-invitation").click()
    invitation.locator(".head [data-status=declined]").wait_for()
    assert invitation.locator(".act-accept, .act-decline").count() == 0
    assert status() == "declined"


def test_an_invitee_cancels_its_accepted_attendance_after_confirming_and_its_meetings_leave_the_schedule(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 2, 3, "退出路演项目", "退出路演天使")
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = invited_roadshow(organizer, token, "退出路演 Leave", [*founders, *list(investors)[:2]])
    for inv in organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]["invitations"]:
        client = founders[inv["invitee_id"]] if inv["kind"] == "project" else investors[inv["invitee_id"]]
        _, token = accepted(client.post(f"/v1/roadshows/{rid}/invitations/{inv['invitee_id']}/accept",
                                        headers=waiting(token)))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/schedule", headers=waiting(token)))
    schedule = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]["schedule"]
    investor_id = schedule[0]["investor_id"]

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    invitation = page.locator(f"#invitations .invitation[data-roadshow-id='{rid}']")
    invitation.locator("tr.my-meeting").first.wait_for()
    invitation.locator(".act-leave").click()
    assert "meetings leave the schedule" in invitation.locator(".confirm-question").inner_text()
    invitation.locator(".act-cancel-leave").click()  # changed its mind: nothing happens
    invitation.locator(".act-leave").wait_for()
    mine = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert next(i for i in mine["invitations"] if i["invitee_id"] == investor_id)["status"] == "accepted"

    invitation.locator(".act-leave").click()
    invitation.locator(".act-confirm-leave").click()
    page.locator(f"#invitations .invitation[data-roadshow-id='{rid}'] [data-status=declined]").wait_for()
    assert invitation.locator("tr.my-meeting, .act-leave, .act-accept").count() == 0
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert next(i for i in rs["invitations"] if i["invitee_id"] == investor_id)["status"] == "declined"
    assert investor_id not in {m["investor_id"] for m in rs["schedule"]}  # its meetings left the schedule
    assert any(i["replaces"] == investor_id for i in rs["invitations"])  # and its seat was backfilled
    shot(page, "investor_attendance_cancelled")
    # the founder it was to meet: its calendar file cancels that meeting, so an imported calendar drops it
    project_id = schedule[0]["project_id"]
    ics = founders[project_id].get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": project_id})
    entry = ics.text.replace("\r\n ", "").split(f"-{project_id}-{investor_id}@matchmaker")[1].split("END:VEVENT")[0]
    assert "STATUS:CANCELLED" in entry


def test_organizer_calls_off_a_roadshow_after_confirming_and_no_one_is_offered_an_action_on_it(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 2, 2, "取消路演项目", "取消路演天使")
    organizer_id = uid("org")
    organizer = dep.as_role("organizer", organizer_id)
    rid, token = invited_roadshow(organizer, token, "取消路演 CallOff", [*founders, *investors])
    attending, unanswered = list(investors)
    _, token = accepted(investors[attending].post(f"/v1/roadshows/{rid}/invitations/{attending}/accept",
                                                  headers=waiting(token)))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))

    page = new_page()
    sign_in(page, dep, "organizer", organizer_id)
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    page.locator("#expire-form").wait_for()
    page.locator("#roadshow .act-calloff").click()
    assert "nothing can change it" in page.locator("#roadshow .confirm-question").inner_text()
    page.locator("#roadshow .act-cancel-calloff").click()  # changed its mind: nothing happens
    page.locator("#roadshow .act-calloff").wait_for()
    assert organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]["status"] == "inviting"

    page.locator("#roadshow .act-calloff").click()
    page.locator("#roadshow .act-confirm-calloff").click()
    page.locator("#roadshow h2 .tag[data-status=cancelled]").wait_for()
    writes = ".act-propose, .act-invite, .act-schedule, .act-edit-logistics, .act-calloff, .act-pin, .act-exclude, " \
             ".act-resolve, .act-expire, #expire-form, #pin-search"
    assert page.locator("#roadshow-detail").locator(writes).count() == 0
    assert "cancelled" in page.locator(f"#roadshows [data-roadshow-id='{rid}'] .rs-status").inner_text()
    assert organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]["status"] == "cancelled"
    shot(page, "organizer_called_off")

    answers = ".act-accept, .act-decline, .act-leave"
    for investor_id in (attending, unanswered):  # the invitees see it called off, with nothing to answer
        desk = new_page()
        sign_in(desk, dep, "investor", investor_id)
        invitation = desk.locator(f"#invitations .invitation[data-roadshow-id='{rid}']")
        invitation.locator(".head .tag[data-status=cancelled]").wait_for()
        assert invitation.locator(answers).count() == 0
    project_id = next(iter(founders))
    desk = new_page()
    sign_in(desk, dep, "founder", founders[project_id].get("/v1/me").json()["entity_id"])
    invitation = desk.locator(f"#invitations .invitation[data-roadshow-id='{rid}'][data-invitee='{project_id}']")
    invitation.locator(".head .tag[data-status=cancelled]").wait_for()
    assert invitation.locator(answers).count() == 0
    shot(desk, "founder_invitation_called_off")


def test_a_called_off_roadshows_meetings_stay_on_the_founders_page_struck_through_and_marked_cancelled(
        deployment, new_page):
    dep = deployment
    organizer, rid, founders, _, token = scheduled_roadshow(dep, "取消会面项目", "取消会面天使", "取消会面路演 Off")
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/cancel", headers=waiting(token)))
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert rs["status"] == "cancelled" and rs["schedule"]  # called off after scheduling: the meetings are kept
    project_id = rs["schedule"][0]["project_id"]
    ours = [m for m in rs["schedule"] if m["project_id"] == project_id]

    page = new_page()
    sign_in(page, dep, "founder", founders[project_id].get("/v1/me").json()["entity_id"])
    page.click("#lang-zh")
    invitation = page.locator(f"#invitations .invitation[data-roadshow-id='{rid}'][data-invitee='{project_id}']")
    invitation.locator(".head .tag[data-status=cancelled]").wait_for()
    rows = invitation.locator("tr.my-meeting")
    assert rows.count() == len(ours)
    for row in rows.all():
        assert row.locator(".tag[data-status=cancelled]").inner_text() == "已取消"
        assert row.locator("td").first.evaluate("el => getComputedStyle(el).textDecorationLine") == "line-through"
    assert invitation.locator(".act-accept, .act-decline, .act-leave").count() == 0
    shot(page, "founder_meetings_called_off_zh")

    desk = new_page()  # the organizer's grid is kept for the record, struck through the same way
    sign_in(desk, dep, "organizer", organizer.get("/v1/me").json()["entity_id"])
    desk.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    desk.locator("#schedule h2 .tag[data-status=cancelled]").wait_for()
    cells = desk.locator("#schedule table.grid td.meeting")
    assert cells.count() == len(rs["schedule"])
    assert cells.first.evaluate("el => getComputedStyle(el).textDecorationLine") == "line-through"


def test_organizer_sets_start_and_slot_length_then_moves_the_roadshow_past_a_refusal_and_a_stale_version(
        deployment, new_page):
    dep = deployment
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    form = page.locator("#roadshow-form")
    fill_form(form, {"title": "改期路演 Move", "theme": "工业视觉 industrial vision", "city": "宁波",
                     "date": "2026-12-10", "start_time": "09:30", "slot_minutes": "3"})  # invalid: at least 5 minutes
    assert "must be >= 5" in refused(page, "#roadshow-create", "#roadshow-form", "slot_minutes")
    form.locator("[name=slot_minutes]").fill("30")
    page.click("#roadshow-create")
    page.wait_for_selector("#roadshow .meta:has-text('2026-12-10 09:30')")
    view = organizer.get("/v1/roadshows").json()["data"][0]
    rid = view["id"]
    assert (view["roadshow"]["start_time"], view["roadshow"]["slot_minutes"]) == ("09:30:00", 30)

    page.locator("#roadshow .act-edit-logistics").click()
    move = page.locator("#move-form")
    assert [move.locator(f"[name={n}]").input_value() for n in ("title", "city", "date", "start_time", "slot_minutes")
            ] == ["改期路演 Move", "宁波", "2026-12-10", "09:30", "30"]  # the roadshow as it is
    fill_form(move, {"date": "2026-12-12", "start_time": "10:15", "slot_minutes": "300"})  # invalid: at most 240
    assert "must be <= 240" in refused(page, "#move-submit", "#move-form", "slot_minutes")
    shot(page, "organizer_move_refused")

    rs = view["roadshow"]  # meanwhile another tab renames it: the form's version is stale
    _, token = accepted(organizer.put(f"/v1/roadshows/{rid}/logistics", json={
        "title": "改期路演 Renamed", "city": rs["city"], "date": rs["date"], "start_time": rs["start_time"],
        "slot_minutes": rs["slot_minutes"], "expected_version": view["version"]}))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    move.locator("[name=slot_minutes]").fill("25")
    page.click("#move-submit")
    page.wait_for_selector("#move-error:has-text('is stale')")
    assert "changed after you opened this form" in page.locator("#move-error").inner_text()
    assert page.locator("#move-form .invalid").count() == 0
    assert move.locator("[name=title]").input_value() == "改期路演 Renamed"  # not touched here: the current value
    assert move.locator("[name=date]").input_value() == "2026-12-12"  # changed here: kept
    shot(page, "organizer_move_stale")

    page.click("#move-submit")  # saved again, on the current version
    move.wait_for(state="detached")
    page.wait_for_selector("#roadshow .meta:has-text('2026-12-12 10:15')")
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .name:has-text('Renamed')").wait_for()
    rs = organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]
    assert (rs["title"], rs["city"], rs["date"], rs["start_time"], rs["slot_minutes"]) == (
        "改期路演 Renamed", "宁波", "2026-12-12", "10:15:00", 25)
    shot(page, "organizer_moved")


def test_registrar_searches_the_registry_loads_more_and_rejects_a_verified_investor_with_a_reason(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    tag = uid("reg")  # in every name, so the search finds exactly these
    decisions, token = {}, None
    for n in range(12):  # more than a page: 9 verified, 2 rejected, 1 pending
        _, investor_id, token = register(dep, registrar if n < 11 else None, name=f"登记簿天使 {tag} {n}")
        decisions[investor_id] = "verified" if n < 9 else "rejected" if n < 11 else "pending"
        if decisions[investor_id] == "rejected":
            _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/reject", headers=waiting(token),
                                               json={"reason": "资料不全 incomplete papers"}))
    registrar.get("/v1/registrar/pending", headers=waiting(token))

    page = new_page()
    sign_in(page, dep, "registrar")
    search = page.locator("#registry-form")
    search.locator("[name=q]").fill(tag.upper())  # any case
    search.locator(".act-search").click()
    page.wait_for_selector("#registry-count:has-text('Investors found: 12')")
    rows = page.locator("#registry tr.registry-investor")
    assert rows.count() == 10
    page.locator("#registry .act-more").click()
    rows.nth(11).wait_for()
    assert page.locator("#registry .act-more").count() == 0
    assert {r.get_attribute("data-investor-id"): r.get_attribute("data-verification") for r in rows.all()} == decisions
    assert page.locator("#registry tr[data-verification=verified] .act-reject").count() == 9  # only on verified rows
    assert page.locator("#registry tr.registry-investor .act-reject, #registry .act-verify").count() == 9
    assert page.locator("#registry tr[data-verification=rejected] .rejection-reason", has_text="incomplete papers"
                        ).count() == 2
    shot(page, "registrar_registry")

    search.locator("[name=verification]").select_option("verified")
    search.locator(".act-search").click()
    page.wait_for_selector("#registry-count:has-text('Investors found: 9')")
    target = next(i for i, d in decisions.items() if d == "verified")
    row = page.locator(f"#registry tr[data-investor-id='{target}']")
    row.locator(".act-reject").click()  # no reason: the API's refusal under the button
    assert "at least 1" in row.locator(".field-error:not(:empty)").inner_text()
    row.locator(".reject-reason").fill("复查发现资金来源不明 source of funds unclear on review")
    row.locator(".act-reject").click()
    row.wait_for(state="detached")  # no longer verified
    page.wait_for_selector("#registry-count:has-text('Investors found: 8')")
    found = registrar.get(f"/v1/investors/{target}").json()
    assert (found["verification"], found["rejection_reason"]) == (
        "rejected", "复查发现资金来源不明 source of funds unclear on review")

    search.locator("[name=verification]").select_option("rejected")
    search.locator(".act-search").click()
    page.wait_for_selector("#registry-count:has-text('Investors found: 3')")
    assert "source of funds unclear" in page.locator(f"#registry tr[data-investor-id='{target}']").inner_text()
    assert page.locator(f"#pending tr[data-investor-id='{target}']").count() == 0


def test_pages_are_served_at_the_root_beside_the_api_docs_and_health(deployment):
    client = deployment.client()
    page = client.get("/")
    assert page.status_code == 200 and 'src="app.js"' in page.text
    assert client.get("/app.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200 and "/v1/me" in client.get("/openapi.json").json()["paths"]
    missing = client.get("/v1/nope")
    assert missing.status_code == 404 and missing.json()["detail"]  # API errors stay JSON
    assert client.get("/v1/me").status_code == 401
    for response in (page, client.get("/v1/me"), client.get("/docs")):  # no sniffing, framing or referrer anywhere
        assert (response.headers["x-content-type-options"], response.headers["x-frame-options"]) == ("nosniff", "DENY")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "content-security-policy" not in client.get("/docs").headers  # Swagger UI loads from a CDN


ALERTS_PAGE = 5  # the page's inbox page size (web/app.js ALERTS_PAGE)


def test_an_investors_saved_search_alerts_it_of_matching_projects_which_arrive_unread_and_older_ones_load_on_request(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    investor, investor_id, token = register(dep, registrar, name="提醒天使 Alert Angels")
    _, token = accepted(investor.post("/v1/alerts/searches", headers=waiting(token),
                                      json={"name": "注塑质检 Molding QC", "text": "注塑 质检", "stages": ["seed"]}))
    page = new_page()
    lookups: list[str] = []  # the alerts carry the projects' names: none is asked for
    page.on("request", lambda r: lookups.append(r.url) if "/v1/projects/" in r.url else None)
    sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#searches .saved-search:has-text('Molding QC')")
    page.wait_for_selector("#alerts .empty")  # nothing alerted yet

    founder = dep.as_role("founder", uid("f"))
    with alerter_running(dep):
        projects = []
        for n in range(ALERTS_PAGE + 1):
            pid, token = submit(founder, after=token, name=f"提醒项目 Alerted {n}",
                                summary=f"第{n}个注塑工厂视觉质检系统 vision QC for injection molding")
            projects.append(pid)
        newest = page.locator(f"#alerts .alert[data-subject-id='{projects[-1]}']")
        newest.wait_for(timeout=45_000)  # the page polls its inbox
        assert newest.locator(".unread-mark").count() == 1
        match = newest.locator(f".alert-match[data-project-id='{projects[-1]}']")
        assert f"Alerted {ALERTS_PAGE}" in match.locator(".name").inner_text()
        assert match.locator(".score").inner_text().startswith("Score")
        assert match.locator(".reasons li").count() >= 1
        assert "Molding QC" in match.locator(".via").inner_text()  # found by the saved search, named
        for pid in projects:
            page.locator(f"#alerts .alert[data-subject-id='{pid}']").wait_for(timeout=45_000)
        shot(page, "investor_alerts")

    page.reload()  # read now: a page of the newest, unmarked, and the oldest after "Load more"
    page.locator("#alerts .alert").first.wait_for()
    assert page.locator("#alerts .alert").count() == ALERTS_PAGE
    assert page.locator("#alerts .unread-mark").count() == 0
    assert page.locator(f"#alerts .alert[data-subject-id='{projects[0]}']").count() == 0
    page.locator("#alerts .act-more-alerts").click()
    page.locator(f"#alerts .alert[data-subject-id='{projects[0]}']").wait_for()
    assert page.locator("#alerts .alert").count() == len(projects)
    page.click("#lang-zh")
    page.wait_for_selector("#alerts-card h2:has-text('交易提醒')")
    page.locator("#alerts .alert").first.wait_for()
    assert "注塑质检" in page.locator("#alerts .via").first.inner_text()
    assert lookups == []


def test_founder_saves_a_search_for_one_of_its_projects_past_a_refused_field_edits_it_and_deletes_it(
        deployment, new_page):
    dep = deployment
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    first, token = submit(founder, name="第一个项目 First")
    second, token = submit(founder, after=token, name="第二个项目 Second")
    page = new_page()
    sign_in(page, dep, "founder", founder_id)
    page.wait_for_selector("#searches .empty")
    form = page.locator("#search-form")
    form.locator(f"[name=project_id] option[value='{second}']").wait_for(state="attached")
    fill_form(form, {"name": "杭州天使 Hangzhou angels", "project_id": second})
    page.click("#lang-zh")  # what was typed survives a language switch
    page.wait_for_selector("#search-form-box h3:has-text('新建搜索')")
    assert form.locator("[name=name]").input_value() == "杭州天使 Hangzhou angels"
    assert form.locator("[name=project_id]").input_value() == second
    page.click("#lang-en")
    page.wait_for_selector("#search-form-box h3:has-text('New saved search')")
    fill_form(form, {"text": "机器人", "stages": ["seed", "angel"], "cities": "杭州, 宁波",
                     "min_score": "5"})  # invalid: at most 2
    assert "2" in refused(page, "#search-submit", "#search-form", "min_score")
    shot(page, "founder_search_error")

    form.locator("[name=min_score]").fill("0.3")
    page.click("#search-submit")
    saved = page.locator("#searches .saved-search", has_text="Hangzhou angels")
    saved.wait_for()
    assert form.locator("[data-error-for=min_score]").inner_text() == ""
    assert "Second" in saved.inner_text() and "杭州" in saved.inner_text()
    stored = founder.get("/v1/alerts/searches").json()["data"]
    assert [(x["project_id"], x["min_score"], x["cities"]) for x in stored] == [(second, 0.3, ["杭州", "宁波"])]

    saved.locator(".act-edit-search").click()  # an edit keeps the search on its project: the choice is locked
    page.wait_for_selector("#search-form-box h3:has-text('Edit saved search')")
    edited = page.locator(f"#search-form[data-search-id='{stored[0]['id']}']")
    assert edited.locator("[name=project_id]").is_disabled()
    assert edited.locator("[name=project_id]").input_value() == second
    fill_form(edited, {"min_score": "0.5"})
    page.click("#search-submit")
    saved.locator(".meta:has-text('Min score 0.5')").wait_for()
    assert [(x["project_id"], x["min_score"]) for x in founder.get("/v1/alerts/searches").json()["data"]] == [
        (second, 0.5)]

    saved.locator(".act-delete-search").click()  # asked first: cancelling keeps it
    saved.locator(".act-cancel-delete-search").click()
    saved.locator(".act-delete-search").click()
    saved.locator(".act-confirm-delete-search").click()
    saved.wait_for(state="detached")
    page.wait_for_selector("#searches .empty")
    assert founder.get("/v1/alerts/searches").json()["data"] == []


def test_an_investor_edits_a_saved_search_past_a_refused_field_and_a_stale_version_and_the_list_shows_it(
        deployment, new_page):
    dep = deployment
    investor, investor_id, token = register(dep, dep.as_role("registrar"), name="改搜索天使 Edit Search Angels")
    criteria = {"name": "注塑质检 Molding QC", "text": "注塑", "stages": ["seed"], "cities": ["宁波"],
                "ticket_min_cny": 1_000_000, "ticket_max_cny": 5_000_000}
    sid, token = accepted(investor.post("/v1/alerts/searches", headers=waiting(token), json=criteria))
    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    saved = page.locator(f"#searches .saved-search[data-search-id='{sid}']")
    saved.locator(".act-edit-search").click()
    page.wait_for_selector("#search-form-box h3:has-text('Edit saved search')")
    form = page.locator(f"#search-form[data-search-id='{sid}']")
    assert [form.locator(f"[name={n}]").input_value() for n in ("name", "text", "cities", "min_score")] == [
        "注塑质检 Molding QC", "注塑", "宁波", "0"]  # the search as it is
    assert form.locator("[name=stages] option:checked").get_attribute("value") == "seed"
    fill_form(form, {"stages": ["seed", "angel"], "cities": "宁波, 杭州", "min_score": "5"})  # invalid: at most 2
    assert "2" in refused(page, "#search-submit", "#search-form", "min_score")

    _, token = accepted(investor.put(f"/v1/alerts/searches/{sid}", json={  # meanwhile another tab renames it
        **criteria, "name": "注塑质检 Renamed", "text": "注塑 视觉", "ticket_max_cny": 8_000_000,
        "expected_version": 1}))
    investor.get(f"/v1/alerts/searches/{sid}", headers=waiting(token))
    fill_form(form, {"min_score": "0.4"})
    page.click("#search-submit")
    page.wait_for_selector("#search-error:has-text('is stale')")
    assert "changed elsewhere" in page.locator("#search-error").inner_text()
    assert page.locator("#search-form .invalid").count() == 0
    assert [form.locator(f"[name={n}]").input_value() for n in ("name", "text", "cities", "min_score")] == [
        "注塑质检 Renamed", "注塑 视觉", "宁波, 杭州", "0.4"]  # not touched here: the current value; changed: kept
    shot(page, "investor_search_edit_stale")

    page.click("#search-submit")  # saved again, on the current version
    saved.locator(".meta:has-text('Min score 0.4')").wait_for()  # (the 409 showed the other tab's version)
    assert "Renamed" in saved.locator(".name").inner_text()
    assert all(x in saved.inner_text() for x in ("“注塑 视觉”", "seed", "angel", "宁波", "杭州"))
    page.wait_for_selector("#search-form-box h3:has-text('New saved search')")
    stored = investor.get(f"/v1/alerts/searches/{sid}").json()
    assert (stored["version"], stored["name"], stored["text"], set(stored["stages"]), stored["cities"],
            stored["min_score"]) == (3, "注塑质检 Renamed", "注塑 视觉", {"seed", "angel"}, ["宁波", "杭州"], 0.4)
    assert (stored["ticket_min_cny"], stored["ticket_max_cny"]) == (1_000_000, 8_000_000)  # not on the form: kept
    shot(page, "investor_search_edited")


def test_alert_settings_refuse_a_private_webhook_next_to_the_field_and_the_chosen_mode_outlasts_a_reload(
        deployment, new_page):
    dep = deployment
    investor, investor_id, _ = register(dep, None, name="设置天使 Settings Angels")
    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    form = page.locator("#alert-settings-form[data-version='0']")
    form.wait_for()
    assert form.locator("[name=mode]").input_value() == "instant"
    fill_form(form, {"mode": "weekly", "webhook_url": "http://10.0.0.7:8080/hook"})
    assert "public address" in refused(page, "#alert-settings-submit", "#alert-settings-form", "webhook_url")
    shot(page, "alert_settings_refused")
    assert investor.get("/v1/alerts/settings").json()["version"] == 0
    page.click("#lang-zh")  # what was typed outlasts a language switch
    page.wait_for_selector("#alerts-card h2:has-text('交易提醒')")
    kept = page.locator("#alert-settings-form")
    assert (kept.locator("[name=mode]").input_value(), kept.locator("[name=webhook_url]").input_value()) == (
        "weekly", "http://10.0.0.7:8080/hook")
    page.click("#lang-en")
    form.wait_for()

    form.locator("[name=webhook_url]").fill("")
    page.click("#alert-settings-submit")
    page.wait_for_selector("#alert-settings-form[data-version='1']")
    page.reload()
    saved = page.locator("#alert-settings-form[data-version='1']")
    saved.wait_for()
    assert saved.locator("[name=mode]").input_value() == "weekly"
    assert saved.locator("[name=webhook_url]").input_value() == ""
    assert saved.locator(".invalid").count() == 0
    body = investor.get("/v1/alerts/settings").json()
    assert (body["mode"], body["webhook_url"], body["version"]) == ("weekly", None, 1)


# Webhooks to the test's own receiver on 127.0.0.1, retried quickly and given up after two attempts.
WEBHOOKS = {"alerts_signing_secret": "web-test-signing-secret-0123456789", "webhook_allow_private_networks": True,
            "webhook_retry_base_s": 0.05, "webhook_max_attempts": 2}


@pytest.mark.parametrize("deployment", [WEBHOOKS], indirect=True)
def test_an_investor_points_its_alerts_at_a_webhook_sees_each_push_land_or_fail_and_rotates_the_secret_that_signs_them(
        deployment, new_page):
    dep = deployment
    investor, investor_id, token = register(dep, dep.as_role("registrar"), name="推送天使 Webhook Angels")
    accepted(investor.post("/v1/alerts/searches", headers=waiting(token),
                           json={"name": "注塑质检 Molding QC", "text": "注塑 质检"}))
    receiver = Receiver()
    receiver.scripts["/hook"] = [200, 500]  # the first push is taken, every later one fails
    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    form = page.locator("#alert-settings-form[data-version='0']")
    form.wait_for()
    assert form.locator("[name=max_per_hour]").input_value() == "20"
    assert form.locator("[name=profile_alerts]").is_checked()
    fill_form(form, {"webhook_url": f"{receiver.url}/hook", "max_per_hour": "0"})
    assert "must be >= 1" in refused(page, "#alert-settings-submit", "#alert-settings-form", "max_per_hour")
    form.locator("[name=max_per_hour]").fill("30")
    form.locator("[name=profile_alerts]").uncheck()
    page.click("#alert-settings-submit")
    page.wait_for_selector("#alert-settings-form[data-version='1']")
    stored = investor.get("/v1/alerts/settings").json()
    assert (stored["webhook_url"], stored["max_per_hour"], stored["profile_alerts"]) == (
        f"{receiver.url}/hook", 30, False)
    secret_box = page.locator("#signing-secret[data-secret-version='1']")
    assert set(secret_box.locator(".secret-value").inner_text()) == {"•"}  # hidden until asked for
    secret_box.locator(".act-show-secret").click()
    secret = secret_box.locator(".secret-value").inner_text()
    assert secret == stored["signing_secret"]
    receiver.secrets["/hook"] = secret  # a push verifies only with the secret the page showed

    founder = dep.as_role("founder", uid("f"))
    worker = webhooks.build(dep.settings)
    worker.start()
    try:
        with alerter_running(dep):
            first, token = submit(founder, name="推送项目 Pushed", summary="注塑工厂视觉质检 vision QC for molding")
            alert = page.locator(f"#alerts .alert[data-subject-id='{first}']")
            alert.wait_for(timeout=45_000)
            alert.locator(".delivery[data-status='delivered']").wait_for(timeout=45_000)  # the page polls it
            assert [(r.status, r.valid, r.alert_ids) for r in receiver.at("/hook")] == [
                (200, True, [alert.get_attribute("data-alert-id")])]

            # rotated with a change typed and not saved yet: the form keeps it, at the settings' new version
            page.locator("#alert-settings-form [name=max_per_hour]").fill("25")
            page.click("#signing-secret .act-rotate-secret")
            page.click("#signing-secret .act-confirm-rotate")
            rotated = page.locator("#signing-secret[data-secret-version='2']")
            rotated.wait_for()
            assert page.locator("#alert-settings-form").get_attribute("data-version") == "2"
            assert page.locator("#alert-settings-form [name=max_per_hour]").input_value() == "25"
            assert "until" in rotated.locator(".previous-secret").inner_text()
            rotated.locator(".act-show-secret").click()
            new_secret = rotated.locator(".secret-value").inner_text()
            assert new_secret != secret and new_secret == investor.get("/v1/alerts/settings").json()["signing_secret"]
            shot(page, "alert_webhook")

            receiver.secrets["/hook"] = new_secret
            second, _ = submit(founder, after=token, name="推送项目 Refused", summary="注塑质检 molding QC line two")
            failed = page.locator(f"#alerts .alert[data-subject-id='{second}']")
            failed.locator(".delivery[data-status='dead']").wait_for(timeout=45_000)
            assert "HTTP 500" in failed.locator(".delivery").inner_text()
            assert [(r.status, r.valid) for r in receiver.at("/hook")[1:]] == [(500, True), (500, True)]
    finally:
        worker.stop()
        worker.close()
        receiver.close()
    page.click("#alert-settings-submit")
    page.wait_for_selector("#alert-settings-form[data-version='3']")
    assert investor.get("/v1/alerts/settings").json()["max_per_hour"] == 25


@pytest.mark.parametrize("deployment", [WEBHOOKS], indirect=True)
def test_the_inbox_poll_asks_no_delivery_of_an_alert_it_just_listed_and_a_push_landing_later_still_shows(
        deployment, new_page, monkeypatch):
    dep = deployment
    investor, investor_id, token = register(dep, dep.as_role("registrar"), name="轮询天使 Polling Angels")
    receiver = Receiver()
    _, token = accepted(investor.post("/v1/alerts/searches", headers=waiting(token),
                                      json={"name": "注塑质检 Molding QC", "text": "注塑 质检"}))
    _, token = accepted(investor.put("/v1/alerts/settings", headers=waiting(token), json={
        "mode": "instant", "webhook_url": f"{receiver.url}/hook", "max_per_hour": 30, "profile_alerts": False,
        "expected_version": 0}))
    receiver.secrets["/hook"] = investor.get("/v1/alerts/settings", headers=waiting(token)).json()["signing_secret"]
    page = new_page()
    ticks: list[tuple[set[str], list[str]]] = []  # per inbox poll: the alerts it listed, the deliveries then asked

    def log(route: Any) -> None:
        url = route.request.url
        if "unread_only=true" in url:
            listed = route.fetch()
            ticks.append(({a["id"] for a in listed.json()["data"]}, []))
            route.fulfill(response=listed)
            return
        if url.endswith("/delivery") and ticks:
            ticks[-1][1].append(url.split("/")[-2])
        route.continue_()

    page.route("**/v1/alerts**", log)
    sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#alerts .empty")

    founder = dep.as_role("founder", uid("f"))
    worker = webhooks.build(dep.settings)
    try:
        with alerter_running(dep):  # both alerts are shown before any push (the webhook worker starts after)
            first, token = submit(founder, name="轮询项目 Polled", summary="注塑工厂视觉质检 vision QC for molding")
            read = page.locator(f"#alerts .alert[data-subject-id='{first}']")
            read.wait_for(timeout=45_000)
            # from here on no read mark is applied (as when the log does not take it): each poll lists the next
            # alert again, with its delivery status
            monkeypatch.setattr(dep.container.alerts, "mark_read", lambda who, found: False)
            second, _ = submit(founder, after=token, name="轮询项目 Unread", summary="注塑质检 molding QC line two")
            unread = page.locator(f"#alerts .alert[data-subject-id='{second}']")
            unread.wait_for(timeout=45_000)
            worker.start()
            for alert in (read, unread):
                alert.locator(".delivery[data-status='delivered']").wait_for(timeout=45_000)
    finally:
        worker.stop()
        worker.close()
        receiver.close()
    read_id, unread_id = read.get_attribute("data-alert-id"), unread.get_attribute("data-alert-id")
    assert [asked for listed, asked in ticks if listed & set(asked)] == []  # none asked again in its own poll
    assert any(read_id in asked for _, asked in ticks)  # listed once, then read: its push is asked for on its own
    assert sum(unread_id in listed for listed, _ in ticks) >= 2  # its push came with the list, never asked for
    assert all(unread_id not in asked for _, asked in ticks)


def founder_searching_for_robot_investors(dep):
    """A founder with a project (RoboQC) and a saved search for investors about 机器人; (registrar, founder id,
    founder client, project id, offset token)."""
    registrar = dep.as_role("registrar")
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    pid, token = submit(founder, name="机器人质检 RoboQC")
    _, token = accepted(founder.post("/v1/alerts/searches", headers=waiting(token),
                                     json={"name": "硬科技天使 Deep-tech angels", "project_id": pid, "text": "机器人"}))
    return registrar, founder_id, founder, pid, token


def test_a_founder_is_alerted_of_a_newly_verified_investor_fitting_its_project_through_its_saved_search(
        deployment, new_page):
    dep = deployment
    registrar, founder_id, founder, pid, token = founder_searching_for_robot_investors(dep)
    page = new_page()
    sign_in(page, dep, "founder", founder_id)
    page.wait_for_selector("#searches .saved-search:has-text('RoboQC')")  # the search names its project
    with alerter_running(dep):
        _, investor_id, _ = register(dep, registrar, name="机器人天使 Robot Angels")
        alert = page.locator(f"#alerts .alert[data-subject-id='{investor_id}']")
        alert.wait_for(timeout=45_000)
    match = alert.locator(f".alert-match[data-investor-id='{investor_id}']")
    assert "Robot Angels" in match.locator(".name").inner_text() and "RoboQC" in match.inner_text()
    assert alert.locator(".unread-mark").count() == 1
    assert "Deep-tech angels" in match.locator(".via").inner_text()
    shot(page, "founder_alerts")


def test_an_investor_declines_an_intro_with_a_reason_the_founder_then_reads(deployment, new_page):
    dep = deployment
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    project_id, token = submit(founder, name="婉拒测试项目 DeclineMe")
    investor, investor_id, token = register(dep, dep.as_role("registrar"), name="婉拒天使 Decline Angels")
    _, token = accepted(founder.post("/v1/intros", headers=waiting(token), json={
        "project_id": project_id, "investor_id": investor_id, "message": "请看看我们的项目"}))
    investor.get("/v1/intros", headers=waiting(token))

    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    intro = page.locator("#intros .intro", has_text="DeclineMe")
    intro.locator(".act-decline").click()
    intro.locator(".act-cancel-decline").click()  # changed its mind: Accept and Decline are back
    intro.locator(".act-accept").wait_for()
    intro.locator(".act-decline").click()
    intro.locator(".decline-reason").fill("本轮不投硬件 no hardware this fund")
    intro.locator(".act-confirm-decline").click()
    intro.locator("[data-status=declined]").wait_for()
    assert founder.get("/v1/intros").json()["data"][0]["decline_reason"] == "本轮不投硬件 no hardware this fund"

    founder_page = new_page()
    sign_in(founder_page, dep, "founder", founder_id)
    assert "no hardware this fund" in founder_page.locator("#intros .intro .decline-reason").inner_text()


def test_a_pinned_project_that_declined_its_invitation_shows_as_declined_not_as_a_current_pin(deployment, new_page):
    dep = deployment
    founders, _, token = seed_market(dep, dep.as_role("registrar"), 3, 2, "固定拒绝项目", "固定拒绝天使")
    island_founder = dep.as_role("founder", uid("f"))
    island, token = submit(island_founder, after=token, name="海岛光伏蓄电", summary="海岛工厂的工业视觉质检与机器人")
    staying = next(iter(founders))  # pinned too, and not answering: still a current pin
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    rid, token = invited_roadshow(organizer, token, "固定拒绝路演 Pinned", [island, staying])
    _, token = accepted(island_founder.post(f"/v1/roadshows/{rid}/invitations/{island}/decline",
                                            headers=waiting(token)))
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert island in rs["pinned"]  # the roadshow keeps the pin; its invitation says what became of it
    assert next(i for i in rs["invitations"] if i["invitee_id"] == island)["status"] == "declined"

    page.click("#lang-zh")  # redraws the page: the list now has the roadshow
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    page.locator(f"#invitations tr[data-invitee='{island}'] [data-status=declined]").wait_for()
    adjusted = page.locator("#adjusted")
    assert [x.strip() for x in adjusted.locator(".tag.ok").all_inner_texts()] == ["已固定: 固定拒绝项目 0"]
    lapsed = adjusted.locator(f".tag[data-id='{island}']")
    assert lapsed.get_attribute("data-status") == "declined"
    assert lapsed.inner_text().strip() == "已固定但已拒绝: 海岛光伏蓄电"
    shot(page, "organizer_pin_declined")
    page.click("#lang-en")
    page.locator(f"#adjusted .tag[data-id='{island}']:has-text('Pinned, then declined: 海岛光伏蓄电')").wait_for()


def alerted(client: Any, subject_ids: set[str], timeout: float = 45.0) -> None:
    """Waits until the recipient's inbox holds an alert about each of `subject_ids`."""
    deadline = time.monotonic() + timeout
    while not subject_ids <= {a["subject_id"] for a in client.get("/v1/alerts", params={"limit": 100}).json()["data"]}:
        assert time.monotonic() < deadline, f"no alert about each of {subject_ids}"
        time.sleep(0.3)


def test_a_founders_alert_of_an_investor_that_left_the_market_says_it_is_no_longer_available_without_asking_for_it(
        deployment, new_page):
    dep = deployment
    registrar, founder_id, founder, pid, token = founder_searching_for_robot_investors(dep)
    with alerter_running(dep):
        leaving, leaving_id, token = register(dep, registrar, name="机器人天使 Leaving Angels")
        _, rejected_id, token = register(dep, registrar, name="机器人天使 Rejected Angels", organization="fund-r")
        _, staying_id, token = register(dep, registrar, name="机器人天使 Staying Angels", organization="fund-s")
        alerted(founder, {leaving_id, rejected_id, staying_id})
    _, token = accepted(leaving.post(f"/v1/investors/{leaving_id}/withdraw", headers=waiting(token)))
    _, token = accepted(registrar.post(f"/v1/investors/{rejected_id}/reject", headers=waiting(token),
                                       json={"reason": "资金来源无法核实 source of funds unverified"}))
    founder.get("/v1/alerts", headers=waiting(token))

    page = new_page()
    gone = {leaving_id, rejected_id}
    lookups: list[str] = []  # the alerts carry the names: no investor profile is asked for, a departed one's 404
    errors: list[tuple[str, str]] = []  # (message, the URL it is about)
    page.on("request", lambda r: lookups.append(r.url) if "/v1/investors/" in r.url else None)
    page.on("console", lambda m: errors.append((m.text, m.location["url"])) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append((str(e), "")))
    sign_in(page, dep, "founder", founder_id)

    def match(investor_id: str) -> Any:
        return page.locator(f"#alerts .alert-match[data-investor-id='{investor_id}']")

    match(staying_id).locator(".name:has-text('Staying Angels')").wait_for()
    assert "RoboQC" in match(staying_id).inner_text()
    for investor_id in gone:
        left = match(investor_id)
        left.locator(".name.gone").wait_for()
        assert left.locator(".name").inner_text() == "This investor is no longer available"
        assert investor_id not in left.inner_text()
        assert left.locator(".reasons, .score").count() == 0  # no ticket range of a profile no longer on offer
        assert "RoboQC" in left.inner_text() and "Deep-tech angels" in left.inner_text()
    assert match(staying_id).locator(".reasons li").count() >= 1
    shot(page, "founder_alert_investor_gone")

    page.click("#alerts-card .act-refresh-alerts")  # redraws, and neither asks for anyone
    page.click("#lang-zh")
    for investor_id in gone:
        match(investor_id).locator(".name.gone:has-text('该投资人已不再开放对接')").wait_for()
    page.wait_for_timeout(4_500)  # an inbox poll
    assert lookups == []
    assert errors == []  # so no 404 for Chromium to log either


def test_with_no_city_the_roadshows_meta_lines_join_only_the_parts_that_exist(deployment, new_page):
    dep = deployment
    founders, investors, token = seed_market(dep, dep.as_role("registrar"), 2, 2, "无城市项目", "无城市天使")
    organizer_id = uid("org")
    organizer = dep.as_role("organizer", organizer_id)
    rid, token = invited_roadshow(organizer, token, "无城市路演 NoCity", [*founders, *investors], city="")
    names = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["names"]

    page = new_page()
    sign_in(page, dep, "organizer", organizer_id)
    listed = page.locator(f"#roadshows [data-roadshow-id='{rid}']")
    assert listed.locator(".meta").inner_text() == "2026-12-10"
    listed.locator(".act-open").click()
    head = page.locator("#roadshow > .meta")
    head.wait_for()
    assert head.inner_text() == "2026-12-10 14:00 · 工业视觉 机器人 智能工厂 industrial AI"

    project_id, investor_id = next(iter(founders)), next(iter(investors))
    desk = new_page()
    sign_in(desk, dep, "founder", founders[project_id].get("/v1/me").json()["entity_id"])
    meta = desk.locator(f"#invitations .invitation[data-invitee='{project_id}'] > .meta")
    assert meta.inner_text() == f"2026-12-10 14:00 · {names[project_id]}"
    desk = new_page()
    sign_in(desk, dep, "investor", investor_id)
    meta = desk.locator(f"#invitations .invitation[data-roadshow-id='{rid}'] > .meta")
    assert meta.inner_text() == "2026-12-10 14:00"


def test_an_answer_for_a_roadshow_opened_before_another_is_not_drawn_over_the_one_open_now(deployment, new_page):
    dep = deployment
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    token = None
    rids = []
    for title in ("先开的路演 First", "后开的路演 Second"):
        rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token) if token else None, json={
            "title": title, "theme": "工业视觉 industrial vision", "city": "宁波", "date": "2026-12-10",
            "n_projects": 2, "m_investors": 2}))
        rids.append(rid)
    first, second = rids
    organizer.get("/v1/roadshows", headers=waiting(token))
    page.click("#lang-en")  # redraws the page: the list now has both

    held: list[Any] = []
    page.route(f"**/v1/roadshows/{first}", lambda route: held.append(route))
    page.locator(f"#roadshows [data-roadshow-id='{first}'] .act-open").click()
    for _ in range(100):  # until the first one's load is held
        if held:
            break
        page.wait_for_timeout(50)
    page.locator(f"#roadshows [data-roadshow-id='{second}'] .act-open").click()
    page.locator("#roadshow h2:has-text('Second')").wait_for()
    with page.expect_response(f"**/v1/roadshows/{first}"):
        held[0].continue_()
    page.unroute(f"**/v1/roadshows/{first}")
    page.wait_for_timeout(500)  # the page reads the answer after it arrives
    assert page.locator("#roadshow h2").inner_text().strip() == "后开的路演 Second"


def test_a_language_switch_during_a_roadshows_load_leaves_the_rsvp_poll_on_the_page_shown(deployment, new_page):
    dep = deployment
    page, organizer, rid, investors, token = organizer_on_an_invited_roadshow(
        dep, new_page, "切换语言项目", "切换语言天使", "切换语言路演 Switch")

    held: list[Any] = []

    def hold_first(route: Any) -> None:  # the load of the view the switch replaces; the new view's goes through
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(f"**/v1/roadshows/{rid}", hold_first)
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    page.click("#lang-zh")
    page.locator("#invitations h2:has-text('路演邀请')").wait_for()  # the new view, drawn
    with page.expect_response(f"**/v1/roadshows/{rid}"):
        held[0].continue_()  # the old view's answer arrives last
    page.unroute(f"**/v1/roadshows/{rid}")
    page.wait_for_timeout(500)

    investor_id = next(iter(investors))
    _, token = accepted(investors[investor_id].post(f"/v1/roadshows/{rid}/invitations/{investor_id}/accept"))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    # the RSVP poll (every 5 s) redraws the view shown
    page.locator(f"#invitations tr[data-invitee='{investor_id}'] [data-status=accepted]").wait_for(timeout=12_000)


def test_a_double_click_on_re_solve_sends_one_adjust(deployment, new_page):
    dep = deployment
    _, _, token = seed_market(dep, dep.as_role("registrar"), 3, 2, "双击重解项目", "双击重解天使")
    page = new_page()
    organizer = dep.client(sign_in(page, dep, "organizer", uid("org")))
    rid, token = proposed_roadshow(organizer, token, "双击重解 Twice")
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page.click("#lang-en")  # redraws the page: the list now has the roadshow
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    excluded = page.locator("#picks tr[data-kind=project]").first.get_attribute("data-id")
    page.locator(f"#picks tr[data-id='{excluded}'] .act-exclude").click()
    page.locator(f"#pending-changes .pending-change[data-id='{excluded}']").wait_for()

    held: list[Any] = []
    page.route(f"**/v1/roadshows/{rid}/adjust", lambda route: held.append(route))
    page.locator(".act-resolve").dblclick()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(500)  # time for a second request, were one sent
    assert len(held) == 1
    assert page.locator(".act-resolve").is_disabled()  # while its request is out
    for route in held:
        route.continue_()
    page.unroute(f"**/v1/roadshows/{rid}/adjust")
    page.locator(f"#picks tr[data-id='{excluded}']").wait_for(state="detached")  # re-solved without it
    assert organizer.get(f"/v1/roadshows/{rid}").json()["roadshow"]["excluded"] == [excluded]


# Where `needle`, in a text node under the element `selector`, is drawn: its left and right edges, in pixels.
TEXT_BOX = """([selector, needle]) => {
  const root = document.querySelector(selector);
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const at = n.data.indexOf(needle);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(n, at);
    range.setEnd(n, at + needle.length);
    const r = range.getBoundingClientRect();
    return { left: r.left, right: r.right };
  }
  return null;
}"""


def test_a_right_to_left_override_in_a_title_or_city_does_not_reorder_the_pages_own_text_after_it(
        deployment, new_page):
    """The API refuses U+202E (what follows reads right to left) in new text now, but the log keeps text accepted
    before that, so the page isolates what users wrote all the same."""
    dep = deployment
    organizer_id = uid("org")
    organizer = dep.as_role("organizer", organizer_id)
    body = {"title": "مرحبا بالعالم \u202e evil", "city": "مرحبا \u202e evil", "theme": "industrial ABC",
            "date": "2026-12-10", "n_projects": 2, "m_investors": 2}
    r = organizer.post("/v1/roadshows", json=body)
    assert r.status_code == 422 and "bidirectional embedding or override" in r.text
    rid, token = accepted(organizer.post("/v1/roadshows", json={**body, "title": "t", "city": ""}))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    stored = dep.container.view.roadshows[rid].value
    old = Roadshow.model_validate({**stored.model_dump(), "title": body["title"], "city": body["city"]},
                                  context={"from_log": True})
    token = dep.container.commands.publish("RoadshowMoved", rid, old, f"organizer:{organizer_id}",
                                           dep.container.view.roadshows).delivery.token
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/cancel", headers=waiting(token)))
    organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    page = new_page()
    sign_in(page, dep, "organizer", organizer_id)
    page.locator(f"#roadshows [data-roadshow-id='{rid}'] .act-open").click()
    tag = page.locator("#roadshow h2 .tag[data-status=cancelled]")
    tag.wait_for()
    shot(page, "organizer_bidi_title")

    title = page.evaluate(TEXT_BOX, ["#roadshow h2", "مرحبا بالعالم"])
    box = tag.bounding_box()
    assert box is not None and box["x"] >= title["right"] - 1  # the page's tag stays after the title
    city = page.evaluate(TEXT_BOX, ["#roadshow > .meta", "مرحبا"])
    theme = page.evaluate(TEXT_BOX, ["#roadshow > .meta", "ABC"])
    date = page.evaluate(TEXT_BOX, ["#roadshow > .meta", "2026-12-10"])
    assert date["right"] <= city["left"] and city["right"] <= theme["left"]  # date · city · theme, in that order
