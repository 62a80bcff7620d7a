"""Deal alerts: from a project's (or investor's) event to its alerts produced, at 10k investors x 100k projects.

    python -m bench.alerts [--investors 10000] [--projects 100000] [--events 60] [--rate 1] [--bulk 200]

The alerter's read model is built in-process (synthetic entities in several sectors, texts in Chinese and
English, vectors clustered by sector, saved searches); then the alerter runs against the real broker exactly as
`python -m consumers.alerts` does, and the benchmark produces events to it:
- `project_event_to_alerts`: one new project at a time (`--rate` per second), each followed by its vector;
  latency from producing the project event (acknowledged) to its alerts acknowledged by the broker;
- `investor_event_to_alerts`: newly verified investors -> founders' alerts, same measure;
- `evaluate_project` / `evaluate_investor`: the evaluation alone, in-process (no broker), for the breakdown;
- `bulk_import`: `--bulk` projects (and their vectors) produced at once; alerts produced per second and
  projects evaluated per second until the alerter has caught up.
Prints one JSON object (progress on stderr).
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Iterable

import numpy as np

from bench.common import bench_broker, emit, latency_row, progress
from consumers.alerts import Alerter
from consumers.producer import EventProducer
from consumers.topics import Topics, ensure_topics
from matcher.alerts import AlertPolicy
from matcher.service import MatchService
from matcher.view import ReadModel
from models.alerts import MatchAlert, SavedSearch
from models.entities import Investor, Project
from models.events import EntityVector, Event
from models.settings import Settings
from models.taxonomy import SECTORS, STAGES

ENCODER = "bench:synthetic"
CITIES = ["杭州", "宁波", "上海", "深圳", "北京", "苏州", "南京", "成都", "武汉", "广州", "温州", "合肥"]
VOCAB = ["平台", "系统", "算法", "数据", "客户", "工厂", "医院", "门店", "供应链", "芯片", "电池", "传感器", "软件",
         "platform", "SaaS", "robot", "vision", "battery", "sensor", "clinic", "retail", "logistics", "cloud",
         "模型", "检测", "材料", "设备", "服务", "渠道", "品牌", "试点", "订单", "营收", "专利"]
SECTOR_CODES = [s for s in SECTORS if s != "other"]
STAGE_CODES = list(STAGES)


class Synth:
    """Synthetic entities whose text, sectors and vectors agree (a sector has a vector centre and words)."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.dim = dim
        centres = self.rng.standard_normal((len(SECTOR_CODES), dim)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)  # [n_sectors, dim]

    def _sectors(self, most: int) -> list[str]:
        n = int(self.rng.integers(1, most + 1))
        return [SECTOR_CODES[i] for i in self.rng.choice(len(SECTOR_CODES), size=n, replace=False)]

    def _words(self, n: int) -> str:
        return " ".join(self.rng.choice(VOCAB, size=n))

    def vector(self, sectors: list[str], noise: float = 0.6) -> list[float]:
        v = self.centres[[SECTOR_CODES.index(s) for s in sectors]].mean(axis=0)
        v = v + noise * self.rng.standard_normal(self.dim).astype(np.float32) / np.sqrt(self.dim)
        return (v / np.linalg.norm(v)).astype(np.float32).tolist()

    def project(self, i: int, owner: str) -> Project:
        sectors = self._sectors(2)
        labels = " ".join(f"{SECTORS[s][0]} {SECTORS[s][1]}" for s in sectors)
        return Project(name=f"{SECTORS[sectors[0]][0]}项目 {i}", summary=f"{labels}：{self._words(12)}",
                       sectors=sectors, stage=STAGE_CODES[int(self.rng.integers(0, 6))],
                       amount_sought_cny=int(10 ** self.rng.uniform(5.5, 7.5)), city=str(self.rng.choice(CITIES)),
                       founder_background="corporate", traction=self._words(4), owner=owner)

    def investor(self, i: int, verification: str = "verified") -> Investor:
        sectors = self._sectors(3)
        low = int(self.rng.integers(0, 5))
        labels = "、".join(SECTORS[s][0] for s in sectors)
        ticket_min = int(10 ** self.rng.uniform(5.0, 6.5))
        return Investor(name=f"投资人 {i}", kind="vc_fund", thesis=f"关注{labels}。{self._words(10)}",
                        sectors=sectors, stages=STAGE_CODES[low:low + int(self.rng.integers(2, 4))],
                        ticket_min_cny=ticket_min, ticket_max_cny=ticket_min * int(self.rng.integers(3, 20)),
                        cities=[str(c) for c in self.rng.choice(CITIES, size=int(self.rng.integers(0, 3)),
                                                                 replace=False)],
                        verification=verification)  # type: ignore[arg-type]


