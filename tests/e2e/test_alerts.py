"""The deal-alert inbox over HTTP against a live deployment with the deal alerter running: each match names its
investor and project as the reader may see them now, never more than GET /v1/investors/{id} or
GET /v1/projects/{id} would show that reader."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import accepted, alerter_running, register, submit, uid, waiting

pytestmark = pytest.mark.kafka


def inbox(client: httpx.Client, token: str | None = None, **params: str) -> list[dict[str, Any]]:
    r = client.get("/v1/alerts", params={"limit": 100, **params}, headers=waiting(token) if token else None)
    assert r.status_code == 200, r.text
    return r.json()["data"]


def alerted(client: httpx.Client, subject_ids: set[str], timeout: float = 45.0) -> None:
    """Waits until the recipient's inbox holds an alert about each of `subject_ids`."""
    deadline = time.monotonic() + timeout
    while not subject_ids <= {a["subject_id"] for a in inbox(client)}:
        assert time.monotonic() < deadline, f"no alert about each of {subject_ids}"
        time.sleep(0.3)


def names(alerts: list[dict[str, Any]], side: str, ids: set[str]) -> dict[str, tuple[str | None, str | None]]:
    """The matches' `side` ("investor" or "project") id -> (investor name, project name), for those `ids`."""
    return {m[f"{side}_id"]: (m["investor_name"], m["project_name"]) for a in alerts for m in a["matches"]
            if m[f"{side}_id"] in ids}


def test_a_founders_alert_names_the_investor_until_it_leaves_the_market_and_never_more_than_its_profile_read(
        deployment):
    dep = deployment
    registrar, admin = dep.as_role("registrar"), dep.client(dep.admin_key)
    founder_id = uid("f")
    founder = dep.as_role("founder", founder_id)
    pid, token = submit(founder, name="机器人质检 NamedQC")
    _, token = accepted(founder.post("/v1/alerts/searches", headers=waiting(token),
                                     json={"name": "机器人 robots", "project_id": pid, "text": "机器人"}))
    with alerter_running(dep):
        leaving, leaving_id, token = register(dep, registrar, name="机器人天使 Leaving Angels")
        _, rejected_id, token = register(dep, registrar, name="机器人天使 Rejected Angels", organization="fund-r")
        _, staying_id, token = register(dep, registrar, name="机器人天使 Staying Angels", organization="fund-s")
        alerted(founder, {leaving_id, rejected_id, staying_id})
    investors = {leaving_id, rejected_id, staying_id}
    assert names(inbox(founder), "investor", investors) == {
        leaving_id: ("机器人天使 Leaving Angels", "机器人质检 NamedQC"),
        rejected_id: ("机器人天使 Rejected Angels", "机器人质检 NamedQC"),
        staying_id: ("机器人天使 Staying Angels", "机器人质检 NamedQC")}

    _, token = accepted(leaving.post(f"/v1/investors/{leaving_id}/withdraw", headers=waiting(token)))
    _, token = accepted(registrar.post(f"/v1/investors/{rejected_id}/reject", headers=waiting(token),
                                       json={"reason": "资金来源无法核实 source of funds unverified"}))
    alerts = inbox(founder, token)
    # the founder's own project keeps its name: the match says which of its projects it was for
    assert names(alerts, "investor", investors) == {leaving_id: (None, "机器人质检 NamedQC"),
                                                    rejected_id: (None, "机器人质检 NamedQC"),
                                                    staying_id: ("机器人天使 Staying Angels", "机器人质检 NamedQC")}
    for alert in alerts:  # a name is exactly what the founder's profile read shows, a null one it cannot read
        for m in alert["matches"]:
            r = founder.get(f"/v1/investors/{m['investor_id']}")
            assert (r.status_code, r.json().get("name")) == ((200, m["investor_name"]) if m["investor_name"]
                                                             else (404, None))
        assert founder.get(f"/v1/alerts/{alert['id']}").json()["matches"] == alert["matches"]  # one alert alone
    # an admin reading the founder's inbox: the same rule, the investors that left are no longer available
    as_admin = inbox(admin, recipient_role="founder", recipient_id=founder_id)
    assert names(as_admin, "investor", investors) == names(alerts, "investor", investors)


def test_an_investors_alert_names_the_project_while_it_is_open_and_while_the_library_is_open_to_the_investor(
        deployment):
    dep = deployment
    registrar = dep.as_role("registrar")
    investor, investor_id, token = register(dep, registrar, name="提醒天使 Naming Angels")
    _, token = accepted(investor.post("/v1/alerts/searches", headers=waiting(token),
                                      json={"name": "注塑质检 Molding QC", "text": "注塑 质检"}))
    founder = dep.as_role("founder", uid("f"))
    with alerter_running(dep):
        funded, token = submit(founder, after=token, name="注塑质检 Funded",
                               summary="注塑工厂视觉质检系统 vision QC for injection molding")
        staying, token = submit(founder, after=token, name="注塑质检 Staying",
                                summary="注塑工厂视觉质检二号线 vision QC for molding, line two")
        alerted(investor, {funded, staying})
    projects = {funded, staying}
    assert names(inbox(investor), "project", projects) == {funded: ("提醒天使 Naming Angels", "注塑质检 Funded"),
                                                           staying: ("提醒天使 Naming Angels", "注塑质检 Staying")}

    # funded: no longer available (its page still reads, as funded; the alert no longer offers it)
    _, token = accepted(founder.post(f"/v1/projects/{funded}/funded", headers=waiting(token)))
    assert names(inbox(investor, token), "project", projects) == {
        funded: ("提醒天使 Naming Angels", None), staying: ("提醒天使 Naming Angels", "注塑质检 Staying")}
    assert investor.get(f"/v1/projects/{funded}").json()["status"] == "funded"

    # rejected since: the project library is closed to it (GET /v1/projects/{id} answers 409), so no project name
    _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/reject", headers=waiting(token),
                                       json={"reason": "资料不全 incomplete"}))
    alerts = inbox(investor, token)
    assert investor.get(f"/v1/projects/{staying}").status_code == 409
    assert names(alerts, "project", projects) == {funded: ("提醒天使 Naming Angels", None),  # its own profile it reads
                                                  staying: ("提醒天使 Naming Angels", None)}
