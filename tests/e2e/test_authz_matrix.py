"""Authorization matrix: every route x every role x own/other entity -> the exact status expected; and no
contact detail in any response to anyone without an accepted intro linking the two (owners and admins aside).

World: founders A and B with projects PA and PB; verified investors IA and IB; a pending investor IP; an
accepted intro PA<->IA (so A sees IA's contact and IA sees PA's). For a role without entities of its own
(admin, registrar, organizer) "own" means A's side and "other" B's. A write that is allowed and changes state
(withdraw, reject, accept, revoke, ...) gets a fresh target of its own, so cases never depend on order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import (
    accepted,
    investor_body,
    project_body,
    register,
    request_and_accept,
    submit,
    uid,
    waiting,
)

pytestmark = pytest.mark.kafka

ROLES = ("anonymous", "admin", "registrar", "organizer", "founder", "investor")
CONTACTS = {  # entity -> its contact, every value unique so a leak is found by substring
    "PA": {"email": "pa@founder-a.example", "phone": "13800000001", "wechat": "pa_wechat"},
    "PB": {"email": "pb@founder-b.example", "phone": "13800000002", "wechat": "pb_wechat"},
    "IA": {"email": "ia@investor-a.example", "phone": "13900000001", "wechat": "ia_wechat"},
    "IB": {"email": "ib@investor-b.example", "phone": "13900000002", "wechat": "ib_wechat"},
    "IP": {"email": "ip@pending.example", "phone": "13900000003", "wechat": "ip_wechat"},
}
VISIBLE = {  # role -> the entities whose contact it may see
    "admin": set(CONTACTS), "founder": {"PA", "IA"}, "investor": {"IA", "PA"},
    "anonymous": set(), "registrar": set(), "organizer": set(),
}


@dataclass
class World:
    dep: Any
    clients: dict[str, httpx.Client]
    ids: dict[str, str]
    founder_b: httpx.Client
    spare_key: str
    token: str = ""
    fresh: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str) -> httpx.Client:
        return self.clients[role]


@pytest.fixture(scope="module")
def world(deployment) -> World:
    dep = deployment
    registrar = dep.as_role("registrar")
    founder_a, founder_b = dep.as_role("founder", uid("fa")), dep.as_role("founder", uid("fb"))
    pa, _ = submit(founder_a, contact=CONTACTS["PA"])
    pb, token = submit(founder_b, contact=CONTACTS["PB"])
    investor_a, ia, _ = register(dep, registrar, contact=CONTACTS["IA"])
    investor_b, ib, _ = register(dep, registrar, contact=CONTACTS["IB"])
    _, ip, token = register(dep, None, contact=CONTACTS["IP"])
    _, token = request_and_accept(founder_a, investor_a, pa, ia, after=token)
    # an intro asked of IB (B's side): the "other" target of accept/decline
    xb, token = accepted(founder_b.post("/v1/intros", json={"project_id": pb, "investor_id": ib},
                                        headers=waiting(token)))
    _, spare_key, token = dep.issue_key("organizer", uid("org"))
    clients = {"anonymous": dep.client(), "admin": dep.client(dep.admin_key), "registrar": registrar,
               "organizer": dep.as_role("organizer", uid("org")), "founder": founder_a, "investor": investor_a}
    for client in clients.values():  # every reader starts from a read model holding the whole world
        client.headers["X-Wait-For"] = token
    return World(dep=dep, clients=clients, ids={"PA": pa, "PB": pb, "IA": ia, "IB": ib, "IP": ip, "XB": xb},
                 founder_b=founder_b, spare_key=spare_key, token=token)


# ---- fresh targets for allowed, state-changing cases --------------------------------------------------
def fresh_project(w: World, role: str, target: str) -> tuple[httpx.Client, str]:
    owner = w.client("founder") if target == "own" else w.founder_b
    pid, token = submit(owner)
    w.client(role).headers["X-Wait-For"] = token
    return w.client(role), pid


def fresh_investor(w: World, role: str, target: str, verify: bool = True) -> tuple[httpx.Client, str]:
    client, iid, token = register(w.dep, w.client("admin") if verify else None)
    if role == "investor" and target == "own":
        client.headers["X-Wait-For"] = token
        return client, iid  # the fresh investor acts on its own profile
    w.client(role).headers["X-Wait-For"] = token
    return w.client(role), iid


def _intro_with_caller(w: World, role: str, caller_asks: bool) -> tuple[httpx.Client, str]:
    """A fresh intro between founder A's new project and investor IA, asked by the caller or of it."""
    founder, investor = w.client("founder"), w.client("investor")
    pid, token = submit(founder)
    caller, other = (investor, founder) if role == "investor" else (founder, investor)
    asker = caller if caller_asks else other
    xid, token = accepted(asker.post("/v1/intros", json={"project_id": pid, "investor_id": w.ids["IA"]},
                                     headers=waiting(token)))
    w.client(role).headers["X-Wait-For"] = token
    return w.client(role), xid


