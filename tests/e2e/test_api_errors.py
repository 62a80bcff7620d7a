"""Errors over HTTP: 422s name the field and what is accepted, 413, 409, 401/403/404, and never a 500."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest

from api.app import create_app
from api.auth import hash_key
from models.taxonomy import STAGES
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import accepted, investor_body, project_body, register, submit, uid, waiting

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def founder(deployment) -> httpx.Client:
    return deployment.as_role("founder", uid("f"))


@pytest.fixture(scope="module")
def investor(deployment) -> tuple[httpx.Client, str]:
    client, investor_id, token = register(deployment, deployment.client(deployment.admin_key))
    client.get("/v1/intros", headers=waiting(token))
    return client, investor_id


def _problems(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"] == "; ".join(f"{e['field']}: {e['message']}" for e in body["errors"])
    return {e["field"]: e["message"] for e in body["errors"]}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"stage": "series z"}, "stage", f"must be one of {', '.join(STAGES)}; got 'series z'"),
    ({"sectors": ["ai", "spaceships"]}, "sectors", "sector must be one of ai, smart_manufacturing"),
    ({"sectors": []}, "sectors", "must name at least one sector"),
    ({"amount_sought_cny": -5}, "amount_sought_cny", "must be > 0; got -5"),
    ({"amount_sought_cny": "lots"}, "amount_sought_cny", "must be an integer; got 'lots'"),
    ({"amount_sought_cny": 10**30}, "amount_sought_cny", "must be <= 10000000000"),
    ({"team_size": [3]}, "team_size", "must be an integer"),
    ({"name": None}, "name", "must be a string; got None"),
    ({"name": "   "}, "name", "must be at least 1 characters"),
    ({"founder_background": "astronaut"}, "founder_background", "must be one of student"),
    ({"contact": {"email": "not-an-email"}}, "contact.email",
     "must be an email address such as name@example.com; got 'not-an-email'"),  # in words, not the regex
    ({"contact": "13800000000"}, "contact", "must be a JSON object"),
    ({"valuation": 1}, "valuation", "is not a field of this request"),
    ({"name": "\x00abc"}, "name", "must not contain control characters (U+0000)"),
    ({"summary": "AI 质检\x1b[31m"}, "summary", "must not contain control characters (U+001B)"),
    ({"contact": {"wechat": "wx\x07"}}, "contact.wechat", "must not contain control characters (U+0007)"),
])
def test_a_bad_project_field_is_a_422_naming_the_field_and_what_is_accepted(founder, change, field, says):
    problems = _problems(founder.post("/v1/projects", json={**project_body(), **change}))
    assert says in problems[field]


def test_a_missing_field_is_named(founder):
    body = project_body()
    del body["summary"], body["city"]
    assert _problems(founder.post("/v1/projects", json=body)) == {"summary": "is required", "city": "is required"}


def test_a_missing_or_unparseable_body_is_named_body(founder):
    assert _problems(founder.post("/v1/projects")) == {"body": "a JSON body is required"}
    problems = _problems(founder.post("/v1/projects", content=b"{not json",
                                      headers={"content-type": "application/json"}))
    assert problems["body"].startswith("is not valid JSON")


@pytest.mark.parametrize(("content", "content_type"), [
    (b"[1, 2]", "application/json"),
    (b'"str"', "application/json"),
    (b"name=x", "application/x-www-form-urlencoded"),
])
def test_a_body_that_is_not_a_json_object_is_named_body(founder, content, content_type):
    problems = _problems(founder.post("/v1/projects", content=content, headers={"content-type": content_type}))
    assert list(problems) == ["body"], problems  # never "Input" (from pydantic's "Input should be ...")


def test_an_investor_ticket_range_the_wrong_way_round_names_the_field(deployment):
    client = deployment.as_role("investor", uid("i"))
    body = {**investor_body(), "ticket_min_cny": 9_000_000, "ticket_max_cny": 1_000_000}
    problems = _problems(client.post("/v1/investors", json=body))
    assert problems["ticket_min_cny"] == "must be <= ticket_max_cny; got 9000000 > 1000000"


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"stage": "series z"}, "stage", f"must be one of {', '.join(STAGES)}; got 'series z'"),
    ({"sector": ["ai", "spaceships"]}, "sector", "must be one of ai,"),
    ({"ticket_min": 5_000_000, "ticket_max": 1_000_000}, "ticket_min", "must be <= ticket_max"),
    ({"ticket_min": -1}, "ticket_min", "must be >= 0; got '-1'"),
    ({"k": 0}, "k", "must be >= 1; got '0'"),
    ({"k": "ten"}, "k", "must be an integer; got 'ten'"),
    ({"min_score": "high"}, "min_score", "must be a finite number; got 'high'"),
    ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor", "must be a next_cursor returned by this API"),
    ({"wait_for": "yesterday"}, "wait_for", "must be an offset_token returned by a write"),
    ({"wait_for": "nosuchtopic:0:1"}, "wait_for", "must name a partition this replica reads"),
])
def test_bad_feed_parameters_are_422s_naming_the_parameter(investor, params, field, says):
    client, investor_id = investor
    problems = _problems(client.get(f"/v1/investors/{investor_id}/feed", params=params))
    assert says in problems[field], problems


def test_a_malformed_wait_header_is_named(investor):
    client, investor_id = investor
    problems = _problems(client.get(f"/v1/investors/{investor_id}", headers={"X-Wait-For": "1:2"}))
    assert problems["X-Wait-For"].startswith("must be an offset_token")


def test_search_names_a_bad_side_and_an_empty_query(deployment):
    admin = deployment.client(deployment.admin_key)
    assert "must be one of projects, investors; got 'both'" in _problems(
        admin.get("/v1/search", params={"q": "ai", "side": "both"}))["side"]
    assert "q" in _problems(admin.get("/v1/search", params={"q": ""}))
    assert "must contain a letter or digit" in _problems(admin.get("/v1/search", params={"q": "***"}))["q"]


def test_a_feedback_pass_without_a_reason_names_reason(investor, founder):
    client, _ = investor
    pid, token = submit(founder)
    problems = _problems(client.post("/v1/feedback", json={"project_id": pid, "action": "passed"},
                                     headers=waiting(token)))
    assert problems == {"reason": "is required when action is 'passed'"}  # the field is said once
    assert _problems(client.post("/v1/feedback", json={"project_id": pid, "action": "liked"}))["action"].startswith(
        "must be one of viewed, saved, unsaved, passed, unpassed")


@pytest.mark.parametrize(("url", "says"), [
    ("http://example.com:99999/", "port must be 1-65535; got '99999'"),
    ("http://exa mple.com/", "must not contain spaces or control characters"),
    ("http://exa_mple.com/", "host 'exa_mple.com' is not a valid host name"),
])
def test_a_bad_webhook_url_is_a_422_naming_webhook_url(investor, url, says):
    client, _ = investor
    problems = _problems(client.put("/v1/alerts/settings", json={"webhook_url": url}))
    assert list(problems) == ["webhook_url"] and says in problems["webhook_url"], problems


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"sector_quota": {"ai": True}}, "sector_quota.ai", "must be an integer, not true"),
    ({"date": "1900-01-01"}, "date", "must be between 2000-01-01 and 2099-12-31; got 1900-01-01"),
    ({"title": "路演\x00"}, "title", "must not contain control characters (U+0000)"),
])
def test_a_bad_roadshow_field_is_a_422_naming_the_field(deployment, change, field, says):
    organizer = deployment.as_role("organizer", uid("o"))
    body = {"title": "路演", "theme": "工业视觉", "date": "2026-12-10", "n_projects": 2, "m_investors": 2, **change}
    assert _problems(organizer.post("/v1/roadshows", json=body)) == {field: says}


def test_a_body_over_one_megabyte_is_a_413(founder):
    big = {**project_body(), "traction": "x" * 2_000_000}
    r = founder.post("/v1/projects", json=big)
    assert r.status_code == 413 and "at most 1000000 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit applies while the body is read
        for _ in range(32):
            yield b"x" * 65_536

    r = founder.post("/v1/projects", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert founder.get("/healthz").status_code == 200  # the server is fine


def test_a_stale_expected_version_is_a_409(founder):
    pid, token = submit(founder)
    _, token = accepted(founder.put(f"/v1/projects/{pid}", json={**project_body(team_size=9), "expected_version": 1},
                                    headers=waiting(token)))
    r = founder.put(f"/v1/projects/{pid}", json={**project_body(team_size=10), "expected_version": 1},
                    headers=waiting(token))
    assert r.status_code == 409 and "expected_version 1 is stale; the entity is at version 2" in r.json()["detail"]
    r = founder.get(f"/v1/projects/{pid}", headers=waiting(token))
    assert r.json()["team_size"] == 9 and r.json()["version"] == 2


def test_an_admin_lists_keys_by_role_entity_and_revocation_and_never_sees_a_secret_or_hash(deployment):
    admin = deployment.client(deployment.admin_key)
    investor_id = uid("i")
    key, key_id, token = deployment.issue_key("investor", investor_id)
    _, other_id, token = deployment.issue_key("investor", investor_id)
    _, token = accepted(admin.delete(f"/v1/keys/{key_id}", headers=waiting(token)))
    mine = admin.get("/v1/keys", params={"acts_for": investor_id}, headers=waiting(token)).json()
    assert [(k["id"], k["revoked"], k["role"]) for k in mine["data"]] == [(other_id, False, "investor"),
                                                                          (key_id, True, "investor")]
    assert not {"key", "key_hash"} & set(mine["data"][0]) and hash_key(key) not in json.dumps(mine)
    live = admin.get("/v1/keys", params={"acts_for": investor_id, "revoked": "false"}).json()
    assert [k["id"] for k in live["data"]] == [other_id]
    first = admin.get("/v1/keys", params={"role": "investor", "limit": 1}).json()
    assert len(first["data"]) == 1 and first["next_cursor"] and first["count"] >= 2
    assert all(k["role"] == "investor" for k in first["data"])
    r = admin.get("/v1/keys", params={"role": "janitor"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    r = deployment.client(key).get("/v1/keys")
    assert r.status_code == 401  # revoked
    r = deployment.as_role("registrar").get("/v1/keys")
    assert r.status_code == 403 and "only admins list keys" in r.json()["detail"]


def test_missing_unknown_malformed_and_revoked_keys_are_401s_with_a_bearer_challenge(deployment):
    anonymous = deployment.client()
    for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": "Bearer " + "k" * 5000}):
        r = anonymous.get("/v1/projects", headers=headers)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer"), headers
    key, key_id, token = deployment.issue_key("founder", uid("f"))
    assert deployment.client(key).get("/v1/projects", headers=waiting(token)).status_code == 200
    _, token = accepted(deployment.client(deployment.admin_key).delete(f"/v1/keys/{key_id}"))
    r = deployment.client(key).get("/v1/projects", headers=waiting(token))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_an_address_sending_too_many_unknown_keys_gets_429s_even_with_a_valid_key(deployment):
    # an app of its own over the same deployment, with a limit of 3, so that no other test's address is throttled
    settings = deployment.container.settings.model_copy(update={"auth_failures_per_minute": 3})
    container = SimpleNamespace(**{name: getattr(deployment.container, name)
                                   for name in ("view", "commands", "matches", "indexer")}, settings=settings)
    key, _, token = deployment.issue_key("founder", uid("f"))
    server = LiveServer(create_app(container)).start()
    try:
        client = httpx.Client(base_url=server.url, timeout=10)
        r = client.get("/v1/projects", headers={"Authorization": f"Bearer {key}", **waiting(token)})
        assert r.status_code == 200
        for _ in range(5):  # one stale key, however often, locks out no one
            r = client.get("/v1/projects", headers={"Authorization": "Bearer mmk_stale"})
            assert r.status_code == 401
        for guess in range(2):
            r = client.get("/v1/projects", headers={"Authorization": f"Bearer mmk_guess{guess}"})
            assert r.status_code == 401
        for headers in ({"Authorization": "Bearer mmk_guess3"}, {"Authorization": f"Bearer {key}"}):
            r = client.get("/v1/projects", headers=headers)
            assert r.status_code == 429 and "3 different unknown or revoked API keys" in r.json()["detail"]
            assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert client.get("/v1/projects").status_code == 401  # no key at all: told to send one, as before
    finally:
        server.stop()
    # the deployment's own app keeps its own count (per replica)
    assert deployment.client(key).get("/v1/projects").status_code == 200


def test_roles_and_ownership_give_403s_and_unknown_entities_404s(founder, investor):
    client, investor_id = investor
    assert client.post("/v1/projects", json=project_body()).status_code == 403
    assert founder.get(f"/v1/investors/{investor_id}/feed").status_code == 403
    assert founder.get("/v1/projects/p-doesnotexist").status_code == 404
    assert client.get("/v1/investors/i-doesnotexist/feed").status_code == 403  # not its own: role check first
    assert founder.post("/v1/intros/x-doesnotexist/accept").status_code == 404


@pytest.mark.parametrize("request_args", [
    ("DELETE", "/v1/projects", None),
    ("GET", "/v1/nowhere", None),
    ("POST", "/v1/projects", "[]"),
    ("POST", "/v1/projects", "null"),
    ("POST", "/v1/projects", '{"name": "\\u0000\\ud800", "summary": 5}'),
    ("POST", "/v1/projects", '{"sectors": "ai"}'),
    ("POST", "/v1/projects", '{"sectors": [["ai"]], "stage": ["seed"]}'),
    ("POST", "/v1/projects", '{"amount_sought_cny": 1e400}'),
    ("PUT", "/v1/projects/p-x", '{"expected_version": -1}'),
    ("POST", "/v1/intros", '{"project_id": "../../etc", "investor_id": "a b"}'),
    ("POST", "/v1/keys", '{"role": "god"}'),
    ("POST", "/v1/feedback", '{"project_id": "p", "action": "passed", "reason": "' + "r" * 5000 + '"}'),
    ("GET", "/v1/projects/" + "p" * 300, None),
    ("GET", "/v1/search?q=%00%FF&side=projects&k=100000", None),
])
def test_bad_input_is_never_a_500(founder, request_args):
    method, path, content = request_args
    r = founder.request(method, path, content=content, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:200]}"
    assert "detail" in r.json()


@pytest.mark.parametrize(("path", "change", "field", "says"), [
    ("/v1/projects", {"amount_sought_cny": True}, "amount_sought_cny", "must be an integer, not true"),
    ("/v1/projects", {"team_size": False}, "team_size", "must be an integer, not false"),
    ("/v1/investors", {"ticket_min_cny": True}, "ticket_min_cny", "must be an integer, not true"),
    ("/v1/investors", {"ticket_max_cny": True}, "ticket_max_cny", "must be an integer, not true"),
    ("/v1/investors", {"capacity_per_month": True}, "capacity_per_month", "must be an integer, not true"),
    ("/v1/projects/p-x", {"expected_version": True}, "expected_version", "must be an integer, not true"),
])
def test_true_and_false_are_refused_where_a_number_is_asked(deployment, path, change, field, says):
    client = deployment.as_role("investor" if "investors" in path else "founder", uid("x"))
    body = {**(investor_body() if "investors" in path else project_body()), **change}
    method = "PUT" if "expected_version" in change else "POST"
    assert _problems(client.request(method, path, json=body)) == {field: says}


def _roadshow_body(**change) -> dict:
    return {"title": "路演", "theme": "工业视觉", "date": "2026-12-10", "n_projects": 2, "m_investors": 2, **change}


def test_a_roadshow_start_time_with_a_utc_offset_or_past_midnight_meetings_are_refused(deployment):
    organizer = deployment.as_role("organizer", uid("o"))
    problems = _problems(organizer.post("/v1/roadshows", json=_roadshow_body(start_time="14:00-05:00")))
    assert list(problems) == ["start_time"]
    assert problems["start_time"].startswith("must be a time of day without a UTC offset, such as 14:00")
    assert "China Standard Time (UTC+8)" in problems["start_time"]
    problems = _problems(organizer.post("/v1/roadshows", json=_roadshow_body(start_time="23:00", slots=50,
                                                                             slot_minutes=240)))
    assert list(problems) == ["slots", "slot_minutes", "start_time"]
    assert "within the roadshow's day (by midnight)" in problems["slots"]
    assert _problems(organizer.post("/v1/roadshows", json=_roadshow_body(date=1))) == {
        "date": "must be a date written YYYY-MM-DD, such as 2026-12-10; got 1"}
    rid, token = accepted(organizer.post("/v1/roadshows", json=_roadshow_body(start_time="23:00", slots=3)))
    move = {"title": "路演", "city": "", "date": "2026-12-10", "start_time": "23:30", "slot_minutes": 20,
            "expected_version": 1}
    problems = _problems(organizer.put(f"/v1/roadshows/{rid}/logistics", json=move, headers=waiting(token)))
    assert list(problems) == ["slots", "slot_minutes", "start_time"]


@pytest.mark.parametrize("path", ["/v1/alerts/settings", "/v1/alerts"])
def test_an_admin_reading_alerts_without_saying_whose_is_told_both_fields(deployment, path):
    problems = _problems(deployment.client(deployment.admin_key).get(path))
    assert problems == dict.fromkeys(["recipient_role", "recipient_id"],
                                     "recipient_role and recipient_id are required when an admin acts for someone")


def test_a_lone_surrogate_and_a_body_without_content_type_are_explained(founder):
    content = json.dumps({**project_body(), "name": "\ud800"})  # ASCII JSON: the surrogate as the escape \ud800
    problems = _problems(founder.post("/v1/projects", content=content, headers={"content-type": "application/json"}))
    assert problems == {"name": "must be Unicode text; it holds a lone surrogate (half of a UTF-16 pair, such as "
                                "\\ud800); got '\\ud800'"}
    problems = _problems(founder.post("/v1/projects", content=json.dumps(project_body()).encode()))  # no header
    assert problems == {"body": "must be a JSON object sent with the header Content-Type: application/json"}


@pytest.mark.parametrize("role", ["registrar", "admin"])
def test_a_key_for_a_role_without_an_entity_refuses_an_entity_id(deployment, role):
    r = deployment.client(deployment.admin_key).post("/v1/keys", json={"role": role, "entity_id": "x"})
    assert _problems(r) == {"entity_id": f"is only for investor, founder and organizer keys; leave it out for a "
                                         f"{role} key, which acts for no one"}


def test_a_body_nested_too_deeply_is_told_so_not_that_it_is_not_utf8(founder):
    deep = b"[" * 100_000 + b"]" * 100_000
    problems = _problems(founder.post("/v1/projects", content=deep, headers={"content-type": "application/json"}))
    assert list(problems) == ["body"] and problems["body"].startswith("is nested too deeply to read")
    huge = json.dumps(project_body()).replace('"amount_sought_cny": ', '"amount_sought_cny": ' + "9" * 5000, 1)
    problems = _problems(founder.post("/v1/projects", content=huge, headers={"content-type": "application/json"}))
    assert problems == {"body": "has a number of more than 4300 digits, too long to read; no field takes a number "
                                "that long"}