def event(kind: str, entity_id: str, payload: object, version: int = 1) -> Event:
    return Event(type=kind, entity_id=entity_id, entity_version=version, actor="bench", payload=payload)


def vector(side_id: str, version: int, values: list[float]) -> EntityVector:
    return EntityVector(entity_id=side_id, entity_version=version, model=ENCODER, content_hash="bench", vector=values)


def build_view(synth: Synth, n_investors: int, n_projects: int, n_searches: int) -> ReadModel:
    view = ReadModel(ENCODER, text_min_compact=None)
    t0 = time.perf_counter()
    for i in range(n_investors):
        inv = synth.investor(i)
        view.apply(event("InvestorVerified", f"i-{i}", inv))
        view.apply_vector("investors", vector(f"i-{i}", 1, synth.vector(inv.sectors)))
    progress(f"{n_investors} investors in {time.perf_counter() - t0:.0f}s")
    t0 = time.perf_counter()
    for i in range(n_projects):
        p = synth.project(i, owner=f"f-{i % (n_projects // 5 or 1)}")
        view.apply(event("ProjectSubmitted", f"p-{i}", p))
        view.apply_vector("projects", vector(f"p-{i}", 1, synth.vector(p.sectors)))
        if i and i % 20_000 == 0:
            progress(f"  {i} projects ({time.perf_counter() - t0:.0f}s)")
    progress(f"{n_projects} projects in {time.perf_counter() - t0:.0f}s")
    rng = synth.rng
    for n in range(n_searches):  # half investors' searches (projects), half founders' (investors)
        sector = SECTOR_CODES[int(rng.integers(0, len(SECTOR_CODES)))]
        if n % 2 == 0:
            s = SavedSearch(owner_role="investor", owner_id=f"i-{int(rng.integers(0, n_investors))}",
                            sectors=[sector], min_score=0.45)
        else:
            pid = f"p-{int(rng.integers(0, n_projects))}"
            owner = view.projects[pid].value.owner or "f-0"
            s = SavedSearch(owner_role="founder", owner_id=owner, project_id=pid, sectors=[sector], min_score=0.45)
        view.apply(event("SearchSaved", f"s-{n}", s))
    t0 = time.perf_counter()
    for index in (view.project_index, view.investor_index):
        if index is not None:
            index.sync()  # builds the HNSW graph of the projects (above exact_search_limit)
    view.compact_text()
    progress(f"indexes synced in {time.perf_counter() - t0:.0f}s")
    return view


def wait_evaluated(alerter: Alerter, topics: Topics, timeout: float) -> None:
    """Until the alerter has evaluated everything produced so far to the entity and vector topics."""
    names = (topics.projects, topics.project_vectors, topics.investors, topics.investor_vectors)
    parts = [tp for tp in alerter.partitions if tp.topic in names]
    ends = alerter.offsets.end_offsets(parts)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alerter.evaluated.get(tp, 0) < end for tp, end in ends.items()):
        time.sleep(0.05)


