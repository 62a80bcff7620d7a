"""The event backbone against the real broker: topics, round trips, crash safety, dead letters."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from consumers.broker import REPO_ROOT, LocalBroker, free_port_pair
from consumers.embedder import build_loop
from consumers.loop import ConsumerLoop, DeadLetters
from consumers.producer import EventProducer
from consumers.topics import Topics, assign_all, ensure_topics
from matcher.commands import CommandService, Principal
from matcher.ports import PublishFailed
from matcher.view import ReadModel
from models.events import decode_event
from models.settings import Settings
from tests.factories import event, investor, project, sample_payload
from tests.fakes import HashingEncoder
from tests.integration.kafka_helpers import read_all

pytestmark = pytest.mark.kafka


def _topics(bootstrap: str, prefix: str) -> Topics:
    topics = Topics(prefix)
    ensure_topics(bootstrap, topics)
    return topics


def test_topics_are_created_compacted_and_partitioned(kafka_bootstrap, topic_prefix):
    topics = _topics(kafka_bootstrap, topic_prefix)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = {t["name"]: t for t in admin.describe_topics([topics.projects, topics.feedback])}
        assert len(described[topics.projects]["partitions"]) >= 3
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in (topics.projects, topics.feedback)]
        )
        by_topic = {topic: {name: c["value"] for name, c in cfg.items()} for topic, cfg in configs["topic"].items()}
        assert by_topic[topics.projects]["cleanup.policy"] == "compact"
        assert by_topic[topics.feedback]["cleanup.policy"] == "delete"
        assert by_topic[topics.feedback]["retention.ms"] == "-1"
    finally:
        admin.close()
    assert ensure_topics(kafka_bootstrap, topics) == []  # a second start creates nothing


def test_every_event_type_round_trips_through_kafka(kafka_bootstrap, topic_prefix):
    topics = _topics(kafka_bootstrap, topic_prefix)
    from models.events import PAYLOADS

    sent = []
    producer = EventProducer(kafka_bootstrap)
    for version, kind in enumerate(PAYLOADS, start=1):
        e = event(kind, "e-1", sample_payload(kind), version=version)
        delivery = producer.publish(topics.for_event_type(kind), e)
        assert delivery.offset >= 0
        sent.append(e)
    producer.close()
    received = []
    for topic in {topics.for_event_type(e.type) for e in sent}:
        received += [decode_event(r.value) for r in read_all(kafka_bootstrap, topic)]
    assert sorted(received, key=lambda e: e.entity_version) == sent


def test_acknowledged_writes_survive_a_broker_sigkill(tmp_path):
    broker = LocalBroker(home=REPO_ROOT / ".cache" / f"kafka-crash-{uuid.uuid4().hex[:6]}", port=free_port_pair())
    broker.start()
    try:
        topics = _topics(broker.bootstrap, "crash")
        producer = EventProducer(broker.bootstrap)
        acked = []
        for n in range(150):
            pid = f"p-{n % 10}"
            version = n // 10 + 1
            producer.publish(topics.projects, event("ProjectUpdated", pid, project(team_size=version), version))
            acked.append((pid, version))
        producer.close()
        # a producer with a write queued when the broker dies: its flush fails, and the producer it discards
        # stops its network thread (kafka-python's close() raised on the pending write and left it running)
        stranded_id = f"stranded-{uuid.uuid4().hex[:6]}"
        stranded = EventProducer(broker.bootstrap, timeout_s=2.0, client_id=stranded_id,
                                 delivery_timeout_ms=60_000)  # still pending when its flush gives up
        stranded.publish(topics.projects, event("ProjectUpdated", "p-x", project(), 1))
        acked.append(("p-x", 1))
        broker.stop(kill=True)
        stranded.send_async(topics.projects, b"p-y", event("ProjectUpdated", "p-y", project(), 1).to_bytes())
        with pytest.raises(PublishFailed):
            stranded.flush()
        deadline = time.monotonic() + 10
        while any(t.name.startswith(stranded_id) for t in threading.enumerate()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [t.name for t in threading.enumerate() if t.name.startswith(stranded_id)]
        stranded.close()
        broker.start()
        records = read_all(broker.bootstrap, topics.projects, expect=len(acked))
        got = [(decode_event(r.value).entity_id, decode_event(r.value).entity_version) for r in records]
        assert sorted(got) == sorted(acked)  # p-x survived; p-y, whose flush failed, was never written
        for pid in {p for p, _ in acked}:  # records come back sorted by (partition, offset): in order per key
            versions = [v for p, v in got if p == pid]
            assert versions == sorted(versions)
    finally:
        broker.stop(kill=True)
        shutil.rmtree(broker.home, ignore_errors=True)


def test_a_queued_write_the_broker_refuses_fails_the_flush(kafka_bootstrap, topic_prefix):
    # kafka-python's flush returns once each queued write has an outcome, a refusal included; a consumer that
    # then committed its offsets would lose the write, so EventProducer.flush raises
    topic = f"{topic_prefix}.keyed"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        admin.close()
    producer = EventProducer(kafka_bootstrap)
    try:
        producer.send_async(topic, b"k", b"fits")
        producer.flush()
        producer.send_async(topic, None, b"no key")  # a compacted topic refuses it
        with pytest.raises(PublishFailed, match="1 of 1 queued writes.*without key"):
            producer.flush()
        producer.send_async(topic, b"k", b"after")  # the producer still works, and nothing failed since
        producer.flush()
    finally:
        producer.close()
    assert [r.value for r in read_all(kafka_bootstrap, topic, expect=2)] == [b"fits", b"after"]


def _projection_loop(bootstrap: str, topics: Topics, group: str, view: ReadModel) -> ConsumerLoop:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    assign_all(consumer, [topics.projects], consumer.committed)
    producer = EventProducer(bootstrap)
    return ConsumerLoop(
        consumer,
        lambda r: view.apply(decode_event(r.value)),
        DeadLetters(producer, topics.deadletter, "test-projection"),
    )


def _poll_until(loop: ConsumerLoop, count, at_least: int, tries: int = 100) -> None:
    for _ in range(tries):
        loop.poll_once()
        if count() >= at_least:
            return
    raise AssertionError(f"only {count()} of {at_least} records after {tries} polls")


def test_consumer_killed_after_apply_before_commit_sees_the_event_again_and_applies_it_once(
    kafka_bootstrap, topic_prefix
):
    topics = _topics(kafka_bootstrap, topic_prefix)
    producer = EventProducer(kafka_bootstrap)
    producer.publish(topics.projects, event("ProjectSubmitted", "p-1", project()))
    producer.close()
    view = ReadModel(encoder_name="fake")  # the durable state both runs share
    group = f"{topic_prefix}.projection"

    crashed = _projection_loop(kafka_bootstrap, topics, group, view)
    crashed.checkpoint = lambda positions: (_ for _ in ()).throw(SystemExit("killed before commit"))
    with pytest.raises(SystemExit):
        _poll_until(crashed, lambda: crashed.counters.applied, 1)
    crashed.consumer.close(autocommit=False)
    digest = view.digest()
    assert crashed.counters.applied == 1

    restarted = _projection_loop(kafka_bootstrap, topics, group, view)
    _poll_until(restarted, lambda: restarted.counters.skipped, 1)
    assert restarted.counters.applied == 0  # delivered again, applied once
    assert view.digest() == digest
    restarted.consumer.close()


def _group_member(bootstrap: str, topic: str, group: str, attempts: int = 3,
                  join_s: float = 60.0) -> subprocess.Popen[str]:
    """A process whose consumer has joined `group` and been given its partitions. A member whose join has not
    finished within `join_s` is killed and another started: kafka-python's group join has hung here once (CI, a
    broker idle otherwise), and a hung join is not what the tests using it are about."""
    for _ in range(attempts):
        member = subprocess.Popen([sys.executable, "-c", f"""
