"""Deal alerts end to end on the real broker: the alerting stream, exactly-once alerts across replays and
restarts, signed webhooks to a real local HTTP server with retries, dead letters, digests and rate limits, and
the API over all of it (fake encoder)."""

from __future__ import annotations

import hashlib
import json
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from kafka import TopicPartition

from api.app import create_app
from consumers import webhooks
from consumers.producer import EventProducer
from matcher.alert_store import DeliveryState
from matcher.commands import Principal
from matcher.delivery import delivery_id, signing_secret
from models.alerts import AlertSettings, settings_id
from models.events import Event, decode_event
from tests.factories import project
from tests.integration.alert_rig import SERVER_SECRET, Answer, Receiver, Rig, start_rig
from tests.integration.kafka_helpers import read_all, wait_until

pytestmark = [pytest.mark.kafka]

BIO = {"name": "杭州生物医药基金", "organization": "杭州生物", "sectors": ["biomedicine"], "stages": ["a", "b+"],
       "thesis": "专注创新药、抗体药物和生物医药平台型公司。", "ticket_min_cny": 5_000_000,
       "ticket_max_cny": 50_000_000,
       "portfolio": [{"name": "某抗体公司", "sectors": ["biomedicine"], "description": "双特异性抗体"}]}


@pytest.fixture
def rig(kafka_bootstrap, tmp_path, request) -> Iterator[Rig]:
    overrides = getattr(request, "param", {})
    r = start_rig(kafka_bootstrap, tmp_path, **overrides)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def api_as(client: TestClient, admin_key: str, role: str, entity_id: str | None) -> dict[str, str]:
    """Headers of a fresh key for `role`; the first request with them waits until the key is applied."""
    r = client.post("/v1/keys", json={"role": role, "entity_id": entity_id},
                    headers={"Authorization": f"Bearer {admin_key}"})
    assert r.status_code == 202, r.text
    headers = {"Authorization": f"Bearer {r.json()['key']}"}
    assert client.get("/v1/alerts/searches", headers={**headers, "X-Wait-For": r.json()["offset_token"]}
                      ).status_code in (200, 403)
    return headers


def configure_webhook(client: TestClient, headers: dict[str, str], receiver: Receiver, path: str,
                      base: str | None = None, **settings) -> str:
    """PUT the recipient's settings (URL `base` + path; the receiver's own by default) through the API and hand
    the signing secret it shows to the receiver."""
    url = (base or receiver.url) + path
    r = client.put("/v1/alerts/settings", json={"webhook_url": url, **settings}, headers=headers)
    assert r.status_code == 202, r.text
    shown = client.get("/v1/alerts/settings", headers={**headers, "X-Wait-For": r.json()["offset_token"]}).json()
    assert shown["webhook_url"] == url and shown["signing_secret"].startswith("whsec_")
    receiver.secrets[path] = shown["signing_secret"]
    return shown["signing_secret"]


def worker_knows_settings(rig: Rig, role: str, rid: str) -> None:
    assert rig.worker is not None
    wait_until(lambda: rig.worker.store.settings_for(role, rid) is not None, what=f"worker has {rid}'s settings")


def processed(rig: Rig, accepted) -> bool:
    """The alerter evaluated everything up to this write."""
    assert rig.alerter is not None
    d = accepted.delivery
    return rig.alerter.evaluated.get(TopicPartition(d.topic, d.partition), 0) > d.offset