def fresh_intro(w: World, role: str, target: str) -> tuple[httpx.Client, str]:
    """An intro asked of the caller (to accept or decline)."""
    return _intro_with_caller(w, role, caller_asks=False)


def fresh_own_request(w: World, role: str, target: str) -> tuple[httpx.Client, str]:
    """An intro the caller asked for (to withdraw)."""
    return _intro_with_caller(w, role, caller_asks=True)


def fresh_key(w: World, role: str, target: str) -> tuple[httpx.Client, str]:
    _, key_id, token = w.dep.issue_key("organizer", uid("org"))
    w.client(role).headers["X-Wait-For"] = token
    return w.client(role), key_id


# ---- the routes ---------------------------------------------------------------------------------------
Expect = dict[str, int | tuple[int, int]]  # role -> status, or (own, other)


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # "{id}" is the target entity's id
    expect: Expect
    kind: str | None = None  # the kind of target: project, investor, intro, key; None: no target
    body: Callable[[World, str, str], Any] | None = None
    fresh: Callable[..., tuple[httpx.Client, str]] | None = None  # for allowed state changes
    targets: tuple[str, ...] = ("own", "other")


def _everyone(status: int) -> Expect:
    return dict.fromkeys(ROLES[1:], status)


def _only(status: int, **allowed: int | tuple[int, int]) -> Expect:
    return {**dict.fromkeys(ROLES[1:], status), **allowed}