from kafka import KafkaConsumer
c = KafkaConsumer({topic!r}, bootstrap_servers={bootstrap!r}, group_id={group!r},
                  session_timeout_ms=6000, heartbeat_interval_ms=1000)
while not c.assignment():
    c.poll(timeout_ms=200)
print("joined", flush=True)
input()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([member.stdout], [], [], join_s)
        if ready and member.stdout.readline().strip() == "joined":  # type: ignore[union-attr]
            return member
        member.kill()
        member.wait()
    pytest.fail(f"no consumer joined group {group} in {attempts} attempts of {join_s:.0f} s")


def test_a_worker_waits_out_a_group_member_that_died_without_leaving_instead_of_failing_its_commit(
    kafka_bootstrap, topic_prefix
):
    # e.g. an embedder of the version that joined its group, killed: until the broker expires that member, the
    # group refuses commits from a consumer that assigned its partitions itself
    topics = _topics(kafka_bootstrap, topic_prefix)
    group = f"{topic_prefix}.handover"
    member = _group_member(kafka_bootstrap, topics.projects, group)
    try:
        member.kill()  # no LeaveGroup: the member stays until its 6 s session expires
        member.wait()
        producer = EventProducer(kafka_bootstrap)
        producer.publish(topics.projects, event("ProjectSubmitted", "p-1", project()))
        producer.close()
        loop = _projection_loop(kafka_bootstrap, topics, group, ReadModel(encoder_name="fake"))
        started = time.monotonic()
        _poll_until(loop, lambda: loop.counters.applied, 1)  # its commit is refused first, then goes through
        waited = time.monotonic() - started
        committed = sum(loop.consumer.committed(tp) or 0 for tp in loop.consumer.assignment())
        loop.consumer.close(autocommit=False)
    finally:
        member.kill()
    assert committed == 1
    assert waited > 1  # it did have to wait for the member to expire


