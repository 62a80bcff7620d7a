"""Plain lists (a founder's projects, the registry, saved searches) walked page by page over HTTP while the list
changes between pages: keyset cursors skip nothing, show again only what changed after it was shown (as changed,
at the end: the lists are oldest change first), and a cursor that is not theirs is a 422 naming `cursor`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.pagination import encode_cursor
from tests.e2e.helpers import accepted, investor_body, project_body, register, submit, uid, waiting

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def registrar(deployment) -> httpx.Client:
    return deployment.as_role("registrar")


def walk(client: httpx.Client, path: str, params: dict[str, Any], first: dict[str, Any],
         between: dict[int, Any]) -> list[tuple[str, int]]:
    """(id, version) of every item shown, from the page `first` on; before asking for the page after the n-th,
    `between[n]()` changes the list and returns the offset token the next read waits for."""
    shown: list[tuple[str, int]] = []
    body, pages = first, 1
    while True:
        shown += [(item["id"], item["version"]) for item in body["data"]]
        if body["next_cursor"] is None:
            return shown
        token = between[pages]() if pages in between else None
        r = client.get(path, params={**params, "cursor": body["next_cursor"]},
                       headers=waiting(token) if token else None)
        assert r.status_code == 200, r.text
        body, pages = r.json(), pages + 1


def test_the_registrars_queue_verified_page_by_page_shows_every_pending_profile_once(deployment, registrar):
    # the exploratory tester's walk: verifying a page's profiles took them out from under the offset cursor, so the
    # next page started two profiles too far; new and edited profiles come at the end (oldest change first)
    tag = uid("org")
    clients, pending, token = {}, [], None
    for n in range(5):
        clients[n], investor_id, token = register(deployment, None, organization=f"{tag} 天使 {n}")
        registrar.get(f"/v1/investors/{investor_id}", headers=waiting(token))  # applied in this order
        pending.append(investor_id)
    params = {"q": tag, "verification": "pending", "limit": 2}
    first = registrar.get("/v1/registrar/investors", params=params, headers=waiting(token)).json()
    assert [i["id"] for i in first["data"]] == pending[:2] and first["count"] == 5

    def review_the_first_page() -> str:  # each write waits for the one before: the next read waits for the last
        _, token = accepted(registrar.post(f"/v1/investors/{pending[0]}/verify"))
        _, token = accepted(registrar.post(f"/v1/investors/{pending[1]}/verify", headers=waiting(token)))
        registrar.get(f"/v1/investors/{pending[1]}", headers=waiting(token))
        _, newcomer, token = register(deployment, None, organization=f"{tag} 新 new")
        pending.append(newcomer)
        _, token = accepted(clients[3].put(f"/v1/investors/{pending[3]}", headers=waiting(token), json={
            **investor_body(organization=f"{tag} 天使 3", thesis="储能与氢能 energy storage"), "expected_version": 1}))
        _, token = accepted(registrar.post(f"/v1/investors/{pending[4]}/reject", headers=waiting(token),
                                           json={"reason": "资金来源存疑"}))
        return token  # edited while pending: still in the queue, at its end; rejected: out of it

    shown = walk(registrar, "/v1/registrar/investors", params, first, {1: review_the_first_page})
    assert shown == [(pending[0], 1), (pending[1], 1), (pending[2], 1), (pending[5], 1), (pending[3], 2)]


def test_a_founder_pages_its_projects_while_editing_and_adding_and_misses_none(deployment):
    founder = deployment.as_role("founder", uid("f"))
    own, token = [], None
    for n in range(7):
        pid, token = submit(founder, after=token, name=f"翻页项目 Paging {n}")
        own.append(pid)
    first = founder.get("/v1/projects", params={"limit": 3}, headers=waiting(token)).json()
    assert [p["id"] for p in first["data"]] == own[:3]

    def change() -> str:
        # the tester's PUT on a project of the first page: it moved to the end, so every later project moved up
        # one place and an offset cursor skipped one of them
        _, token = accepted(founder.put(f"/v1/projects/{own[0]}", json={**project_body(name="改过 Edited 0"),
                                                                          "expected_version": 1}))
        _, token = accepted(founder.put(f"/v1/projects/{own[4]}", headers=waiting(token), json={
            **project_body(name="改过 Edited 4"), "expected_version": 1}))
        pid, token = submit(founder, after=token, name="新项目 New")
        own.append(pid)
        _, token = accepted(founder.post(f"/v1/projects/{own[5]}/withdraw", headers=waiting(token)))
        return token  # withdrawn: still the founder's, so listed

    shown = walk(founder, "/v1/projects", {"limit": 3}, first, {1: change})
    assert shown == [(own[0], 1), (own[1], 1), (own[2], 1), (own[3], 1), (own[6], 1),
                     (own[0], 2), (own[4], 2), (own[7], 1), (own[5], 2)]
    assert {pid for pid, _ in shown} == set(own) and len(set(shown)) == len(shown)


def test_an_investor_pages_its_saved_searches_while_saving_editing_and_deleting_and_misses_none(deployment):
    investor, _, token = register(deployment, deployment.as_role("registrar"))
    saved = []
    for n in range(6):
        sid, token = accepted(investor.post("/v1/alerts/searches", json={"name": f"搜索 {n}", "text": f"词{n}"},
                                            headers=waiting(token)))
        saved.append(sid)
    first = investor.get("/v1/alerts/searches", params={"limit": 2}, headers=waiting(token)).json()
    assert [s["id"] for s in first["data"]] == saved[:2] and first["count"] == 6

    def change() -> str:
        _, token = accepted(investor.delete(f"/v1/alerts/searches/{saved[1]}"))  # shown, then deleted
        _, token = accepted(investor.delete(f"/v1/alerts/searches/{saved[3]}",  # deleted before it was reached
                                            headers=waiting(token)))
        _, token = accepted(investor.put(f"/v1/alerts/searches/{saved[2]}", headers=waiting(token),
                                         json={"text": "储能", "expected_version": 1}))
        sid, token = accepted(investor.post("/v1/alerts/searches", headers=waiting(token),
                                            json={"name": "新 new", "sectors": ["ai"]}))
        saved.append(sid)
        _, token = accepted(investor.put(f"/v1/alerts/searches/{saved[0]}", headers=waiting(token),
                                         json={"text": "氢能", "expected_version": 1}))
        return token

    shown = walk(investor, "/v1/alerts/searches", {"limit": 2}, first, {1: change})
    assert shown == [(saved[0], 1), (saved[1], 1), (saved[4], 1), (saved[5], 1), (saved[2], 2), (saved[6], 1),
                     (saved[0], 2)]


@pytest.mark.parametrize("path", ["/v1/projects", "/v1/registrar/investors", "/v1/alerts/searches"])
@pytest.mark.parametrize(("cursor", "says"), [
    ("bm90LWEtY3Vyc29y", ""),  # base64 of "not-a-cursor"
    (encode_cursor(2), ", an offset cursor, which this list no longer takes: start again from the first page"),
])
def test_a_plain_lists_cursor_that_is_not_its_own_is_a_422_naming_cursor(deployment, path, cursor, says):
    who = {"/v1/projects": ("founder", uid("f")), "/v1/registrar/investors": ("registrar", None),
           "/v1/alerts/searches": ("founder", uid("f"))}[path]
    r = deployment.as_role(*who).get(path, params={"cursor": cursor})
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"field": "cursor", "message": "must be the next_cursor of this list's previous "
                                                                 f"page (leave it out for the first page); got "
                                                                 f"{cursor!r}{says}"}]


def test_saved_searches_refuse_text_without_a_letter_or_digit_and_no_criteria_as_search_does(deployment):
    investor, _, token = register(deployment, deployment.as_role("registrar"))
    admin = deployment.client(deployment.admin_key)
    r = admin.get("/v1/search", params={"q": "🔋"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "q"
    for text in ("🔋", ",,, ,"):
        r = investor.post("/v1/alerts/searches", json={"text": text}, headers=waiting(token))
        assert r.status_code == 422 and r.json()["errors"] == [
            {"field": "text", "message": f"must contain a letter or digit (Chinese, English or mixed); got {text!r}"}]
    no_criteria = {"field": "body", "message": "a saved search needs a criterion: text, sectors, stages, cities, "
                                               "ticket_min_cny, ticket_max_cny or a min_score above 0 (one without "
                                               "any would match everything)"}
    r = investor.post("/v1/alerts/searches", json={"name": "一切 everything"})
    assert r.status_code == 422 and r.json()["errors"] == [no_criteria]
    sid, _ = accepted(investor.post("/v1/alerts/searches", json={"name": "合适的 what fits", "min_score": 0.5}))
    r = investor.put(f"/v1/alerts/searches/{sid}", json={"name": "一切 everything", "expected_version": 1})
    assert r.status_code == 422 and r.json()["errors"] == [no_criteria]
