"""An organizer's roadshow over HTTP and the real broker: create, roster, invite, a decline and its
backfill, accepts, schedule, CSV and iCalendar exports."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import accepted, seed_market, uid, waiting

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
    other_investor = next(i for i in investors if i != investor_id)
    assert investors[investor_id].get(f"/v1/roadshows/{rid}/schedule.ics",
                                      params={"participant": other_investor}).status_code == 403
