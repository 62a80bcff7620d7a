"""Whole journeys over HTTP against a live deployment: founder, investor, registrar."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import accepted, investor_body, register, request_and_accept, submit, uid, waiting

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def registrar(deployment):
    return deployment.as_role("registrar")


def test_founder_submits_sees_matching_investors_and_gets_contacts_after_a_double_opt_in(deployment, registrar):
    founder = deployment.as_role("founder", uid("f"))
    investor, investor_id, _ = register(deployment, registrar, contact={"email": "deals@fit.example",
                                                                        "wechat": "fit_angel"})
    _, pending_id, token = register(deployment, None, thesis="消费品牌与新零售 consumer brands")

    project_id, token = submit(founder, after=token, contact={"email": "me@visionqc.example", "phone": "13911112222"})
    r = founder.get(f"/v1/projects/{project_id}", params={"wait_for": token})
    assert r.status_code == 200 and r.headers["X-Consistency"] == "fresh"
    assert r.json()["contact"]["email"] == "me@visionqc.example" and r.json()["version"] == 1
    assert int(r.headers["X-Read-Lag"]) >= 0

    r = founder.get(f"/v1/projects/{project_id}/investors", params={"k": 20})
    assert r.status_code == 200, r.text
    page = r.json()
    ids = [item["entity_id"] for item in page["data"]]
    assert investor_id in ids and pending_id not in ids  # only verified investors match
    match = page["data"][ids.index(investor_id)]
    assert {"sectors", "ticket", "stage"} <= {reason["code"] for reason in match["reasons"]}
    assert all(reason["en"] and reason["zh"] for reason in match["reasons"])
    # the investor's own activity (bookmarks, pending intros, recent deals, deal count) is not the founder's to see
    assert not {"saved", "exposure", "capacity", "activity"} & (set(match["features"]) | set(match["contributions"]))
    assert match["score"] > 0 and sum(match["contributions"].values()) <= match["score"] + 1e-3
    assert "contact" not in match["investor"] and "deals@fit.example" not in r.text

    intro_id, token = accepted(founder.post("/v1/intros", json={
        "project_id": project_id, "investor_id": investor_id, "message": "您好 hello"}))
    r = investor.get("/v1/intros", params={"wait_for": token})
    (intro,) = [i for i in r.json()["data"] if i["id"] == intro_id]
    assert intro["status"] == "requested" and intro["contacts"] is None
    assert "me@visionqc.example" not in investor.get(f"/v1/projects/{project_id}").text

    _, token = accepted(investor.post(f"/v1/intros/{intro_id}/accept"))
    for side in (founder, investor):
        (intro,) = [i for i in side.get("/v1/intros", headers=waiting(token)).json()["data"] if i["id"] == intro_id]
        assert intro["status"] == "accepted"
        assert intro["contacts"]["project"]["email"] == "me@visionqc.example"
        assert intro["contacts"]["investor"]["wechat"] == "fit_angel"
    assert founder.get(f"/v1/investors/{investor_id}").json()["contact"]["email"] == "deals@fit.example"
    seen_by_investor = investor.get(f"/v1/projects/{project_id}").json()
    assert seen_by_investor["contact"]["phone"] == "13911112222" and seen_by_investor["owner"] is None


def test_an_investor_rejected_after_an_intro_cannot_accept_it_and_loses_contacts_it_had(deployment, registrar):
    founder = deployment.as_role("founder", uid("f"))
    investor, investor_id, token = register(deployment, registrar)
    first, token = submit(founder, after=token, contact={"email": "first@secret.example"})
    second, token = submit(founder, after=token, contact={"email": "second@secret.example"})
    request_and_accept(founder, investor, first, investor_id, after=token)
    pending, token = accepted(founder.post("/v1/intros", headers=waiting(token), json={
        "project_id": second, "investor_id": investor_id, "message": "hi"}))
    assert "first@secret.example" in investor.get(f"/v1/projects/{first}", headers=waiting(token)).text

    _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/reject", headers=waiting(token),
                                       json={"reason": "资金来源存疑 source of funds"}))
    r = investor.post(f"/v1/intros/{pending}/accept", headers=waiting(token))
    assert r.status_code == 409 and "no longer a verified, active investor" in r.text
    assert "first@secret.example" not in investor.get(f"/v1/projects/{first}").text
    assert all(i["contacts"] is None for i in investor.get("/v1/intros").json()["data"])
    assert all(i["contacts"] is None for i in founder.get("/v1/intros").json()["data"])
    assert accepted(investor.post(f"/v1/intros/{pending}/decline", json={}))  # declining stays possible

def test_a_withdrawn_investor_is_gone_for_founders_on_read_as_on_intro_request(deployment, registrar):
    founder = deployment.as_role("founder", uid("f"))
    investor, investor_id, token = register(deployment, registrar)
    project_id, token = submit(founder, after=token)
    assert founder.get(f"/v1/investors/{investor_id}", headers=waiting(token)).status_code == 200
    _, token = accepted(investor.post(f"/v1/investors/{investor_id}/withdraw", headers=waiting(token)))
    assert founder.get(f"/v1/investors/{investor_id}", headers=waiting(token)).status_code == 404
    r = founder.post("/v1/intros", json={"project_id": project_id, "investor_id": investor_id, "message": "hi"})
    assert r.status_code == 404


def test_investor_registers_is_verified_pages_its_feed_and_never_sees_a_passed_project_again(deployment, registrar):
    founder = deployment.as_role("founder", uid("f"))
    token = None
    cities = ("杭州", "宁波", "上海")
    for n in range(12):
        _, token = submit(founder, after=token, name=f"工业视觉项目 {n}", city=cities[n % 3],
                          stage=("seed", "angel", "pre-a")[n % 3], amount_sought_cny=1_000_000 * (n + 1),
                          sectors=["smart_manufacturing", "ai"] if n % 2 else ["robotics"])
    investor, investor_id, token = register(deployment, None, thesis="工业视觉与机器人 industrial vision robotics",
                                            stages=["seed", "angel", "pre-a"], ticket_max_cny=20_000_000)

    assert founder.get(f"/v1/investors/{investor_id}", headers=waiting(token)).status_code == 404  # pending
    own = investor.get(f"/v1/investors/{investor_id}").json()
    assert (own["verification"], own["in_market"]) == ("pending", False)
    assert investor.get(f"/v1/investors/{investor_id}/feed").status_code == 409  # opens once verified

    _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/verify"))
    assert founder.get(f"/v1/investors/{investor_id}", headers=waiting(token)).status_code == 200
    own = investor.get(f"/v1/investors/{investor_id}").json()
    assert (own["verification"], own["in_market"]) == ("verified", True)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"k": 5, **({"cursor": cursor} if cursor else {})}
        r = investor.get(f"/v1/investors/{investor_id}/feed", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["lag"] >= 0 and all(item["reasons"] for item in body["data"])
        seen += [item["entity_id"] for item in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # the founder's 12 and other tests' open projects, 5 a page (a full last page is followed by an empty one)
    assert pages in (-(-len(seen) // 5), len(seen) // 5 + 1) and len(seen) == len(set(seen)) >= 12
    feed = investor.get(f"/v1/investors/{investor_id}/feed", params={"k": 20}).json()["data"]
    scores = [item["score"] for item in feed]
    assert scores == sorted(scores, reverse=True)
    assert all(abs(sum(m["contributions"].values()) - m["score"]) < 1e-3 for m in feed)  # its own: every term

    filtered = investor.get(f"/v1/investors/{investor_id}/feed", params={
        "k": 50, "stage": "seed", "city": ["杭州", "宁波"], "sector": "ai", "ticket_max": 9_000_000}).json()["data"]
    assert filtered, "some projects pass the filters"
    for item in filtered:
        p = item["project"]
        assert p["stage"] == "seed" and p["city"] in ("杭州", "宁波") and "ai" in p["sectors"]
        assert p["amount_sought_cny"] <= 9_000_000 and "contact" not in p

    top = seen[0]
    accepted(investor.post("/v1/feedback", json={"project_id": top, "action": "saved"}))
    r = investor.post("/v1/feedback", json={"project_id": seen[1], "action": "passed"})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    _, token = accepted(investor.post("/v1/feedback", json={"project_id": seen[1], "action": "passed",
                                                            "reason": "估值太高 valuation too high"}))
    for params in ({"k": 50}, {"k": 50, "sector": "robotics"}, {"k": 50, "stage": "angel"}):
        r = investor.get(f"/v1/investors/{investor_id}/feed", params=params, headers=waiting(token))
        assert seen[1] not in [item["entity_id"] for item in r.json()["data"]]
    r = investor.get(f"/v1/investors/{investor_id}/feed", params={"k": 50})
    assert top in [item["entity_id"] for item in r.json()["data"]]

    # a pass by mistake is taken back: the project returns to the feed
    passes = investor.get("/v1/feedback/passes").json()
    assert [(p["project"]["id"], p["reason"]) for p in passes["data"]] == [(seen[1], "估值太高 valuation too high")]
    assert "contact" not in passes["data"][0]["project"]
    _, token = accepted(investor.post("/v1/feedback", json={"project_id": seen[1], "action": "unpassed"}))
    r = investor.get(f"/v1/investors/{investor_id}/feed", params={"k": 50}, headers=waiting(token))
    assert seen[1] in [item["entity_id"] for item in r.json()["data"]]
    assert investor.get("/v1/feedback/passes").json()["count"] == 0
    assert founder.get("/v1/feedback/passes").status_code == 403


def test_registrar_lists_pending_profiles_verifies_one_and_rejects_one_with_a_reason(deployment, registrar):
    founder = deployment.as_role("founder", uid("f"))
    good, good_id, _ = register(deployment, None)
    bad, bad_id, token = register(deployment, None, name="可疑基金 Shady Fund")

    pending = registrar.get("/v1/registrar/pending", headers=waiting(token)).json()["data"]
    assert {good_id, bad_id} <= {p["id"] for p in pending}
    assert all(p["verification"] == "pending" and "contact" not in p for p in pending)

    accepted(registrar.post(f"/v1/investors/{good_id}/verify"))
    r = registrar.post(f"/v1/investors/{bad_id}/reject", json={"reason": "  "})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    _, token = accepted(registrar.post(f"/v1/investors/{bad_id}/reject", json={"reason": "无法核实资金来源"}))

    pending = registrar.get("/v1/registrar/pending", headers=waiting(token)).json()["data"]
    assert not {good_id, bad_id} & {p["id"] for p in pending}
    mine = bad.get(f"/v1/investors/{bad_id}").json()
    assert mine["verification"] == "rejected" and mine["rejection_reason"] == "无法核实资金来源"
    assert registrar.get(f"/v1/investors/{bad_id}").json()["verification"] == "rejected"
    assert founder.get(f"/v1/investors/{bad_id}").status_code == 404
    assert founder.get(f"/v1/investors/{good_id}").json()["verification"] == "verified"
    assert bad.get(f"/v1/investors/{bad_id}/feed").status_code == 409
    assert good.get(f"/v1/investors/{good_id}/feed").status_code == 200
    project_id, token = submit(founder, after=token)
    r = founder.post("/v1/intros", headers=waiting(token), json={"project_id": project_id, "investor_id": bad_id,
                                                                 "message": "hi"})
    assert r.status_code == 404  # as for GET: a founder cannot tell a rejected profile from none

    # the rejected investor answers the reason by editing its profile: back in the registrar's queue
    _, token = accepted(bad.put(f"/v1/investors/{bad_id}", json={
        **investor_body(name="可疑基金 Shady Fund", thesis="资金来源：自有资金，附审计报告"), "expected_version": 2}))
    pending = registrar.get("/v1/registrar/pending", headers=waiting(token)).json()["data"]
    again = next(p for p in pending if p["id"] == bad_id)
    assert again["verification"] == "pending" and again["rejection_reason"] == "无法核实资金来源"


def test_a_registrar_finds_investors_in_the_registry_by_decision_and_text_page_by_page(deployment, registrar):
    tag = uid("org")  # a word no other test's investor carries
    ids = [register(deployment, registrar, organization=f"{tag} 宁波 fund {n}")[1] for n in range(3)]
    _, rejected_id, token = register(deployment, None, organization=f"{tag} 可疑")
    _, token = accepted(registrar.post(f"/v1/investors/{rejected_id}/reject", headers=waiting(token),
                                       json={"reason": "资金来源存疑"}))
    found = registrar.get("/v1/registrar/investors", headers=waiting(token),
                          params={"q": tag.upper(), "verification": "verified", "limit": 2}).json()
    assert found["count"] == 3 and len(found["data"]) == 2 and found["next_cursor"]
    rest = registrar.get("/v1/registrar/investors", params={"q": tag, "verification": "verified", "limit": 2,
                                                            "cursor": found["next_cursor"]}).json()
    assert [i["id"] for i in found["data"] + rest["data"]] == ids and rest["next_cursor"] is None
    rejected = registrar.get("/v1/registrar/investors", params={"q": tag, "verification": "rejected"}).json()
    assert [i["id"] for i in rejected["data"]] == [rejected_id] and "contact" not in rejected["data"][0]
    traditional = registrar.get("/v1/registrar/investors", params={"q": f"{tag} 寧波"}).json()  # as search reads it
    assert [i["id"] for i in traditional["data"]] == ids
    _, hangzhou, token = register(deployment, registrar, name=f"{tag} angel", cities=["杭州"])
    for q in ("Hangzhou", "杭州市", "hangzhou city"):  # a city by its other names too
        found = registrar.get("/v1/registrar/investors", headers=waiting(token), params={"q": q}).json()
        assert hangzhou in [i["id"] for i in found["data"]], q
    every = registrar.get("/v1/registrar/investors").json()["count"]
    assert registrar.get("/v1/registrar/investors", params={"q": "市"}).json()["count"] < every  # no key: not all
    r = registrar.get("/v1/registrar/investors", params={"verification": "maybe"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "verification"
    assert deployment.as_role("founder", uid("f")).get("/v1/registrar/investors").status_code == 403


def test_a_founder_lists_only_its_own_projects_page_by_page(deployment):
    mine, theirs = deployment.as_role("founder", uid("f")), deployment.as_role("founder", uid("f"))
    token, own = None, []
    for n in range(5):
        pid, token = submit(mine, after=token, name=f"我的项目 {n}")
        own.append(pid)
    other, token = submit(theirs, after=token)
    seen, cursor = [], None
    while True:
        r = mine.get("/v1/projects", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                     headers=waiting(token))
        body = r.json()
        assert body["count"] == 5 and all(p["owner"] and p["contact"] for p in body["data"])
        seen += [p["id"] for p in body["data"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == own and other not in seen