def timed_evaluations(alerter: Alerter, subjects: Iterable[tuple[str, str]]) -> tuple[list[float], int]:
    seconds, found = [], 0
    for subject in subjects:
        t0 = time.perf_counter()
        found += len(alerter.evaluator.evaluate([subject]))
        seconds.append(time.perf_counter() - t0)
    return seconds, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--investors", type=int, default=10_000)
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=2_000, help="saved searches (half investors', half founders')")
    parser.add_argument("--events", type=int, default=60, help="timed project events")
    parser.add_argument("--investor-events", type=int, default=20)
    # 1/s is ~86k new projects a day, far above this service's real rate; an evaluation costs ~0.2 s per
    # change (the project, then its vector) at 10k x 100k, so a few projects/s saturate one alerter (bulk_import)
    parser.add_argument("--rate", type=float, default=1.0, help="timed events per second")
    parser.add_argument("--bulk", type=int, default=200, help="projects (and their vectors) in the bulk import")
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()

    synth = Synth(args.dim)
    progress(f"building the alerter's read model: {args.investors} investors, {args.projects} projects")
    view = build_view(synth, args.investors, args.projects, args.searches)
    settings = Settings()
    policy = AlertPolicy(settings.alert_default_min_score, settings.alert_max_recipients)

    bootstrap, broker = bench_broker()
    producer = EventProducer(bootstrap)
    alerter: Alerter | None = None
    try:
        topics = Topics(f"balerts{uuid.uuid4().hex[:6]}")
        ensure_topics(bootstrap, topics)
        alerter = Alerter(view, MatchService(view), EventProducer(bootstrap), bootstrap, topics, policy)
        first_alert: dict[str, float] = {}
        alert_times: list[float] = []

        def on_alert(alert: MatchAlert, at: float) -> None:
            first_alert.setdefault(alert.subject_id, at)
            alert_times.append(at)

        alerter.on_alert = on_alert
        alerter.catch_up()
        alerter.start()
        rows = []

        # evaluation alone (existing entities: nothing is produced, only computed)
        picks = synth.rng.choice(args.projects, size=50, replace=False)
        secs, found = timed_evaluations(alerter, [("project", f"p-{i}") for i in picks])
        rows.append(latency_row("evaluate_project", secs, alerts_per_event=round(found / len(secs), 2)))
        picks = synth.rng.choice(args.investors, size=20, replace=False)
        secs, found = timed_evaluations(alerter, [("investor", f"i-{i}") for i in picks])
        rows.append(latency_row("evaluate_investor", secs, alerts_per_event=round(found / len(secs), 2)))
        progress(f"evaluation alone: {rows[-2]['p50_ms']} ms per project, {rows[-1]['p50_ms']} ms per investor")

        def timed(kind: str, n: int, make) -> dict:
            sent: dict[str, float] = {}
            start = time.monotonic()
            for i in range(n):
                time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                topic, vec_topic, entity_id, payload, vec = make(i)
                sent[entity_id] = time.monotonic()
                producer.publish(topic, event(kind, entity_id, payload))
                producer.send_async(vec_topic, entity_id.encode(), vector(entity_id, 1, vec).model_dump_json().encode())
            producer.flush()
            wait_evaluated(alerter, topics, timeout=60)
            seconds = [first_alert[e] - t for e, t in sent.items() if e in first_alert]
            return latency_row(f"{kind}_to_alerts", seconds or [float("nan")], events=n,
                               events_with_alerts=len(seconds), per_s=args.rate)

        def new_project(i: int):
            p = synth.project(args.projects + i, owner=f"f-new-{i}")
            return topics.projects, topics.project_vectors, f"p-new-{i}", p, synth.vector(p.sectors)

        def new_investor(i: int):
            inv = synth.investor(args.investors + i)
            return topics.investors, topics.investor_vectors, f"i-new-{i}", inv, synth.vector(inv.sectors)

        progress(f"{args.events} project events at {args.rate}/s")
        row = timed("ProjectSubmitted", args.events, new_project)
        rows.append({**row, "name": "project_event_to_alerts"})
        progress(f"  p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")
        progress(f"{args.investor_events} investor events at {args.rate}/s")
        row = timed("InvestorVerified", args.investor_events, new_investor)
        rows.append({**row, "name": "investor_event_to_alerts"})
        progress(f"  p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")

        progress(f"bulk import of {args.bulk} projects")
        before_alerts, before_n = alerter.produced, len(alert_times)
        start = time.monotonic()
        for i in range(args.bulk):
            p = synth.project(args.projects + args.events + i, owner=f"f-bulk-{i % 500}")
            pid = f"p-bulk-{i}"
            producer.send_async(topics.projects, pid.encode(), event("ProjectSubmitted", pid, p).to_bytes())
            producer.send_async(topics.project_vectors, pid.encode(),
                                vector(pid, 1, synth.vector(p.sectors)).model_dump_json().encode())
        producer.flush()
        produced_s = time.monotonic() - start
        wait_evaluated(alerter, topics, timeout=600)
        elapsed = time.monotonic() - start
        alerts = alerter.produced - before_alerts
        times = alert_times[before_n:]
        rows.append({"name": "bulk_import", "projects": args.bulk, "alerts": alerts,
                     "per_s": round(alerts / elapsed, 1), "projects_per_s": round(args.bulk / elapsed, 2),
                     "seconds": round(elapsed, 2), "produce_s": round(produced_s, 2),
                     "alert_span_s": round(times[-1] - times[0], 2) if times else None})
        progress(f"  {alerts} alerts in {elapsed:.1f}s")
        emit("bench.alerts", rows, investors=args.investors, projects=args.projects, searches=args.searches,
             dim=args.dim, target="p99 <= 1000 ms from event to alert",
             default_min_score=policy.default_min_score, max_recipients=policy.max_recipients)
    finally:
        if alerter is not None:
            alerter.stop(snapshot=False)
        producer.close()
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
