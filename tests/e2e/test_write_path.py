"""The write path under load and under failure: concurrent writers, and a broker that goes away."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import Counter, defaultdict

import httpx
import pytest

from api.app import create_app
from bootstrap import build
from consumers.broker import REPO_ROOT, LocalBroker, free_port_pair
from consumers.producer import EventProducer
from matcher.commands import CommandService
from models.events import decode_event
from models.settings import Settings
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import accepted, project_body, seed_market, submit, uid, waiting
from tests.fakes import HashingEncoder
from tests.integration.kafka_helpers import read_all

pytestmark = pytest.mark.kafka

CLIENTS, CHAINED, SHARED = 5, 10, 10  # per client: 10 writes to its own project, 10 to one shared project


def _update(client: httpx.Client, pid: str, version: int, marker: str) -> httpx.Response:
    return client.put(f"/v1/projects/{pid}", json={**project_body(traction=marker), "expected_version": version})


def test_concurrent_writes_land_exactly_once_with_strictly_increasing_versions(deployment):
    founder_id = uid("f")
    keys = [deployment.issue_key("founder", founder_id) for _ in range(CLIENTS)]
    clients = [deployment.client(key) for key, _, _ in keys]
    owned = [submit(c, after=keys[-1][2]) for c in clients]
    shared, _ = submit(clients[0], after=owned[-1][1])
    acked: dict[str, list[str]] = defaultdict(list)  # project -> markers of the 202s
    shared_tokens: list[str] = []
    conflicts = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        client, (own, own_token) = clients[n], owned[n]
        version, last = 1, own_token
        try:
            for j in range(CHAINED):  # a chain: each write is based on the version the previous one returned
                r = _update(client, own, version, f"c{n}-own-{j}")
                version = r.json()["version"] if r.status_code == 202 else -1
                assert r.status_code == 202, r.text
                with lock:
                    acked[own].append(f"c{n}-own-{j}")
            for j in range(SHARED):  # optimistic concurrency on one entity: re-read and retry on 409
                for _ in range(400):
                    current = client.get(f"/v1/projects/{shared}", headers=waiting(last)).json()["version"]
                    r = _update(client, shared, current, f"c{n}-shared-{j}")
                    if r.status_code == 202:
                        last = r.json()["offset_token"]
                        with lock:
                            acked[shared].append(f"c{n}-shared-{j}")
                            shared_tokens.append(last)
                        break
                    assert r.status_code == 409, r.text
                    with lock:
                        conflicts[n] += 1
                    time.sleep(0.02)
                else:
                    raise AssertionError(f"client {n} never got its shared write {j} in")
        except BaseException as exc:  # reported by the main thread
            errors.append(f"client {n}: {exc!r}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(len(m) for m in acked.values()) == CLIENTS * (CHAINED + SHARED) == 100

    events = [decode_event(r.value) for r in read_all(deployment.settings.kafka_bootstrap_servers,
                                                      deployment.container.topics.projects)]
    for pid, markers in acked.items():
        mine = [e for e in events if e.entity_id == pid]  # partition order = log order for one key
        assert [e.entity_version for e in mine] == list(range(1, len(markers) + 2))  # submit + each update
        landed = Counter(e.payload.traction for e in mine[1:])
        assert landed == Counter(markers), "each acknowledged write is in the log exactly once, and nothing else"
    newest = max(shared_tokens, key=lambda t: int(t.rsplit(":", 1)[1]))  # one key: one partition
    final = clients[0].get(f"/v1/projects/{shared}", headers=waiting(newest))
    assert final.json()["version"] == SHARED * CLIENTS + 1
    print(f"100 writes, {sum(conflicts.values())} optimistic-concurrency retries on the shared project")



def _at_once(*requests) -> list[httpx.Response]:
    """Send the requests (callables) from threads released together, as a double click or two users would."""
    barrier, out = threading.Barrier(len(requests)), [None] * len(requests)

    def run(n: int) -> None:
        barrier.wait()
        out[n] = requests[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out  # type: ignore[return-value]


def test_concurrent_commands_on_one_entity_never_lose_an_acknowledged_change(deployment):
    """Commands that derive the new state from the current one (RSVPs, status changes, intro answers) used to
    build concurrently on the same version: both got 202 and the later event erased the earlier change."""
    dep = deployment
    registrar = dep.as_role("registrar")
    founders, investors, token = seed_market(dep, registrar, 3, 3, "并发路演项目", "并发天使")
    organizer = dep.as_role("organizer", uid("org"))
    rid, token = accepted(organizer.post("/v1/roadshows", headers=waiting(token), json={
        "title": "并发路演", "theme": "工业视觉 机器人 industrial AI", "sectors": ["smart_manufacturing"],
        "date": "2026-12-10", "n_projects": 3, "m_investors": 3, "slots": 2, "tables": 3, "min_fits": 0,
        "fit_threshold": 0.0}))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/roster", headers=waiting(token)))
    _, token = accepted(organizer.post(f"/v1/roadshows/{rid}/invitations", headers=waiting(token)))
    invited = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(token)).json()["roadshow"]["invitations"]
    clients = {**founders, **investors}
    answers = _at_once(*[lambda i=i: clients[i["invitee_id"]].post(
        f"/v1/roadshows/{rid}/invitations/{i['invitee_id']}/accept") for i in invited])
    assert [r.status_code for r in answers] == [202] * len(invited), [r.text for r in answers]
    newest = max((r.json() for r in answers), key=lambda b: b["version"])["offset_token"]
    final = organizer.get(f"/v1/roadshows/{rid}", headers=waiting(newest)).json()
    assert final["version"] == 3 + len(invited)
    assert {i["invitee_id"]: i["status"] for i in final["roadshow"]["invitations"]} == {
        i["invitee_id"]: "accepted" for i in invited}

    # a double click on "request intro": one intro, the other click is told it exists
    pid, iid = next(iter(founders)), next(iter(investors))
    clicks = _at_once(*[lambda: founders[pid].post("/v1/intros", json={
        "project_id": pid, "investor_id": iid, "message": "想约您聊聊"})] * 2)
    assert sorted(r.status_code for r in clicks) == [202, 409], [r.text for r in clicks]

    # an edit and a withdrawal at once: whichever lands second builds on the first
    founder = founders[pid]
    edit, withdraw = _at_once(
        lambda: founder.put(f"/v1/projects/{pid}", json={**project_body(name="并发改名"), "expected_version": 1}),
        lambda: founder.post(f"/v1/projects/{pid}/withdraw"))
    assert withdraw.status_code == 202 and edit.status_code in (202, 409), (edit.text, withdraw.text)
    newest = max((r.json() for r in (edit, withdraw) if r.status_code == 202), key=lambda b: b["version"])
    project = founder.get(f"/v1/projects/{pid}", headers=waiting(newest["offset_token"])).json()
    assert project["status"] == "withdrawn"
    if edit.status_code == 202:
        assert project["name"] == "并发改名", "the acknowledged edit was erased"


@pytest.mark.slow
def test_writes_during_a_broker_outage_get_503_and_every_202_survives_it(tmp_path):
    # A broker of its own (never the session's): the jars are shared with the other local brokers.
    broker = LocalBroker(home=REPO_ROOT / ".cache" / f"kafka-e2e-outage-{uuid.uuid4().hex[:6]}",
                         port=free_port_pair())
    broker.start()
    server = container = None
    try:
        settings = Settings(kafka_bootstrap_servers=broker.bootstrap, topic_prefix="outage",
                            admin_api_key=uuid.uuid4().hex, snapshot_dir=tmp_path)
        container = build(settings, encoder=HashingEncoder())
        container.producer.close()  # a short acknowledgement timeout, so that clients hear of the outage fast
        container.producer = EventProducer(broker.bootstrap, timeout_s=3.0)
        container.commands = CommandService(container.view, container.producer, container.topics.for_event_type)
        container.start()
        server = LiveServer(create_app(container)).start()
        admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {settings.admin_api_key}"},
                             timeout=30)
        r = admin.post("/v1/keys", json={"role": "founder", "entity_id": "f-outage"})
        key, token = r.json()["key"], r.json()["offset_token"]

        results: list[tuple[str, httpx.Response]] = []
        failures: list[str] = []
        stop = threading.Event()

        def writer(n: int) -> None:
            client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}",
                                                                 "X-Wait-For": token}, timeout=30)
            j = 0
            try:
                while not stop.is_set():
                    name = f"outage-{n}-{j}"
                    results.append((name, client.post("/v1/projects", json=project_body(name=name))))
                    j += 1
                    time.sleep(0.05)
            except BaseException as exc:  # reported by the main thread
                failures.append(f"writer {n} after {j} writes: {exc!r} (server alive: {server.thread.is_alive()})")
            finally:
                client.close()

        def count(status: int) -> int:
            return sum(1 for _, r in list(results) if r.status_code == status)

        def until(predicate, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not predicate():
                assert time.monotonic() < deadline, (Counter(r.status_code for _, r in results), failures)
                time.sleep(0.1)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        until(lambda: count(202) >= 15, 30)
        broker.stop(kill=True)
        until(lambda: count(503) >= 3, 30)
        ready = httpx.get(f"{server.url}/readyz", timeout=30)  # says why, not just "catching up"
        assert ready.status_code == 503 and ready.json()["status"] == "broker_unreachable" and ready.json()["error"]
        broker.start()
        before = count(202)
        until(lambda: count(202) >= before + 10, 60)
        stop.set()
        for t in threads:
            t.join(timeout=30)

        assert not failures, failures
        statuses = Counter(r.status_code for _, r in results)
        assert set(statuses) <= {202, 503}, statuses
        for _, r in results:
            if r.status_code == 503:
                assert int(r.headers["Retry-After"]) > 0 and "did not acknowledge" in r.json()["detail"]
        founder = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        for name, r in results:
            if r.status_code == 202:
                pid, token = accepted(r)
                got = founder.get(f"/v1/projects/{pid}", params={"wait_for": token})
                assert got.status_code == 200 and got.json()["name"] == name, got.text
                assert got.headers["X-Consistency"] == "fresh"
        print(f"broker outage: {dict(statuses)}")
    finally:  # the broker goes whatever else fails: a leaked one would outlive the session
        try:
            if server is not None:
                server.stop()
            if container is not None:
                container.stop()
        finally:
            broker.stop(kill=True)
            shutil.rmtree(broker.home, ignore_errors=True)