DENY = 403
ROUTES = [
    Route("projects.submit", "POST", "/v1/projects", _only(DENY, founder=202),
          body=lambda w, r, t: project_body()),
    Route("projects.list", "GET", "/v1/projects", _only(DENY, founder=200, admin=200)),
    Route("projects.read", "GET", "/v1/projects/{id}", _only(200, founder=(200, DENY)), "project"),
    Route("projects.update", "PUT", "/v1/projects/{id}", _only(DENY, founder=(409, DENY), admin=409), "project",
          body=lambda w, r, t: {**project_body(), "expected_version": 999}),
    Route("projects.withdraw", "POST", "/v1/projects/{id}/withdraw", _only(DENY, founder=(202, DENY), admin=202),
          "project", fresh=fresh_project),
    Route("projects.reopen", "POST", "/v1/projects/{id}/reopen", _only(DENY, founder=(409, DENY), admin=409),
          "project"),  # the targets are open: allowed callers learn a project becomes open only from withdrawn
    Route("projects.funded", "POST", "/v1/projects/{id}/funded", _only(DENY, founder=(202, DENY), admin=202),
          "project", fresh=fresh_project),
    Route("projects.investors", "GET", "/v1/projects/{id}/investors", _only(DENY, founder=(200, DENY), admin=200),
          "project"),
    Route("investors.register", "POST", "/v1/investors", _only(DENY, investor=202),
          body=lambda w, r, t: investor_body(), fresh=lambda w, r, t: (w.dep.as_role("investor", uid("i")), "")),
    Route("investors.read", "GET", "/v1/investors/{id}", _only(200, investor=(200, DENY)), "investor"),
    Route("investors.read_pending", "GET", "/v1/investors/{id}",
          _only(404, investor=DENY, registrar=200, admin=200), "investor", targets=("pending",)),
    Route("investors.update", "PUT", "/v1/investors/{id}", _only(DENY, investor=(409, DENY), admin=409),
          "investor", body=lambda w, r, t: {**investor_body(), "expected_version": 999}),
    Route("investors.withdraw", "POST", "/v1/investors/{id}/withdraw", _only(DENY, investor=(202, DENY), admin=202),
          "investor", fresh=fresh_investor),
    Route("registrar.pending", "GET", "/v1/registrar/pending", _only(DENY, registrar=200, admin=200)),
    Route("registrar.investors", "GET", "/v1/registrar/investors", _only(DENY, registrar=200, admin=200)),
    Route("investors.verify", "POST", "/v1/investors/{id}/verify", _only(DENY, registrar=202, admin=202),
          "investor", fresh=lambda w, r, t: fresh_investor(w, r, t, verify=False)),
    Route("investors.reject", "POST", "/v1/investors/{id}/reject", _only(DENY, registrar=202, admin=202),
          "investor", body=lambda w, r, t: {"reason": "cannot verify"},
          fresh=lambda w, r, t: fresh_investor(w, r, t, verify=False)),
    Route("matches.feed", "GET", "/v1/investors/{id}/feed", _only(DENY, investor=(200, DENY), admin=200),
          "investor"),
    Route("matches.search", "GET", "/v1/search?q=%E6%99%BA%E8%83%BD%E5%88%B6%E9%80%A0&side=investors",
          _only(DENY, organizer=200, admin=200)),
    Route("feedback.give", "POST", "/v1/feedback", _only(DENY, investor=202), "project",
          body=lambda w, r, t: {"project_id": w.ids["PA" if t == "own" else "PB"], "action": "viewed"}),
    Route("feedback.passes", "GET", "/v1/feedback/passes", _only(DENY, investor=200)),
    Route("intros.request", "POST", "/v1/intros", _only(DENY, founder=(202, DENY), investor=(202, DENY)), "intro",
          body=lambda w, r, t: _intro_request(w, r, t)),
    Route("intros.accept", "POST", "/v1/intros/{id}/accept", _only(DENY, founder=(202, DENY), investor=(202, DENY)),
          "intro", fresh=fresh_intro),
    Route("intros.decline", "POST", "/v1/intros/{id}/decline",
          _only(DENY, founder=(202, DENY), investor=(202, DENY)), "intro", body=lambda w, r, t: {"reason": "busy"},
          fresh=fresh_intro),
    Route("intros.withdraw", "POST", "/v1/intros/{id}/withdraw",
          _only(DENY, founder=(202, DENY), investor=(202, DENY)), "intro", fresh=fresh_own_request),
    Route("intros.list", "GET", "/v1/intros", _only(DENY, founder=200, investor=200, admin=200)),
    Route("keys.issue", "POST", "/v1/keys", _only(DENY, admin=202),
          body=lambda w, r, t: {"role": "organizer", "entity_id": uid("org")}),
    Route("keys.revoke", "DELETE", "/v1/keys/{id}", _only(DENY, admin=202), "key", fresh=fresh_key),
    Route("keys.list", "GET", "/v1/keys", _only(DENY, admin=200)),
    Route("ops.healthz", "GET", "/healthz", _everyone(200)),
    Route("ops.metrics", "GET", "/metrics", _everyone(200)),
]
PUBLIC = {"ops.healthz", "ops.metrics"}


def _intro_request(w: World, role: str, target: str) -> dict[str, str]:
    # own: the caller's side (founder A's fresh project / investor IA itself); other: B's side
    if role == "investor":
        return {"project_id": w.fresh.get("project", w.ids["PB"]), "investor_id": w.ids["IA" if target == "own"
                                                                                         else "IB"]}
    return {"project_id": w.fresh.get("project", w.ids["PA" if target == "own" else "PB"]), "investor_id": w.ids["IB"]}


def expected(route: Route, role: str, target: str | None) -> int:
    if role == "anonymous":
        return 200 if route.name in PUBLIC else 401
    status = route.expect[role]
    if isinstance(status, tuple):
        return status[0] if target == "own" else status[1]
    return status


def target_id(w: World, route: Route, target: str) -> str:
    if route.kind == "project":
        return w.ids["PA" if target == "own" else "PB"]
    if route.kind == "investor":
        return w.ids["IP" if target == "pending" else "IA" if target == "own" else "IB"]
    if route.kind == "intro":
        return w.ids["XB"]  # allowed answers use a fresh intro asked of the caller
    if route.kind == "key":
        return w.spare_key
    return ""


CASES = [pytest.param(route, role, target, id=f"{route.name}-{role}" + (f"-{target}" if target else ""))
         for route in ROUTES for role in ROLES
         for target in (route.targets if route.kind is not None else (None,))]


def test_matrix_size():
    print(f"authorization matrix: {len(CASES)} cases ({len(ROUTES)} routes x {len(ROLES)} roles x targets)")
    assert len(CASES) >= 250


