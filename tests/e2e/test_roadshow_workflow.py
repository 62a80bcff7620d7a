"""An organizer's roadshow over HTTP and the real broker: create, roster, invite, a decline and its
backfill, accepts, schedule, CSV and iCalendar exports; what the organizer and the invitees each see."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from models.roadshows import Roadshow
from tests.e2e.helpers import accepted, register, seed_market, uid, waiting

pytestmark = pytest.mark.kafka


def test_roadshow_create_roster_invite_decline_backfill_accept_schedule(deployment):
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 5, 4, "宁波视觉质检", "智造天使")
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={
        "title": "宁波智能制造路演", "theme": "工业视觉 机器人 智能工厂 industrial AI",
        "sectors": ["smart_manufacturing"], "date": "2026-12-10", "n_projects": 2, "m_investors": 2,
        "slots": 2, "tables": 2, "min_fits": 1, "fit_threshold": 0.2}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/roster", headers=waiting(token)))
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()
    roster = rs["roadshow"]["roster"]
    assert len(roster["project_ids"]) == 2 and len(roster["investor_ids"]) == 2
    assert roster["gap"] >= 0 and roster["bound"] >= roster["objective"] - 1e-6
    assert all(p["en"] and p["zh"] for p in roster["picks"])

    assert organizer.get(f"/v1/roadshows/{rid}").status_code == 200
    other = dep.as_role("organizer", uid("org"))
    assert other.get(f"/v1/roadshows/{rid}").status_code == 403  # organizers see only their own

    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/invitations", headers=waiting(token)))
    declining = roster["project_ids"][0]
    r = founders[declining].post(f"/v1/roadshows/{rid}/invitations/{declining}/decline", headers=waiting(token))
    _, token = accepted(r)
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert declining not in rs["roster"]["project_ids"]
    backfill = [i for i in rs["invitations"] if i["replaces"] == declining]
    assert len(backfill) == 1 and backfill[0]["status"] == "pending"
    # someone else cannot answer an invitation that is not theirs
    stranger = next(c for pid, c in founders.items() if pid not in {i["invitee_id"] for i in rs["invitations"]})
    assert stranger.post(f"/v1/roadshows/{rid}/invitations/{backfill[0]['invitee_id']}/accept").status_code == 403

    for inv in rs["invitations"]:
        if inv["status"] == "pending":
            client = founders[inv["invitee_id"]] if inv["kind"] == "project" else investors[inv["invitee_id"]]
            _, token = accepted(client.post(f"/v1/roadshows/{rid}/invitations/{inv['invitee_id']}/accept",
                                            headers=waiting(token)))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/schedule", headers=waiting(token)))
    rs = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert rs["status"] == "scheduled" and rs["schedule"]
    seen = set()
    for m in rs["schedule"]:
        for who in (m["project_id"], m["investor_id"], f"table-{m['table']}"):
            assert (m["slot"], who) not in seen
            seen.add((m["slot"], who))

    csv = organizer.get(f"/v1/roadshows/{rid}/schedule.csv")
    assert csv.status_code == 200 and csv.text.count("\n") >= len(rs["schedule"])
    investor_id = rs["schedule"][0]["investor_id"]
    ics = investors[investor_id].get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": investor_id})
    assert ics.status_code == 200 and ics.text.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" in ics.text
    assert "Match score" not in ics.text  # the invitee's copy, as its JSON view, has no scores
    theirs = organizer.get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": investor_id})
    assert "Match score" in theirs.text
    r = organizer.get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": "会"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "participant"  # was a 500 (header encoding)
    other_investor = next(i for i in investors if i != investor_id)
    assert investors[investor_id].get(f"/v1/roadshows/{rid}/schedule.ics",
                                      params={"participant": other_investor}).status_code == 403

    # the organizer keeps the whole picture: roster with its reasons, scores, everyone's answers
    full = organizer.get(f"/v1/roadshows/{rid}").json()
    assert full["pair_scores"] and full["roadshow"]["roster"]["picks"] and full["roadshow"]["pinned"] == []
    assert all("score" in m for m in full["roadshow"]["schedule"])
    assert {i["status"] for i in full["roadshow"]["invitations"]} == {"accepted", "declined"}
    # an invitee sees the event, its own invitation and its own meetings; no scores, picks or other invitees
    backfilled = backfill[0]["invitee_id"]
    for invitee_id, client in ((investor_id, investors[investor_id]), (backfilled, founders[backfilled])):
        r = client.get(f"/v1/roadshows/{rid}")
        assert r.status_code == 200
        view = r.json()
        mine = view["roadshow"]
        assert (mine["title"], mine["city"], mine["date"], mine["slots"], mine["status"]) == \
            ("宁波智能制造路演", "", "2026-12-10", 2, "scheduled")
        assert [(i["invitee_id"], i["status"], i["replaces"]) for i in mine["invitations"]] == \
            [(invitee_id, "accepted", None)]  # a backfill does not say whom it replaces: that one declined
        own = [m for m in full["roadshow"]["schedule"] if invitee_id in (m["project_id"], m["investor_id"])]
        assert mine["schedule"] == [{k: m[k] for k in ("slot", "table", "project_id", "investor_id")} for m in own]
        assert set(view["names"]) == {invitee_id} | {m[k] for m in own for k in ("project_id", "investor_id")}
        assert not {"roster", "pinned", "excluded", "schedule_shortfalls"} & set(mine)
        assert view["pair_scores"] == {} and '"score"' not in r.text and declining not in r.text
        assert not any(p["en"] in r.text or p["zh"] in r.text for p in full["roadshow"]["roster"]["picks"])
        assert client.get("/v1/roadshows").json()["data"] == [view]
        sheet = client.get(f"/v1/roadshows/{rid}/schedule.csv")  # the whole schedule with scores: organizer's
        assert sheet.status_code == 403 and "schedule.ics" in sheet.json()["detail"]
    # the founder who declined sees that answer of its own, and nothing of who took the seat
    r = founders[declining].get(f"/v1/roadshows/{rid}")
    assert [(i["invitee_id"], i["status"]) for i in r.json()["roadshow"]["invitations"]] == [(declining, "declined")]
    assert r.json()["roadshow"]["schedule"] == [] and backfilled not in r.text


def test_adjusting_a_roster_names_no_unverified_investor_and_takes_bounded_lists(deployment):
    dep = deployment
    registrar = dep.as_role("registrar")
    _, _, token = seed_market(dep, registrar, 2, 2, "调整项目", "调整天使")
    _, hidden, token = register(dep, None, name="未审核 Hidden Angels")
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={
        "title": "调整", "theme": "工业视觉", "sectors": ["smart_manufacturing"], "date": "2026-12-10",
        "n_projects": 1, "m_investors": 1, "min_fits": 0}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/adjust", headers=waiting(token),
                                       json={"exclude": [hidden]}))
    view = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()
    assert view["roadshow"]["excluded"] == [hidden] and view["names"][hidden] == hidden  # not its name
    assert "Hidden Angels" not in organizer.get(f"/v1/roadshows/{rid}").text
    r = organizer.post(f"/v1/roadshows/{rid}/adjust", json={"pin": [f"p-{n}" for n in range(501)]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pin"
    version = organizer.get(f"/v1/roadshows/{rid}").json()["version"]
    r = organizer.post(f"/v1/roadshows/{rid}/adjust", json={})  # would only re-solve: that is POST .../roster
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["pin", "unpin", "exclude", "unexclude"]
    assert organizer.get(f"/v1/roadshows/{rid}").json()["version"] == version


def test_a_roster_request_that_finds_the_solver_busy_gets_503_and_retry_after(deployment, monkeypatch):
    dep = deployment
    registrar = dep.as_role("registrar")
    _, _, token = seed_market(dep, registrar, 3, 3, "苏州机器人", "机器人天使")
    organizer = dep.as_role("organizer", uid("org"))
    spec = {"title": "苏州机器人路演", "theme": "机器人", "date": "2026-12-10", "n_projects": 2, "m_investors": 2,
            "min_fits": 0}
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json=spec))
    service = dep.container.roadshows
    monkeypatch.setattr(service, "solver_seconds", 0.2)  # requests wait up to 0.4 s for the solver
    service._solver_slots.acquire()  # another roadshow's solve holds the only slot
    try:
        r = organizer.post(f"/v1/roadshows/{rid}/roster", headers=waiting(token))
        assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
        assert "solver is busy" in r.json()["detail"]
    finally:
        service._solver_slots.release()
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/roster"))
    assert organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]["roster"]


@dataclass
class Scheduled:
    """A scheduled roadshow of its own: its organizer, id, one investor (id, client, .ics text), the founders by
    project id, and the last offset token."""

    organizer: httpx.Client
    rid: str
    investor_id: str
    investor: httpx.Client
    ics: str
    founders: dict[str, httpx.Client]
    token: str


def _scheduled_roadshow(dep, city: str) -> Scheduled:
    """Two projects and two investors of its own, all pinned, accepted and scheduled (other tests' entities share
    this deployment, and would otherwise compete for the seats)."""
    founders, investors, token = seed_market(dep, dep.as_role("registrar"), 2, 2, f"{city}质检", f"{city}天使")
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={
        "title": f"{city}路演", "theme": "工业视觉", "date": "2026-12-10", "n_projects": 2, "m_investors": 2,
        "slots": 2, "tables": 2, "min_fits": 0}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/adjust", headers=waiting(token),
                                       json={"pin": [*founders, *investors]}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/invitations", headers=waiting(token)))
    for client, invitee in [*((c, p) for p, c in founders.items()), *((c, i) for i, c in investors.items())]:
        _, token = accepted(client.post(f"/v1/roadshows/{rid}/invitations/{invitee}/accept", headers=waiting(token)))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/schedule", headers=waiting(token)))
    investor_id, investor = next(iter(investors.items()))
    ics = investor.get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": investor_id},
                       headers=waiting(token)).text
    assert ics.count("BEGIN:VEVENT") == 2
    return Scheduled(organizer, rid, investor_id, investor, ics, founders, token)


def test_a_cancelled_roadshow_tells_its_invitees_and_cancels_their_calendar_entries(deployment):
    scheduled = _scheduled_roadshow(deployment, "杭州")
    organizer, rid, investor_id, investor, token = (scheduled.organizer, scheduled.rid, scheduled.investor_id,
                                                    scheduled.investor, scheduled.token)
    assert deployment.as_role("organizer", uid("org")).post(f"/v1/roadshows/{rid}/cancel").status_code == 403
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/cancel", headers=waiting(token)))
    assert investor.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]["status"] == "cancelled"
    ics = investor.get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": investor_id}).text
    assert ics.count("STATUS:CANCELLED") == ics.count("BEGIN:VEVENT") == 2
    r = organizer.post(f"/v1/roadshows/{rid}/schedule")
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


def test_an_organizer_moves_a_scheduled_roadshow_and_the_invitees_calendar_follows(deployment):
    scheduled = _scheduled_roadshow(deployment, "宁波")
    organizer, rid, investor_id, investor, before, token = (scheduled.organizer, scheduled.rid, scheduled.investor_id,
                                                            scheduled.investor, scheduled.ics, scheduled.token)
    version = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["version"]
    move = {"title": "宁波路演（改期）", "city": "宁波", "date": "2026-12-17", "start_time": "09:30:00",
            "slot_minutes": 30}
    r = organizer.put(f"/v1/roadshows/{rid}/logistics", json={**move, "expected_version": version - 1})
    assert r.status_code == 409  # based on a stale version
    r = organizer.put(f"/v1/roadshows/{rid}/logistics", json={**move, "slot_minutes": 1, "expected_version": version})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "slot_minutes"
    r = investor.put(f"/v1/roadshows/{rid}/logistics", json={**move, "expected_version": version})
    assert r.status_code == 403
    _, token = accepted(organizer.put(f"/v1/roadshows/{rid}/logistics", json={**move, "expected_version": version}))
    moved = investor.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert (moved["date"], moved["start_time"], moved["status"]) == ("2026-12-17", "09:30:00", "scheduled")
    after = investor.get(f"/v1/roadshows/{rid}/schedule.ics", params={"participant": investor_id}).text
    uids = [line for line in before.splitlines() if line.startswith("UID:")]
    assert uids == [line for line in after.splitlines() if line.startswith("UID:")]  # the same entries, moved
    assert "DTSTART:20261217T0130" in after and "DTSTART:20261210" not in after  # 09:30 in China is 01:30 UTC
    # a move of the date alone keeps the city, the start time and the slot length
    version = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["version"]
    _, token = accepted(organizer.put(f"/v1/roadshows/{rid}/logistics", json={
        "title": move["title"], "date": "2026-12-18", "expected_version": version}))
    moved = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]
    assert (moved["date"], moved["city"], moved["start_time"], moved["slot_minutes"]) == (
        "2026-12-18", "宁波", "09:30:00", 30)


def test_an_organizer_reads_a_roadshow_an_older_version_let_run_past_midnight(deployment):
    """The API now refuses meetings past midnight, but the log keeps roadshows accepted before that check: their
    organizer reads them (both reads answered 422 before: the view checked the stored roadshow afresh), and a move
    is checked afresh."""
    dep = deployment
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = accepted(organizer.post("/v1/roadshows", json={
        "title": "跨夜路演 Late", "theme": "工业视觉 industrial AI", "date": "2026-12-31", "n_projects": 2,
        "m_investors": 2, "slots": 3, "tables": 2}))
    before = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()
    stored = dep.container.view.roadshows[rid].value
    late = Roadshow.model_validate({**stored.model_dump(), "start_time": "23:50"}, context={"from_log": True})
    token = dep.container.commands.publish("RoadshowMoved", rid, late, f"organizer:{stored.organizer_id}",
                                           dep.container.view.roadshows).delivery.token
    r = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token))
    assert r.status_code == 200 and r.json()["roadshow"]["start_time"] == "23:50:00"
    assert r.json()["version"] == before["version"] + 1
    listed = organizer.get("/v1/roadshows")
    assert listed.status_code == 200 and [v["id"] for v in listed.json()["data"]] == [rid]
    move = {"title": "跨夜路演 Late", "date": "2026-12-31", "start_time": "23:00:00", "slot_minutes": 30,
            "expected_version": r.json()["version"]}
    r = organizer.put(f"/v1/roadshows/{rid}/logistics", json=move)
    assert r.status_code == 422 and "midnight" in r.text


def _events(ics: str) -> dict[str, list[str]]:
    """UID -> the lines of its VEVENT."""
    events = [block.split("END:VEVENT")[0].splitlines() for block in ics.split("BEGIN:VEVENT")[1:]]
    return {next(line for line in lines if line.startswith("UID:")): lines for lines in events}


def test_a_withdrawn_projects_meetings_leave_at_the_rebuild_and_the_calendars_cancel_them(deployment):
    s = _scheduled_roadshow(deployment, "绍兴")
    (first, first_founder), (second, second_founder) = s.founders.items()
    _, token = accepted(first_founder.post(f"/v1/projects/{first}/withdraw", headers=waiting(s.token)))
    view = s.organizer.get(f"/v1/roadshows/{s.rid}", headers=waiting(token)).json()
    assert view["left"] == [first] and view["empty_seats"] == {"projects": 1, "investors": 0}
    assert first in {m["project_id"] for m in view["roadshow"]["schedule"]}  # until the organizer rebuilds

    _, token = accepted(s.organizer.post(f"/v1/roadshows/{s.rid}/schedule", headers=waiting(token)))
    rs = s.organizer.get(f"/v1/roadshows/{s.rid}", headers=waiting(token)).json()["roadshow"]
    assert {m["project_id"] for m in rs["schedule"]} == {second}
    before = _events(s.ics)
    after = _events(s.investor.get(f"/v1/roadshows/{s.rid}/schedule.ics", params={"participant": s.investor_id}).text)
    assert after.keys() == before.keys()  # the same two entries: the withdrawn project's is cancelled
    gone = next(uid for uid in after if first in uid)
    assert "STATUS:CANCELLED" in after[gone] and "STATUS:CANCELLED" not in after[next(u for u in after if u != gone)]
    sequence = {uid: int(next(line for line in lines if line.startswith("SEQUENCE:"))[9:])
                for uid, lines in (("before", before[gone]), ("after", after[gone]))}
    assert sequence["after"] > sequence["before"]

    # the other project leaves too: the rebuild empties the schedule (it answered 409 before)
    _, token = accepted(second_founder.post(f"/v1/projects/{second}/withdraw", headers=waiting(token)))
    _, token = accepted(s.organizer.post(f"/v1/roadshows/{s.rid}/schedule", headers=waiting(token)))
    view = s.organizer.get(f"/v1/roadshows/{s.rid}", headers=waiting(token)).json()
    assert view["roadshow"]["schedule"] == [] and sorted(view["left"]) == sorted([first, second])  # roster order
    ics = s.investor.get(f"/v1/roadshows/{s.rid}/schedule.ics", params={"participant": s.investor_id}).text
    assert ics.count("STATUS:CANCELLED") == ics.count("BEGIN:VEVENT") == 2
    r = s.organizer.post(f"/v1/roadshows/{s.rid}/schedule")  # nothing left to drop or to build
    assert r.status_code == 409 and first in r.json()["detail"]


def test_the_organizer_sees_the_seats_no_backfill_filled_after_a_city_move_and_why_a_roster_is_refused(deployment):
    dep = deployment
    founders, investors, token = seed_market(dep, dep.as_role("registrar"), 3, 2, "舟山质检", "舟山天使")
    organizer = dep.as_role("organizer", uid("org"))
    spec = {"title": "舟山路演", "theme": "工业视觉", "date": "2026-12-10", "n_projects": 3, "m_investors": 2,
            "min_fits": 0}
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json=spec))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/adjust", headers=waiting(token),
                                       json={"pin": [*founders, *investors]}))
    view = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()
    assert view["empty_seats"] == {"projects": 0, "investors": 0} and view["left"] == []
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/invitations", headers=waiting(token)))
    nowhere = f"无项目城{uid('c')[2:]}"  # no project is in it, so a backfill finds no one
    _, token = accepted(organizer.put(f"/v1/roadshows/{rid}/logistics", json={
        "title": "舟山路演", "city": nowhere, "date": "2026-12-10", "expected_version": view["version"] + 1}))
    staying, *declining = founders
    for project_id in declining:
        _, token = accepted(founders[project_id].post(f"/v1/roadshows/{rid}/invitations/{project_id}/decline",
                                                      headers=waiting(token)))
    view = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()
    assert view["roadshow"]["roster"]["project_ids"] == [staying]
    assert not [i for i in view["roadshow"]["invitations"] if i["replaces"]]
    assert view["empty_seats"] == {"projects": 2, "investors": 0}
    mine = founders[staying].get(f"/v1/roadshows/{rid}").json()  # an invitee's view: no seats, no one left
    assert mine["empty_seats"] is None and mine["left"] == []

    # a new roadshow in that city: the refusal names the city, which left no project
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={**spec, "city": nowhere}))
    r = organizer.post(f"/v1/roadshows/{rid}/roster", headers=waiting(token))
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["city"]
    assert f"is in {nowhere}" in r.json()["errors"][0]["message"]
