"""Broker cold start and produce -> consume round trip through the real broker.

    python -m bench.roundtrip [--messages 500]

Cold start is timed twice on a fresh log directory: with the jars downloaded into a new cache folder (Maven's
own repository may already hold them) and with the jars cached. The round trip is one acknowledged event
(acks=all) at a time, received by a consumer already assigned to its partition.
"""

from __future__ import annotations

import argparse
import shutil
import time
import uuid

from kafka import KafkaConsumer, TopicPartition

from bench.common import emit, latency_row, progress
from consumers.broker import REPO_ROOT, LocalBroker, free_port_pair
from consumers.producer import EventProducer
from consumers.topics import Topics, ensure_topics
from models.events import Event
from scripts.demo_data import load_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    jars_home = REPO_ROOT / ".cache" / f"bench-jars-{run}" / "kafka"  # a jar cache of its own: a cold fetch
    rows = []
    for label, home in (("cold start, jars fetched", jars_home),
                        ("cold start, jars cached", REPO_ROOT / ".cache" / f"kafka-roundtrip-{run}")):
        broker = LocalBroker(home=home, port=free_port_pair())
        progress(f"{label} on {broker.bootstrap}")
        timings = broker.start()
        rows.append({"name": label, "fetch_s": round(timings["fetch_s"], 2), "start_s": round(timings["start_s"], 2)})
        if label.endswith("cached"):
            break
        broker.stop()
        shutil.rmtree(home.parent, ignore_errors=True)
    try:
        topics = Topics(f"rt{run}")
        ensure_topics(broker.bootstrap, topics)
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                                 fetch_max_wait_ms=10)
        parts = [TopicPartition(topics.projects, p) for p in range(3)]
        consumer.assign(parts)
        consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the end offsets now, before anything is produced
            consumer.position(tp)
        producer = EventProducer(broker.bootstrap)
        project = next(iter(load_demo()[0].values()))
        seconds = []
        for n in range(args.messages):
            e = Event(type="ProjectSubmitted", entity_id=f"p-{n}", entity_version=1, actor="bench", payload=project)
            t0 = time.perf_counter()
            producer.publish(topics.projects, e)
            got = False
            deadline = t0 + 30
            while not got:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"event {n} not consumed within 30 s")
                for batch in consumer.poll(timeout_ms=100).values():
                    got = got or any(r.key == e.entity_id.encode() for r in batch)
            seconds.append(time.perf_counter() - t0)
        producer.close()
        consumer.close()
    finally:
        broker.stop()
        shutil.rmtree(broker.home, ignore_errors=True)
    rows.append(latency_row("produce (acks=all) -> consumed", seconds, per_s=round(len(seconds) / sum(seconds), 1)))
    emit("roundtrip", rows)


if __name__ == "__main__":
    main()