def test_poison_messages_reach_the_dead_letter_topic_and_valid_events_around_them_apply(kafka_bootstrap, topic_prefix):
    topics = _topics(kafka_bootstrap, topic_prefix)
    raw = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=3_000_000)
    good = event("ProjectSubmitted", "p-good-1", project(summary="智能制造 + AI 质检 😀 mixed 文本"))
    negative_ticket = json.loads(event("InvestorRegistered", "i-bad", investor()).to_bytes())
    negative_ticket["payload"]["ticket_min_cny"] = -100
    missing_field = json.loads(good.to_bytes())
    del missing_field["payload"]["summary"]
    wrong_type = json.loads(good.to_bytes())
    wrong_type["entity_version"] = "seven"
    unknown_type = {**json.loads(good.to_bytes()), "type": "ProjectTeleported"}
    oversized = {**json.loads(good.to_bytes()), "payload": {"summary": "x" * 2_000_000}}
    poison = {
        "not JSON": b"{{{ not json",
        "not UTF-8": b"\xff\xfe\xfa",
        "type must be one of": json.dumps(unknown_type).encode(),
        "payload.summary: Field required": json.dumps(missing_field).encode(),
        "entity_version": json.dumps(wrong_type).encode(),
        "bytes; at most": json.dumps(oversized).encode(),
        "payload.ticket_min_cny": json.dumps(negative_ticket).encode(),
    }
    raw.send(topics.projects, key=b"p-good-1", value=good.to_bytes())
    for reason, value in poison.items():
        raw.send(topics.projects, key=reason.encode()[:20], value=value)
    good2 = event("ProjectSubmitted", "p-good-2", project(name="第二个 project ✨"))
    raw.send(topics.projects, key=b"p-good-2", value=good2.to_bytes())
    raw.flush()
    raw.close()

    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    loop, embedder = build_loop(settings, HashingEncoder())
    _poll_until(loop, lambda: loop.counters.applied + loop.counters.dead_lettered, 2 + len(poison))
    loop.consumer.close()
    assert loop.counters.dead_lettered == len(poison)
    assert loop.counters.applied == 2

    dead = read_all(kafka_bootstrap, topics.deadletter, expect=len(poison))
    reasons = [dict(r.headers)["reason"].decode() for r in dead]
    for expected in poison:
        assert any(expected in reason for reason in reasons), (expected, reasons)
    originals = {r.value for r in dead if r.value is not None}
    assert poison["not UTF-8"] in originals and poison["not JSON"] in originals  # original bytes kept

    vectors = read_all(kafka_bootstrap, topics.project_vectors, expect=2)
    assert sorted(json.loads(r.value)["entity_id"] for r in vectors) == ["p-good-1", "p-good-2"]
    view = ReadModel(encoder_name=embedder.encoder.name)
    for r in read_all(kafka_bootstrap, topics.projects):
        try:
            view.apply(decode_event(r.value))
        except ValueError:
            pass
    assert view.projects["p-good-1"].value.summary == "智能制造 + AI 质检 😀 mixed 文本"
    assert str(uuid.UUID(str(good.event_id)))  # ids survive as UUIDs


def test_poison_on_the_alert_topics_that_no_worker_group_owns_is_dead_lettered_by_the_embedder(
        kafka_bootstrap, topic_prefix):
    # saved searches and alert settings are read by indexers (which only count bad records) and the webhook
    # worker's state (which only logs them): the embedder group validates them as it does the entity topics
    topics = _topics(kafka_bootstrap, topic_prefix)
    raw = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    raw.send(topics.searches, key=b"s-bad", value=b"{{{ not json")
    raw.send(topics.alert_settings, key=b"settings-bad", value=b'{"type": "AlertSettingsTeleported"}')
    raw.flush()
    raw.close()

    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    loop, _ = build_loop(settings, HashingEncoder())
    _poll_until(loop, lambda: loop.counters.dead_lettered, 2)
    loop.consumer.close()
    dead = read_all(kafka_bootstrap, topics.deadletter, expect=2)
    sources = sorted(dict(r.headers)["source"].decode().split(":")[0] for r in dead)
    assert sources == sorted([topics.searches, topics.alert_settings])


