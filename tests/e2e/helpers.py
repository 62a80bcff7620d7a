"""Request bodies and small steps the end-to-end tests share."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from consumers import alerts as alerting
from tests.factories import investor, project
from tests.fakes import HashingEncoder


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def project_body(**overrides: Any) -> dict[str, Any]:
    """A valid ProjectCreate body (the factory's project, minus the fields the service sets)."""
    return project(**overrides).model_dump(mode="json", exclude={"status", "owner"})


def investor_body(**overrides: Any) -> dict[str, Any]:
    return investor(**overrides).model_dump(mode="json", exclude={"verification", "rejection_reason", "status"})


def accepted(r: httpx.Response) -> tuple[str, str]:
    """(entity id, offset token) of a 202."""
    assert r.status_code == 202, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body = r.json()
    return body["entity_id"], body["offset_token"]


def waiting(token: str) -> dict[str, str]:
    return {"X-Wait-For": token}


def submit(client: httpx.Client, after: str | None = None, **overrides: Any) -> tuple[str, str]:
    return accepted(client.post("/v1/projects", json=project_body(**overrides),
                                headers=waiting(after) if after else None))


def register(dep: Any, registrar: httpx.Client | None, investor_id: str | None = None, **overrides: Any
             ) -> tuple[httpx.Client, str, str]:
    """A new investor key and profile; verified by `registrar` unless it is None. (client, id, token)"""
    investor_id = investor_id or uid("i")
    client = dep.as_role("investor", investor_id)
    _, token = accepted(client.post("/v1/investors", json=investor_body(**overrides)))
    if registrar is not None:
        _, token = accepted(registrar.post(f"/v1/investors/{investor_id}/verify", headers=waiting(token)))
    return client, investor_id, token


def seed_market(dep: Any, registrar: httpx.Client, projects: int, investors: int, project_name: str,
                investor_name: str) -> tuple[dict[str, httpx.Client], dict[str, httpx.Client], str]:
    """`projects` founders with an industrial-vision project each and `investors` verified investors, numbered
    after the given names: (founder client by project id, investor client by investor id, last offset token)."""
    founders, token = {}, None
    for n in range(projects):
        client = dep.as_role("founder", uid("f"))
        pid, token = submit(client, after=token, name=f"{project_name} {n}", summary=f"第{n}个工业视觉质检与机器人项目")
        founders[pid] = client
    clients = {}
    for n in range(investors):
        client, iid, token = register(dep, registrar, name=f"{investor_name} {n}", organization=f"fund-{n}")
        clients[iid] = client
    assert token is not None, "seed at least one project or investor"
    return founders, clients, token


def request_and_accept(founder: httpx.Client, investor: httpx.Client, project_id: str, investor_id: str,
                       after: str | None = None) -> tuple[str, str]:
    intro_id, token = accepted(founder.post("/v1/intros", json={"project_id": project_id, "investor_id": investor_id,
                                                                "message": "想约您聊聊 / let's talk"},
                                            headers=waiting(after) if after else None))
    _, token = accepted(investor.post(f"/v1/intros/{intro_id}/accept", headers=waiting(token)))
    return intro_id, token


@contextmanager
def alerter_running(dep: Any) -> Iterator[None]:
    """The deal alerter (consumers.alerts), which the e2e deployment does not run, on the deployment's log: built,
    caught up and followed as tests/integration/alert_rig.py does (vectors of the fake encoder the embedder uses)."""
    alerter = alerting.build(dep.settings, vectors_of=HashingEncoder())
    alerter.catch_up(timeout=60)
    alerter.start()
    try:
        yield
    finally:
        alerter.stop(snapshot=False)