# ---- the alerting stream ----------------------------------------------------------------------------------
def test_a_submitted_project_alerts_the_fitting_investors_and_nobody_else_within_seconds(rig):
    rig.start_embedder()
    rig.register("i-fit")
    rig.register("i-bio", **BIO)
    rig.register("i-pending", verify=False)
    rig.start_alerter()
    started = time.monotonic()
    pid = rig.submit().entity_id
    waited = wait_until(lambda: rig.alerts_for("investor", "i-fit"), timeout=10, what="alert to the fitting investor")
    assert waited < 10
    alert = rig.alerts_for("investor", "i-fit")[0]
    assert (alert.subject_id, alert.subject_version, alert.matches[0].via) == (pid, 1, ["profile"])
    # the project's vector arrives after it and is evaluated too: still one alert, and none to the others
    wait_until(lambda: rig.alerter.view.vector("projects", pid) is not None and not rig.alerter.pending,
               what="vector applied and evaluated by the alerter")
    time.sleep(0.5)
    assert len(rig.alerts_for("investor", "i-fit")) == 1
    assert rig.alerts_for("investor", "i-bio") == [] and rig.alerts_for("investor", "i-pending") == []
    assert rig.alerts_for("founder", "f-1") == []  # a project change alerts investors, not its founder
    print(f"alert in the API replica {waited:.2f}s after the submission ({time.monotonic() - started:.2f}s)")


def test_the_alerters_keyword_indexes_compact_after_its_batches_as_an_api_replicas_do(rig):
    for n in range(4):
        rig.register(f"i-early-{n}")
    rig.start_alerter()
    words = rig.alerter.view.portfolio_words  # the verified investors' portfolios
    assert len(words) == 4 and not words.compaction_due()
    for n in range(5):  # past due (4 changes), short of twice that, where an index would compact by itself
        rig.register(f"i-late-{n}")
    wait_until(lambda: len(words) == 9, what="the alerter applied the new investors")
    wait_until(lambda: not words.compaction_due(), what="its portfolio words compacted after a batch")


def test_replays_from_offset_zero_restarts_and_a_crash_before_the_commit_send_nothing_twice(rig):
    rig.register("i-fit")
    rig.register("i-fit2", name="宁波智造天使")
    rig.start_alerter()
    first = rig.submit()
    wait_until(lambda: len(rig.alerts_for("investor", "i-fit")) == 1 and len(rig.alerts_for("investor", "i-fit2")) == 1
               and processed(rig, first), what="first alerts")
    rig.stop_alerter()  # clean stop: snapshot written

    # restart from the snapshot, then a replay of every topic from offset 0 (no snapshot)
    assert rig.start_alerter().produced == 0
    rig.stop_alerter()
    snapshot = rig.settings.snapshot_dir / f"{rig.settings.topic_prefix}-alerter.pkl"
    snapshot.unlink()
    assert rig.start_alerter().produced == 0

    # a crash after the alerts were flushed but before the evaluated offsets were committed: the next alerter
    # evaluates the project again and finds its alerts already sent in the alerts topic
    rig.alerter.offsets.commit = lambda *args, **kwargs: None  # the commit never happens
    rig.submit(name="视觉质检二号")
    wait_until(lambda: len(rig.alerts_for("investor", "i-fit")) == 2, what="second alert")
    rig.stop_alerter(snapshot=False)
    snapshot.unlink(missing_ok=True)
    assert rig.start_alerter().produced == 0
    third = rig.submit(name="视觉质检三号")
    wait_until(lambda: len(rig.alerts_for("investor", "i-fit")) == 3 and processed(rig, third), what="third alert")
    rig.stop_alerter()

    records = read_all(rig.settings.kafka_bootstrap_servers, rig.container.topics.alerts)
    ids = [decode_event(r.value).payload.alert_id for r in records]
    assert len(ids) == len(set(ids)) == 6, ids  # 3 projects x 2 investors, each once
    assert all(r.key.decode() == decode_event(r.value).payload.recipient for r in records)


def test_the_restarted_alerter_did_re_evaluate_the_uncommitted_change(rig):
    """The crash case above, checked directly: the change after the last commit is evaluated again (so the
    de-duplication by alert id is what prevents the second alert, not luck)."""
    rig.register("i-fit")
    alerter = rig.start_alerter()
    alerter.offsets.commit = lambda *args, **kwargs: None
    pid = rig.submit().entity_id
    wait_until(lambda: rig.alerts_for("investor", "i-fit"), what="alert")
    rig.stop_alerter(snapshot=False)
    from consumers import alerts as alerting
    from tests.fakes import HashingEncoder

    again = alerting.build(rig.settings, vectors_of=HashingEncoder())
    evaluated: list = []
    original = again.evaluator.evaluate
    again.evaluator.evaluate = lambda subjects: (evaluated.extend(subjects), original(list(evaluated)))[1]
    try:
        again.catch_up()
        assert again.produced == 0
    finally:
        again.close()
    assert ("project", pid) in evaluated


