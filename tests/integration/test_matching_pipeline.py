"""The matching pipeline end to end: real broker, embedder stream, indexer, FAISS index, real model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka import KafkaProducer

from bootstrap import Container, build
from consumers.indexer import Indexer
from matcher.commands import Principal
from matcher.errors import RetryLater
from matcher.view import ReadModel
from models.settings import Settings
from tests.factories import investor, project
from tests.integration.kafka_helpers import read_all, wait_until
from tests.integration.pipeline import serving

pytestmark = [pytest.mark.kafka, pytest.mark.model]

REGISTRAR = Principal("k-reg", "registrar", None)
FOUNDER = Principal("k-f", "founder", "f-1")


@pytest.fixture
def pipeline(kafka_bootstrap, topic_prefix, real_encoder, tmp_path) -> Iterator[Container]:
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, snapshot_dir=tmp_path)
    with serving(settings, real_encoder) as container:
        yield container


def register(c: Container, iid: str, verify: bool = True, **fields) -> None:
    c.commands.register_investor(Principal(f"k-{iid}", "investor", iid), investor(**fields).model_dump())
    wait_until(lambda: iid in c.view.investors, what=f"{iid} applied")
    if verify:
        c.commands.review_investor(REGISTRAR, iid, True, None)
        wait_until(lambda: c.view.investors[iid].value.verification == "verified", what=f"{iid} verified")


def submit(c: Container, **fields) -> str:
    accepted = c.commands.submit_project(FOUNDER, project(**fields).model_dump(exclude={"owner", "status"}))
    return accepted.entity_id


def feed_ids(c: Container, iid: str) -> list[str]:
    return [m.entity_id for m in c.matches.recommend_projects(iid, k=20)]


def test_submitted_project_reaches_a_fitting_investor_and_moves_with_updates_and_withdrawal(pipeline):
    c = pipeline
    register(c, "i-factory")
    register(c, "i-bio", name="杭州生物医药基金", organization="杭州生物", sectors=["biomedicine"], stages=["a", "b+"],
             thesis="专注创新药、抗体药物和生物医药平台型公司。", ticket_min_cny=5_000_000, ticket_max_cny=50_000_000,
             portfolio=[{"name": "某抗体公司", "sectors": ["biomedicine"], "description": "双特异性抗体"}])
    pid = submit(c)
    waited = wait_until(lambda: pid in feed_ids(c, "i-factory") and c.view.vector("projects", pid) is not None,
                        what="project in the fitting investor's feed with its vector")
    assert waited < 20
    assert c.matches.recommend_investors(pid, k=2)[0].entity_id == "i-factory"

    version = c.view.projects[pid].version
    c.commands.update_project(FOUNDER, pid, project(
        name="双抗新药", summary="新型双特异性抗体创新药，已完成临床前研究，寻求A轮。", sectors=["biomedicine"],
        stage="a", amount_sought_cny=20_000_000, city="杭州", founder_background="researcher",
    ).model_dump(exclude={"owner", "status"}), expected_version=version)
    wait_until(lambda: c.matches.recommend_investors(pid, k=2)[0].entity_id == "i-bio",
               what="the updated project's best investor to change")

    c.commands.set_project_status(FOUNDER, pid, "withdrawn")
    wait_until(lambda: pid not in feed_ids(c, "i-bio"), what="withdrawn project gone from the feed")


def test_verification_makes_an_investor_appear_in_founders_lists(pipeline):
    c = pipeline
    pid = submit(c)
    register(c, "i-new", verify=False)
    wait_until(lambda: c.view.vector("investors", "i-new") is not None, what="investor vector")
    assert "i-new" not in [m.entity_id for m in c.matches.recommend_investors(pid, k=20)]
    c.commands.review_investor(REGISTRAR, "i-new", True, None)
    wait_until(lambda: "i-new" in [m.entity_id for m in c.matches.recommend_investors(pid, k=20)],
               what="verified investor in the founder's list")


def _replayed(c: Container, snapshot=None) -> ReadModel:
    view = ReadModel.load(snapshot, c.view.encoder_name) if snapshot else ReadModel(c.view.encoder_name)
    indexer = Indexer(view, c.settings.kafka_bootstrap_servers, c.topics)
    indexer.catch_up()
    indexer.consumer.close()
    return view


def test_the_indexer_brings_the_vector_index_up_to_date_before_any_query(pipeline):
    c = pipeline
    pids = [submit(c, name=f"视觉项目{n}", summary=f"第{n}个工业视觉项目") for n in range(4)]
    wait_until(lambda: all(c.view.vector("projects", p) is not None for p in pids), what="vectors")
    view = ReadModel(c.view.encoder_name, exact_search_limit=2)  # four vectors outgrow exact search
    indexer = Indexer(view, c.settings.kafka_bootstrap_servers, c.topics)
    indexer.catch_up()
    indexer.close(snapshot=False)
    assert view.project_index is not None and view.project_index.mode == "hnsw"  # built without a search


def test_replay_snapshot_and_restart_give_the_same_read_model(pipeline, tmp_path):
    c = pipeline
    register(c, "i-a")
    register(c, "i-b", name="Wenzhou Angels", organization="WZ", thesis="Footwear and fashion brands going online.",
             sectors=["consumer", "ecommerce"], cities=["温州"])
    pids = [submit(c, name=f"项目{n}", summary=f"第{n}个智能工厂项目") for n in range(3)]
    wait_until(lambda: all(c.view.vector("projects", p) is not None for p in pids), what="vectors")
    snapshot = tmp_path / "mid.pkl"
    c.view.save(snapshot)  # the state and the offsets it reflects, as the indexer writes it

    # the tail after the snapshot: more writes, including feedback
    pids.append(submit(c, name="尾部项目", summary="快照之后提交的项目"))
    c.commands.give_feedback(Principal("k-i-a", "investor", "i-a"), pids[0], "passed", "not now")
    wait_until(lambda: c.view.vector("projects", pids[-1]) is not None
               and pids[0] in c.view.feedback.passed["i-a"], what="tail applied")
    wait_until(lambda: sum(c.indexer.lag().values()) == 0, what="live indexer caught up")

    live = c.view.digest()
    assert _replayed(c).digest() == live  # full replay from offset 0
    assert _replayed(c, snapshot).digest() == live  # snapshot + tail (the restart of a killed indexer)
    # replaying the tail twice (a crash after applying, before the snapshot) changes nothing
    twice = _replayed(c, snapshot)
    twice.offsets = ReadModel.load(snapshot, c.view.encoder_name).offsets
    Indexer(twice, c.settings.kafka_bootstrap_servers, c.topics).catch_up()
    assert twice.digest() == live


def test_records_that_crashed_the_readers_are_refused_and_everything_after_them_applies(pipeline):
    """Nesting deep enough to exhaust json's recursion and vectors no index can hold stopped the API's indexer and
    the workers for good (every restart met them again)."""
    c = pipeline
    producer = KafkaProducer(bootstrap_servers=c.settings.kafka_bootstrap_servers, acks="all",
                             max_request_size=3_000_000)
    producer.send(c.topics.projects, key=b"p-deep", value=b"[" * 100_000 + b"]" * 100_000)
    dim = c.encoder.dim
    for name, vector in (("short", "[0.1, 0.2, 0.3]"), ("nan", "[" + ",".join(["NaN"] * dim) + "]")):
        value = (f'{{"entity_id":"p-{name}","entity_version":1,"model":"{c.encoder.name}","content_hash":"h",'
                 f'"vector":{vector}}}').encode()
        producer.send(c.topics.project_vectors, key=f"p-{name}".encode(), value=value)
    producer.flush()
    producer.close()
    pid = submit(c, name="毒消息之后", summary="在坏记录之后提交的项目")
    wait_until(lambda: c.view.vector("projects", pid) is not None, what="the project after the poison, embedded")
    assert c.view.vector("projects", "p-short") is None and c.view.vector("projects", "p-nan") is None
    dead = read_all(c.settings.kafka_bootstrap_servers, c.topics.deadletter, expect=3)
    reasons = sorted(dict(r.headers)["reason"].decode() for r in dead)  # the embedder's group dead-letters them
    assert len(reasons) == 3, reasons
    assert "nested too deeply" in reasons[0] and reasons[1].startswith("vector has 3 dimensions")
    assert "finite numbers only" in reasons[2]


def test_a_replica_refuses_writes_while_it_replays_the_log(kafka_bootstrap, topic_prefix, real_encoder, tmp_path):
    """A write numbered from a half-replayed read model lost to the versions the log already held: acknowledged,
    then dropped."""
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, snapshot_dir=tmp_path)
    container = build(settings, encoder=real_encoder)
    refused = []
    replay = container.indexer.catch_up

    def catch_up(timeout: float | None = None) -> None:
        with pytest.raises(RetryLater, match="still reading the event log") as during:
            submit(container, name="回放中的写入")
        refused.append(during.value)
        replay(timeout=timeout)

    container.indexer.catch_up = catch_up  # type: ignore[method-assign]
    try:
        container.start()
        assert refused and container.commands.writable
        pid = submit(container, name="回放之后的写入")
        wait_until(lambda: pid in container.view.projects, what="the write after the replay")
    finally:
        container.stop()