def test_the_embedder_reads_every_partition_at_once_and_a_restart_resumes_from_its_committed_offsets(
        kafka_bootstrap, topic_prefix):
    # it assigns its partitions instead of joining its group (see topics.assign_all), so nothing waits
    # for a rebalance, and the group still keeps its place across restarts
    topics = _topics(kafka_bootstrap, topic_prefix)
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix)
    producer = EventProducer(kafka_bootstrap)
    try:
        for n in range(6):
            producer.publish(topics.projects, event("ProjectSubmitted", f"p-{n}", project(name=f"first {n}")))
        loop, _ = build_loop(settings, HashingEncoder())
        read = {tp.topic for tp in loop.consumer.assignment()}
        assert read == {topics.projects, topics.investors, topics.feedback, topics.intros, topics.auth,
                        topics.roadshows, topics.searches, topics.alert_settings, topics.project_vectors,
                        topics.investor_vectors}
        assert len(loop.consumer.assignment()) == len(read) * 3  # every partition of each, before any poll
        _poll_until(loop, lambda: loop.counters.applied, 6)
        loop.consumer.close(autocommit=False)

        for n in range(6, 9):
            producer.publish(topics.projects, event("ProjectSubmitted", f"p-{n}", project(name=f"later {n}")))
        again, _ = build_loop(settings, HashingEncoder())
        _poll_until(again, lambda: again.counters.applied, 3)
        for _ in range(5):  # nothing from before the restart comes back
            again.poll_once()
        again.consumer.close(autocommit=False)
        assert again.counters.applied == 3
    finally:
        producer.close()
    vectors = read_all(kafka_bootstrap, topics.project_vectors, expect=9)
    assert sorted(json.loads(r.value)["entity_id"] for r in vectors) == [f"p-{n}" for n in range(9)]


def test_replicas_that_update_an_entity_at_once_end_on_the_write_compaction_keeps(kafka_bootstrap, topic_prefix):
    """Two API replicas each accept an update of the same project before either has read the other's: both
    events carry version 2. Every read model, the two live ones and a replay from offset 0, ends on the later
    write in the log, which is the one the compacted topic keeps, and the next write is version 3."""
    topics = _topics(kafka_bootstrap, topic_prefix)
    founder = Principal("k-f", "founder", "f-1")
    views = [ReadModel(encoder_name="fake"), ReadModel(encoder_name="fake")]
    producer = EventProducer(kafka_bootstrap)
    replicas = [CommandService(view, producer, topics.for_event_type) for view in views]
    loops = [_projection_loop(kafka_bootstrap, topics, f"{topic_prefix}.replica{n}", view)
             for n, view in enumerate(views)]
    try:
        pid = replicas[0].submit_project(founder, project().model_dump(exclude={"owner", "status"})).entity_id
        for loop in loops:
            _poll_until(loop, lambda loop=loop: loop.counters.applied, 1)
        written = [replica.update_project(founder, pid, project(summary=f"replica {n}").model_dump(
            exclude={"owner", "status"}), expected_version=1) for n, replica in enumerate(replicas)]
        assert [w.version for w in written] == [2, 2]  # neither had seen the other's write
        for loop in loops:
            _poll_until(loop, lambda loop=loop: loop.counters.applied, 3)
        logged = read_all(kafka_bootstrap, topics.projects)
        newest = [decode_event(r.value) for r in logged if r.key == pid.encode()][-1]
        assert newest.payload.summary == "replica 1"  # what compaction keeps of the key
        assert [v.projects[pid].value.summary for v in views] == ["replica 1", "replica 1"]
        replay = ReadModel(encoder_name="fake")
        replay_loop = _projection_loop(kafka_bootstrap, topics, f"{topic_prefix}.replay", replay)
        _poll_until(replay_loop, lambda: replay_loop.counters.applied, 3)
        replay_loop.consumer.close()
        assert views[0].digest() == views[1].digest() == replay.digest()
        fields = project(summary="after").model_dump(exclude={"owner", "status"})
        third = replicas[0].update_project(founder, pid, fields, expected_version=2)
        assert third.version == 3
    finally:
        for loop in loops:
            loop.consumer.close()
        producer.close()