def test_a_passed_project_never_alerts_that_investor_again(rig):
    rig.register("i-pass")
    rig.register("i-control")
    for iid in ("i-pass", "i-control"):  # no implicit alerts while the project is first submitted
        rig.container.alerts.update_settings(Principal(f"k-{iid}", "investor", iid), {"profile_alerts": False})
    alerter = rig.start_alerter()
    wait_until(lambda: len(alerter.view.alerts.settings) == 2, what="settings applied by the alerter")
    submitted = rig.submit()
    pid = submitted.entity_id
    wait_until(lambda: processed(rig, submitted), what="the submission evaluated")
    assert rig.alerts_for("investor", "i-pass") == rig.alerts_for("investor", "i-control") == []

    i_pass = Principal("k-i-pass", "investor", "i-pass")
    fb = rig.container.commands.give_feedback(i_pass, pid, "passed", "not our stage")
    rig.container.alerts.save_search(i_pass, {"sectors": ["ai"], "text": "视觉"})
    for iid in ("i-pass", "i-control"):
        rig.container.alerts.update_settings(Principal(f"k-{iid}", "investor", iid), {"profile_alerts": True})
    wait_until(lambda: alerter.view.feedback.excluded("i-pass", pid) and alerter.view.alerts.active_searches()
               and all(s.value.profile_alerts for s in alerter.view.alerts.settings.values()),
               what="pass, search and settings applied by the alerter")
    assert fb.delivery is not None

    founder = Principal("k-f-1", "founder", "f-1")
    updated = rig.container.commands.update_project(founder, pid, project(traction="8家工厂试点").model_dump(
        exclude={"owner", "status"}), expected_version=1)
    wait_until(lambda: rig.alerts_for("investor", "i-control") and processed(rig, updated),
               what="the control investor alerted about version 2")
    assert rig.alerts_for("investor", "i-control")[0].subject_version == 2
    assert rig.alerts_for("investor", "i-pass") == []  # neither its profile nor its saved search

    # and its founder hears about the control investor's profile change, never about the one who passed
    for iid in ("i-pass", "i-control"):
        fields = rig.view.investors[iid].value.model_dump(exclude={"verification", "rejection_reason", "status"})
        changed = rig.container.commands.update_investor(Principal(f"k-{iid}", "investor", iid), iid,
                                                         {**fields, "capacity_per_month": 5},
                                                         expected_version=rig.view.investors[iid].version)
    wait_until(lambda: rig.alerts_for("founder", "f-1") and processed(rig, changed), what="founder alerted")
    assert [a.subject_id for a in rig.alerts_for("founder", "f-1")] == ["i-control"]
    assert rig.alerts_for("investor", "i-pass") == []


