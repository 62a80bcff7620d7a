"""The web pages in headless Chromium against a live deployment (real broker): an investor's feed, a founder's
project form with the API's validation errors, and an organizer's roadshow with a backfill."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import accepted, investor_body, register, seed_market, submit, uid, waiting

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


def test_investor_verified_on_the_registrar_page_saves_and_passes_and_the_passed_project_leaves_the_feed(
        deployment, new_page):
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

    page.click("#lang-zh")  # every label switches; the reasons come in Chinese
    page.wait_for_selector("h2:has-text('项目推荐')")
    page.locator(".feed-item").first.wait_for()
    assert not page.locator(".feed-item .reasons li").first.inner_text().isascii()
    shot(page, "investor_feed_after_pass_zh")


def test_a_rejected_investor_reads_the_reason_and_its_edit_shows_the_registrar_the_earlier_one(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    client, investor_id, token = register(dep, None, name="驳回天使 Rejected Angels")
    _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/reject", headers=waiting(token),
                                       json={"reason": "无法核实资金来源 source of funds unverified"}))
    page = new_page()
    sign_in(page, dep, "investor", investor_id)
    page.wait_for_selector("#feed .empty:has-text('source of funds unverified')")
    assert "rejected" in page.locator("#feed .empty").inner_text()

    edited = investor_body(name="驳回天使 Rejected Angels", thesis="附审计报告 audited statements attached")
    _, token = accepted(client.put(f"/v1/investors/{investor_id}", headers=waiting(token),
                                   json={**edited, "expected_version": 2}))
    desk = new_page()
    sign_in(desk, dep, "registrar")
    row = desk.locator(f"tr.pending-investor[data-investor-id='{investor_id}']")
    row.wait_for()
    assert "source of funds unverified" in row.locator(".previous-rejection").inner_text()

def test_founder_sees_the_apis_validation_error_next_to_the_field_fixes_it_and_the_project_appears(
        deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    _, investor_id, token = register(dep, registrar, name="表单天使 Form Angels")
    founder_id = uid("f")
    page = new_page()
    sign_in(page, dep, "founder", founder_id)

    form = page.locator("#project-form")
    form.locator("[name=name]").fill("网页表单项目 WebForm")
    form.locator("[name=summary]").fill("工业视觉质检系统，服务宁波注塑工厂 industrial vision QC")
    form.locator("[name=sectors]").select_option(["smart_manufacturing", "ai"])
    form.locator("[name=stage]").select_option("seed")
    form.locator("[name=city]").fill("宁波")
    form.locator("[name=amount_sought_cny]").fill("0")  # invalid: must be > 0
    form.locator("[name='contact.email']").fill("me@webform.example")
    page.click("#project-submit")
    error = form.locator("[data-error-for=amount_sought_cny]")
    error.wait_for()
    page.wait_for_function("document.querySelector('[data-error-for=amount_sought_cny]').textContent.length > 0")
    assert "must be > 0" in error.inner_text()
    assert form.locator("[data-field=amount_sought_cny].invalid").count() == 1
    assert form.locator("[data-error-for=name]").inner_text() == ""  # only the offending field is marked
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


def test_organizer_builds_a_roster_invites_and_sees_the_backfill_of_a_decline(deployment, new_page):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 4, 3, "路演视觉项目", "路演天使")
    organizer_id = uid("org")
    page = new_page()
    key = sign_in(page, dep, "organizer", organizer_id)
    organizer = dep.client(key)
    organizer.get("/v1/roadshows", headers=waiting(token))  # the replica has every profile before solving

    form = page.locator("#roadshow-form")
    form.locator("[name=title]").fill("宁波智能制造路演 Web")
    form.locator("[name=theme]").fill("工业视觉 机器人 智能工厂 industrial AI")
    form.locator("[name=city]").fill("宁波")
    form.locator("[name=date]").fill("2026-12-10")
    form.locator("[name=sectors]").select_option(["smart_manufacturing"])
    for name, value in (("n_projects", "2"), ("m_investors", "2"), ("slots", "2"), ("tables", "2"),
                        ("fit_threshold", "0.2")):
        form.locator(f"[name={name}]").fill(value)
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