@pytest.mark.parametrize(("route", "role", "target"), CASES)
def test_route_is_allowed_or_denied_by_role_and_ownership(world: World, route: Route, role: str, target: str | None):
    want = expected(route, role, target)
    client, entity = world.client(role), target_id(world, route, target or "")
    world.fresh = {}
    if want // 100 == 2 and route.fresh is not None and role != "anonymous":
        client, entity = route.fresh(world, role, target)
    if route.name == "intros.request" and want == 202:
        client, world.fresh["project"] = fresh_project(world, role, "own" if role == "founder" else "other")
    body = route.body(world, role, target or "") if route.body else None
    r = client.request(route.method, route.path.replace("{id}", entity), json=body)
    assert r.status_code == want, f"{route.method} {route.path} as {role}/{target}: {r.status_code} {r.text[:300]}"
    if r.status_code == 401:
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_no_foreign_contact(role, r.text)


def assert_no_foreign_contact(role: str, text: str) -> None:
    for entity, contact in CONTACTS.items():
        if entity in VISIBLE[role]:
            continue
        for value in contact.values():
            assert value not in text, f"{role} was shown {entity}'s contact {value!r}"


READS = ["/v1/projects", "/v1/projects/{PA}", "/v1/projects/{PB}", "/v1/investors/{IA}", "/v1/investors/{IB}",
         "/v1/investors/{IP}", "/v1/registrar/pending", "/v1/registrar/investors", "/v1/intros",
         "/v1/investors/{IA}/feed?k=50",
         "/v1/investors/{IB}/feed?k=50", "/v1/projects/{PA}/investors?k=50", "/v1/projects/{PB}/investors?k=50",
         "/v1/search?q=visionqc&side=projects&k=50", "/v1/search?q=angels&side=investors&k=50"]


@pytest.mark.parametrize("role", ROLES)
def test_contact_details_reach_only_owners_admins_and_accepted_counterparts(world: World, role: str):
    client, shown = world.client(role), ""
    for path in READS:
        for name, value in world.ids.items():
            path = path.replace("{" + name + "}", value)
        r = client.get(path)
        assert r.status_code < 500
        assert_no_foreign_contact(role, r.text)
        shown += r.text
    for entity in VISIBLE[role] & {"PA", "IA"}:  # what may be seen is in fact shown somewhere
        assert CONTACTS[entity]["email"] in shown, f"{role} never saw {entity}'s contact"


def test_an_investor_reads_the_library_once_verified_and_after_a_rejection_only_its_intros_projects(world: World):
    dep, registrar = world.dep, world.client("registrar")
    pending, iid, token = register(dep, None)
    r = pending.get(f"/v1/projects/{world.ids['PA']}", headers=waiting(token))
    assert r.status_code == 409 and "the project library opens once a registrar has verified" in r.json()["detail"]
    r = pending.post("/v1/alerts/searches", json={"name": "all", "text": "visionqc"})
    assert r.status_code == 409 and "saved searches open once" in r.json()["detail"]
    r = pending.post("/v1/feedback", json={"project_id": world.ids["PA"], "action": "passed", "reason": "x"})
    assert r.status_code == 409 and "feedback on projects opens once" in r.json()["detail"]  # else its passes show it
    _, token = accepted(registrar.post(f"/v1/investors/{iid}/verify", headers=waiting(token)))
    assert pending.get(f"/v1/projects/{world.ids['PA']}", headers=waiting(token)).status_code == 200
    _, token = accepted(pending.post("/v1/feedback", json={"project_id": world.ids["PA"], "action": "passed",
                                                           "reason": "not for us"}))
    _, token = accepted(pending.post("/v1/intros", json={"project_id": world.ids["PB"], "investor_id": iid},
                                     headers=waiting(token)))
    _, token = accepted(registrar.post(f"/v1/investors/{iid}/reject", json={"reason": "funds unverifiable"},
                                       headers=waiting(token)))
    assert pending.get(f"/v1/projects/{world.ids['PA']}", headers=waiting(token)).status_code == 409
    assert pending.get(f"/v1/projects/{world.ids['PB']}").status_code == 200  # it asked for an intro to PB
    assert pending.get("/v1/feedback/passes").json()["data"] == []  # PA, passed while verified, is closed to it now
    ghost = dep.as_role("investor", uid("ghost"))  # a key for an investor that never registered
    r = ghost.get(f"/v1/projects/{world.ids['PA']}")
    assert r.status_code == 409 and "not registered" in r.json()["detail"]