# ---- webhooks ----------------------------------------------------------------------------------------------
def test_signed_webhooks_retry_until_delivered_and_dead_letter_after_the_last_attempt(rig, receiver):
    for iid in ("i-ok", "i-flaky", "i-down"):
        rig.register(iid)
    with TestClient(create_app(rig.container)) as client:
        keys = {iid: api_as(client, rig.settings.admin_api_key or "", "investor", iid)
                for iid in ("i-ok", "i-flaky", "i-down")}
        receiver.scripts.update({"/ok": [200], "/flaky": [500, 500, 200], "/down": [500]})
        for iid, path in (("i-ok", "/ok"), ("i-flaky", "/flaky"), ("i-down", "/down")):
            configure_webhook(client, keys[iid], receiver, path)
        worker = rig.start_worker()
        rig.start_alerter()
        for iid in keys:
            worker_knows_settings(rig, "investor", iid)
        pid = rig.submit().entity_id

        wait_until(lambda: len(receiver.at("/ok")) == 1 and len(receiver.at("/flaky")) == 3
                   and len(receiver.at("/down")) == 3, timeout=20, what="every attempt")
        assert all(r.valid for r in receiver.requests)  # every POST verified with the secret the API showed
        ok = receiver.at("/ok")[0]
        assert ok.status == 200 and ok.body["kind"] == "instant" and ok.body["alerts"][0]["subject_id"] == pid
        flaky = receiver.at("/flaky")
        assert [r.status for r in flaky] == [500, 500, 200] and len({r.delivery for r in flaky}) == 1
        assert [r.alert_ids for r in flaky] == [flaky[0].alert_ids] * 3  # the same alert, delivered once
        time.sleep(0.5)
        assert len(receiver.at("/flaky")) == 3 and len(receiver.at("/ok")) == 1  # nothing after the success

        # statuses, through the API
        def delivery(iid: str) -> dict:
            page = client.get("/v1/alerts", headers=keys[iid]).json()
            assert len(page["data"]) == 1
            return client.get(f"/v1/alerts/{page['data'][0]['id']}/delivery", headers=keys[iid]).json()

        wait_until(lambda: delivery("i-down")["status"] == "dead" and delivery("i-flaky")["status"] == "delivered",
                   what="final statuses in the API replica")
        flaky_status, down_status = delivery("i-flaky"), delivery("i-down")
        assert (flaky_status["attempt"], flaky_status["http_status"]) == (3, 200)
        assert (down_status["attempt"], down_status["http_status"], down_status["error"]) == (3, 500, "HTTP 500")
        other = client.get(f"/v1/alerts/{receiver.at('/down')[0].alert_ids[0]}", headers=keys["i-ok"])
        assert other.status_code == 404  # someone else's alert is not found either: its id is a hash anyone computes

    # a restarted worker rebuilds its state from the deliveries topic and pushes nothing again
    worker.stop()
    worker.close()
    pushed = len(receiver.requests)
    restarted = rig.start_worker()
    wait_until(lambda: len(restarted.store.alert_status) == 3, what="state rebuilt")
    time.sleep(1.0)
    assert len(receiver.requests) == pushed

    dead = [r for r in read_all(rig.settings.kafka_bootstrap_servers, rig.container.topics.deadletter)
            if dict(r.headers).get("stage") == b"webhooks"]
    assert len(dead) == 1 and dead[0].key == b"investor:i-down"
    assert dict(dead[0].headers)["source"] == f"delivery:{down_status['delivery_id']}".encode()
    assert dict(dead[0].headers)["recipient"] == b"investor:i-down"
    assert json.loads(dead[0].value)["alerts"][0]["subject_id"] == pid
    assert {s.status for s in restarted.store.alert_status.values()} == {"delivered", "dead"}


def test_a_push_whose_recipient_removed_its_webhook_url_ends_dead_instead_of_stopping_the_worker(rig):
    worker = rig.start_worker()
    outcome = worker._attempt(webhooks.Push(delivery_id="0123456789abcdef", recipient="investor:i-gone",
                                            kind="instant", alert_ids=("fedcba9876543210",), attempt=1))[1]
    # (it raised httpx.InvalidURL, which is no httpx.HTTPError: the pool re-raised it and the worker stopped)
    assert (outcome.status, outcome.error) == ("dead", "the recipient has no webhook URL any more")


def pushed_once(worker: webhooks.WebhookWorker, receiver: Receiver, path: str) -> tuple[DeliveryState, float]:
    """One push to the receiver's `path`, made and recorded as the worker's loop would (by a worker that is not
    running, so that nothing retries it meanwhile); returns the delivery as recorded and the seconds it took."""
    rid = f"i{path.replace('/', '-')}"
    settings = AlertSettings(recipient_role="investor", recipient_id=rid, webhook_url=receiver.url + path)
    worker.store.apply(Event(type="AlertSettingsUpdated", entity_id=settings_id("investor", rid), entity_version=1,
                             actor="test", payload=settings))
    receiver.secrets[path] = signing_secret(SERVER_SECRET, f"investor:{rid}")
    aid = hashlib.sha256(rid.encode()).hexdigest()[:32]  # an alert the worker does not know: the body lists none
    push = webhooks.Push(delivery_id=delivery_id("instant", [aid]), recipient=f"investor:{rid}", kind="instant",
                         alert_ids=(aid,), attempt=1)
    started = time.monotonic()
    worker._execute([push])
    return worker.store.deliveries[push.delivery_id], time.monotonic() - started


@pytest.mark.parametrize("rig", [{"webhook_timeout_s": 1.0}], indirect=True)
def test_a_huge_answer_is_neither_read_nor_held_in_memory(rig, receiver):
    """Only the status of an answer matters: the worker reads at most 64 KiB of its body and hangs up (it read a
    50 MB body whole, into memory)."""
    worker = rig.worker = webhooks.build(rig.settings)
    size = 50_000_000
    receiver.answers["/huge"] = Answer(body=size, chunk=64 * 1024)
    tracemalloc.start()
    try:
        delivery, _ = pushed_once(worker, receiver, "/huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (delivery.status, delivery.http_status, delivery.error) == ("delivered", 200, None)
    assert peak < 8 * 2**20, f"{peak / 2**20:.1f} MiB allocated at the peak"
    # the rest of the body never went out: only what the kernel's socket buffers took before the hang-up
    assert receiver.body_sent["/huge"] < size / 4, receiver.body_sent
    print(f"peak {peak / 2**20:.1f} MiB; {receiver.body_sent['/huge'] / 2**20:.1f} MiB of the body went out")


@pytest.mark.parametrize("rig", [{"webhook_timeout_s": 1.0}], indirect=True)
def test_a_receiver_answering_a_byte_at_a_time_is_cut_off_at_the_deadline(rig, receiver):
    """httpx's timeout bounds each read, not the exchange: 20 bytes 0.3 s apart, in the headers or in the body,
    held a 1 s push for 6 s (and more bytes hold it for longer). The push now fails at its deadline, to be
    retried."""
    worker = rig.worker = webhooks.build(rig.settings)
    receiver.answers["/slow-body"] = Answer(body=20, pause=0.3)
    receiver.answers["/slow-headers"] = Answer(header_lines=20, pause=0.3)
    for path in ("/slow-body", "/slow-headers"):
        delivery, took = pushed_once(worker, receiver, path)
        assert (delivery.status, delivery.attempt, delivery.http_status) == ("retrying", 1, None), path
        assert delivery.error == "the receiver took longer than 1s"
        assert 0.95 < took < 1.5, (path, took)
        print(f"{path}: cut off after {took:.2f}s")


def test_webhooks_into_the_servers_own_network_are_refused_unless_allowed(rig, receiver):
    """A name that resolves to an internal address (localhost here; in the attack, a name re-pointed after it was
    saved) gets no POST: its delivery is dead at the first attempt, with the reason, and dead-lettered. Where private
    networks are allowed the same name is reached at the address that was checked, with its own Host header."""
    rig.register("i-named")
    named = receiver.url.replace("127.0.0.1", "localhost")
    with TestClient(create_app(rig.container)) as client:
        headers = api_as(client, rig.settings.admin_api_key or "", "investor", "i-named")
        alerts = rig.container.alerts
        alerts.allow_private_webhooks = False  # as deployed by default
        refused = client.put("/v1/alerts/settings", json={"webhook_url": receiver.url + "/x"}, headers=headers)
        assert refused.status_code == 422 and "webhook_url: must point to a public address" in refused.text
        alerts.allow_private_webhooks = True  # let the name in, as a public name would be
        configure_webhook(client, headers, receiver, "/named", base=named)

        strict = webhooks.build(rig.settings.model_copy(update={"webhook_allow_private_networks": False}))
        rig.worker = strict
        strict.start()
        rig.start_alerter()
        worker_knows_settings(rig, "investor", "i-named")
        rig.submit()

        def statuses() -> list[dict]:
            page = client.get("/v1/alerts", headers=headers).json()["data"]
            return [client.get(f"/v1/alerts/{a['id']}/delivery", headers=headers).json() for a in page]

        wait_until(lambda: [s["status"] for s in statuses()] == ["dead"], what="the push refused")
        refused_status = statuses()[0]
        assert refused_status["attempt"] == 1 and refused_status["http_status"] is None
        assert "resolves to an address that is not public (loopback)" in refused_status["error"]
        assert receiver.at("/named") == []
        dead = [r for r in read_all(rig.settings.kafka_bootstrap_servers, rig.container.topics.deadletter)
                if dict(r.headers).get("stage") == b"webhooks"]
        reason = dict(dead[0].headers)["reason"].decode() if len(dead) == 1 else ""
        assert reason.startswith("webhook delivery dead after 1 attempt(s): webhook_url host localhost resolves to")

        strict.stop()
        strict.close()
        rig.start_worker()  # private networks allowed (the rig's setting)
        worker_knows_settings(rig, "investor", "i-named")
        rig.submit(name="视觉质检 2")
        wait_until(lambda: len(receiver.at("/named")) == 1, what="the push delivered")
        delivered = receiver.at("/named")[0]
        assert delivered.valid and delivered.status == 200 and delivered.host == named.removeprefix("http://")


def test_a_rotated_signing_secret_signs_alongside_the_old_one_so_the_receiver_can_switch(rig, receiver):
    rig.register("i-rotate")
    with TestClient(create_app(rig.container)) as client:
        headers = api_as(client, rig.settings.admin_api_key or "", "investor", "i-rotate")
        old = configure_webhook(client, headers, receiver, "/rotate")
        worker = rig.start_worker()
        rig.start_alerter()
        r = client.post("/v1/alerts/settings/rotate-secret", headers=headers)
        assert r.status_code == 202, r.text
        shown = client.get("/v1/alerts/settings", headers={**headers, "X-Wait-For": r.json()["offset_token"]}).json()
        new = shown["signing_secret"]
        assert new.startswith("whsec_") and new != old and shown["secret_version"] == 2
        assert shown["previous_secret_until"] is not None and shown["webhook_url"] == receiver.url + "/rotate"
        wait_until(lambda: (s := worker.store.settings_for("investor", "i-rotate")) is not None
                   and s.secret_version == 2, what="the worker has the rotation")

        rig.submit()  # the receiver still checks with the old secret
        wait_until(lambda: len(receiver.at("/rotate")) == 1, what="the first push")
        receiver.secrets["/rotate"] = new  # it switches over
        rig.submit(name="视觉质检 2")
        wait_until(lambda: len(receiver.at("/rotate")) == 2, what="the second push")
        assert [(r.valid, r.status) for r in receiver.at("/rotate")] == [(True, 200), (True, 200)]


@pytest.mark.parametrize("rig", [{"digest_daily_s": 3.0}], indirect=True)
def test_daily_mode_batches_alerts_into_one_digest_per_period_across_a_worker_restart(rig, receiver):
    rig.register("i-digest")
    with TestClient(create_app(rig.container)) as client:
        headers = api_as(client, rig.settings.admin_api_key or "", "investor", "i-digest")
        configure_webhook(client, headers, receiver, "/digest", mode="daily")
        rig.start_worker()
        rig.start_alerter()
        worker_knows_settings(rig, "investor", "i-digest")
        pids = [rig.submit(name=f"视觉质检 {n}").entity_id for n in range(4)]
        wait_until(lambda: len(rig.alerts_for("investor", "i-digest")) == 4, what="4 alerts")
        expected = {a.alert_id for a in rig.alerts_for("investor", "i-digest")}
        worker = rig.worker
        assert worker is not None
        wait_until(lambda: set(worker.store.alert_status) == expected, what="4 alerts queued (or pushed)")
        worker.stop()  # the queue survives in the deliveries topic
        worker.close()
        rig.start_worker()
        wait_until(lambda: {a for r in receiver.at("/digest") for a in r.alert_ids} == expected, timeout=15,
                   what="every alert pushed in digests")
        posts = receiver.at("/digest")
        assert sum(len(r.alert_ids) for r in posts) == 4  # each once
        assert 1 <= len(posts) <= 2 < len(pids)  # a boundary may fall between the submissions; never one each
        assert all(r.body["kind"] == "digest" and r.valid and r.status == 200 for r in posts)
        assert max(len(r.alert_ids) for r in posts) >= 2

        # the inbox pages newest first, and marks what it returned as read
        page1 = client.get("/v1/alerts", params={"limit": 3}, headers=headers).json()
        page2 = client.get("/v1/alerts", params={"limit": 3, "cursor": page1["next_cursor"]}, headers=headers).json()
        listed = [a["id"] for a in page1["data"] + page2["data"]]
        assert len(listed) == 4 and set(listed) == expected and page2["next_cursor"] is None
        # newest first: the reverse of the recipient's alerts in the log (evaluation order across partitions)
        assert listed == [a.alert_id for a in rig.alerts_for("investor", "i-digest")][::-1]
        assert {a["subject_id"] for a in page1["data"] + page2["data"]} == set(pids)
        assert not any(a["read"] for a in page1["data"] + page2["data"])
        wait_until(lambda: not client.get("/v1/alerts", params={"unread_only": True}, headers=headers).json()["data"],
                   what="alerts marked read")
        registrar = api_as(client, rig.settings.admin_api_key or "", "registrar", None)
        assert client.get("/v1/alerts", headers=registrar).status_code == 403


@pytest.mark.parametrize("rig", [{"alert_rate_window_s": 2.0}], indirect=True)
def test_rate_limits_hold_during_an_import_of_1000_projects_and_nothing_is_dropped(rig, receiver):
    investors = ["i-a", "i-b", "i-c"]
    for iid in investors:
        rig.register(iid)
    limit, window = 5, rig.settings.alert_rate_window_s
    with TestClient(create_app(rig.container)) as client:
        for iid in investors:
            headers = api_as(client, rig.settings.admin_api_key or "", "investor", iid)
            configure_webhook(client, headers, receiver, f"/{iid}", max_per_hour=limit)
    rig.start_worker()
    rig.start_alerter()
    for iid in investors:
        worker_knows_settings(rig, "investor", iid)

    producer = EventProducer(rig.settings.kafka_bootstrap_servers)
    started = time.monotonic()
    try:
        for n in range(1000):
            p = project(name=f"视觉质检 VisionQC #{n}", owner="f-bulk")
            e = Event(type="ProjectSubmitted", entity_id=f"p-bulk-{n}", entity_version=1, actor="import", payload=p)
            producer.send_async(rig.container.topics.projects, e.entity_id.encode(), e.to_bytes())
        producer.flush()
    finally:
        producer.close()
    wait_until(lambda: all(len(rig.alerts_for("investor", i)) == 1000 for i in investors), timeout=60,
               what="1000 alerts per investor")
    alerted_s = time.monotonic() - started
    for iid in investors:
        expected = {a.alert_id for a in rig.alerts_for("investor", iid)}
        wait_until(lambda iid=iid, expected=expected: {a for r in receiver.at(f"/{iid}") for a in r.alert_ids}
                   == expected, timeout=30, what=f"every alert of {iid} pushed")
    assert rig.worker is not None
    for iid in investors:
        posts = receiver.at(f"/{iid}")
        assert all(r.valid and r.status == 200 for r in posts)
        # the limit holds in every window for the pushes the worker started...
        started_at = sorted(rig.worker.store.pushes[f"investor:{iid}"].values())
        assert len(started_at) == len(posts)
        assert max(sum(1 for t in started_at if s <= t < s + window) for s in started_at) <= limit
        # ...and the receiver sees that rate (arrival times jitter with the load of the machine)
        arrived = sorted(r.at for r in posts)
        assert len(arrived) <= limit * ((arrived[-1] - arrived[0]) / window + 1)
        assert len(posts) < 100 and sum(len(r.alert_ids) for r in posts) == 1000  # batched, none twice
        assert any(r.body["kind"] == "digest" for r in posts) and posts[0].body["kind"] == "instant"
    assert rig.alerts_for("founder", "f-bulk") == []
    print(f"1000 projects -> {3 * 1000} alerts in {alerted_s:.1f}s; pushes per investor "
          f"{[len(receiver.at(f'/{i}')) for i in investors]}")
