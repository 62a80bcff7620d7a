"""Recommendation latency over real HTTP (uvicorn) next to the in-process MatchService call, at 10k and 100k projects.

    python -m bench.http [--sizes 10k,100k] [--connections 16] [--duration 10] [--loadgen auto|wrk|python]

The read model is built in this process from synthetic events (`view.apply`) and clustered vectors
(`view.apply_vector`), no broker; the app is `create_app` over it, served by uvicorn in this process as the API
replica would be. The load comes from another process: `wrk` when it is installed (a Lua script rotates over
investors and their keys), else an asyncio + httpx client. Each request is an investor's deal feed
(`GET /v1/investors/{id}/feed?k=10` with that investor's key): auth, policy, MatchService, mapping, JSON.

Rows (one JSON object on stdout; progress on stderr):
- `inprocess`: `MatchService.recommend_projects` called directly, one at a time;
- `http_c1`: one connection, one request at a time: the HTTP stack's own cost (ratio = p50 / in-process p50);
- `http_cN`: N concurrent connections: throughput, and latency including queueing on the 2 cores;
- `crowding`: the part of the in-process call spent counting, per candidate, the investors that fit it better;
- `compaction`: in-process feeds served while all four keyword indexes compact in another thread, as a replica's
  indexer does every 10% of project changes: the way it was until this stop (each `compact()` under the view lock,
  so feeds wait for it) against the indexer's way now (`ReadModel.compact_text_indexes`: `plan_compaction` and
  `install` under the lock, the matrix built without it). Also the seconds each index's compaction takes;
- `gc`: a full garbage collection with the read model in memory, before and after `gc.freeze()` (what the API and
  the alerter call once they have replayed the log: `consumers.loop.freeze_long_lived`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.app import create_app
from api.auth import hash_key
from bench.common import emit, latency_row, progress
from bench.query import clustered, parse_size
from consumers.topics import Topics
from matcher.commands import CommandService
from matcher.ports import Delivery, PublishFailed
from matcher.service import MatchService
from matcher.view import ReadModel
from models.entities import Investor, PortfolioCompany, Project
from models.events import ApiKey, EntityVector, Event
from models.settings import Settings
from models.taxonomy import FOUNDER_BACKGROUNDS, SECTORS, STAGES

DIM = 384  # the packaged encoders' dimension
ENCODER = "bench:clustered"
CITIES = ("杭州", "宁波", "温州", "上海", "苏州", "深圳", "北京", "成都", "武汉", "合肥")
WORDS = ("工业视觉", "质检", "储能", "电池回收", "跨境电商", "SaaS", "机器人", "carbon", "vision", "logistics",
         "供应链", "fintech", "医疗影像", "diagnostics", "新材料", "芯片", "edge AI", "农业无人机", "教育", "内容")
FEED_K = 10


# ---- a read model from synthetic events ---------------------------------------------------------------
def _words(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[i] for i in rng.choice(len(WORDS), n, replace=False))


def build_view(n_projects: int, n_investors: int, n_keys: int, rng: np.random.Generator
               ) -> tuple[ReadModel, list[tuple[str, str]]]:
    """A read model with `n_projects` open projects and `n_investors` verified investors (0-8 portfolio companies
    each); returns it and (investor id, plaintext key) for the first `n_keys` investors."""
    view = ReadModel(ENCODER, exact_search_limit=Settings().exact_search_limit, text_min_compact=None)
    sectors, stages, backgrounds = list(SECTORS), list(STAGES), list(FOUNDER_BACKGROUNDS)
    centres = rng.standard_normal((max(64, n_projects // 200), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    project_vectors = clustered(n_projects, centres, 0.8, rng)  # [n_projects, DIM]
    investor_vectors = clustered(n_investors, centres, 0.8, rng)  # [n_investors, DIM]
    started = time.perf_counter()
    for i in range(n_projects):
        picked = [sectors[j] for j in rng.choice(len(sectors), 2, replace=False)]
        project = Project(name=f"项目{i} Project {i}", summary=f"{_words(rng, 4)} startup {i}", sectors=picked,
                          stage=stages[int(rng.integers(0, 6))], amount_sought_cny=int(rng.integers(5, 500)) * 100_000,
                          city=CITIES[int(rng.integers(0, len(CITIES)))],
                          founder_background=backgrounds[int(rng.integers(0, len(backgrounds)))],
                          traction=_words(rng, 2), owner=f"f-{i % 5000}")
        pid = f"p-{i}"
        view.apply(Event(type="ProjectSubmitted", entity_id=pid, entity_version=1, actor="bench", payload=project))
        view.apply_vector("projects", EntityVector.model_construct(
            entity_id=pid, entity_version=1, model=ENCODER, content_hash="-", vector=project_vectors[i]))
        if i and i % 20_000 == 0:
            progress(f"  {i} projects applied ({time.perf_counter() - started:.0f}s)")
    keys = []
    for i in range(n_investors):
        low = int(rng.integers(1, 20)) * 100_000
        investor = Investor(name=f"投资人{i} Investor {i}", kind="angel_group", thesis=f"{_words(rng, 5)} early stage",
                            sectors=[sectors[j] for j in rng.choice(len(sectors), 3, replace=False)],
                            stages=[stages[j] for j in sorted(rng.choice(6, 2, replace=False))],
                            ticket_min_cny=low, ticket_max_cny=low * 10,
                            cities=[CITIES[int(rng.integers(0, len(CITIES)))]], verification="verified",
                            portfolio=[PortfolioCompany(name=f"Portfolio {i}-{j}", description=_words(rng, 4),
                                                        sectors=[sectors[int(rng.integers(0, len(sectors)))]],
                                                        year=int(rng.integers(2015, 2026)))
                                       for j in range(int(rng.integers(0, 9)))])  # a median angel's few deals
        iid = f"i-{i}"
        view.apply(Event(type="InvestorVerified", entity_id=iid, entity_version=1, actor="bench", payload=investor))
        view.apply_vector("investors", EntityVector.model_construct(
            entity_id=iid, entity_version=1, model=ENCODER, content_hash="-", vector=investor_vectors[i]))
        if i < n_keys:
            key = "mmk_" + secrets.token_urlsafe(32)
            view.apply(Event(type="ApiKeyIssued", entity_id=f"k-{i}", entity_version=1, actor="bench",
                             payload=ApiKey(key_hash=hash_key(key), role="investor", entity_id=iid)))
            keys.append((iid, key))
    for index in (view.project_index, view.investor_index):
        if index is not None:
            index.sync()  # build the HNSW graph now, not on the first request
    view.compact_text()
    progress(f"  read model built in {time.perf_counter() - started:.0f}s "
             f"(project index: {view.project_index.mode if view.project_index else None})")
    return view, keys


class NoBroker:
    def publish(self, topic: str, event: Event) -> Delivery:
        raise PublishFailed("this benchmark has no broker")


@dataclass
class BenchContainer:
    """What create_app needs, wired around an in-process read model (no indexer: nothing to follow)."""

    settings: Settings
    view: ReadModel
    matches: MatchService
    commands: CommandService
    indexer: None = None


# ---- serving ------------------------------------------------------------------------------------------
class Server:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, backlog=1024))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


# ---- load generators (separate processes) ---------------------------------------------------------------
WRK_SCRIPT = """
local targets = {%s}
local n = 0
request = function()
  n = n + 1
  local t = targets[(n %% #targets) + 1]
  return wrk.format("GET", t[1], {["Authorization"] = "Bearer " .. t[2]})
end
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests": %%d, "seconds": %%f, "p50_us": %%f, "p99_us": %%f, ' ..
    '"errors": %%d, "non2xx": %%d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end
"""


def run_wrk(url: str, targets: list[tuple[str, str]], connections: int, duration: float) -> dict[str, Any]:
    lua = WRK_SCRIPT % ", ".join(f'{{"{path}", "{key}"}}' for path, key in targets)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    threads = min(2, connections)
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:.0f}s", "--timeout", "30s",
                          "-s", f.name, url], capture_output=True, text=True, check=True).stdout
    Path(f.name).unlink()
    data = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON")).split(" ", 1)[1])
    return {"requests": data["requests"], "per_s": data["requests"] / data["seconds"],
            "p50_ms": data["p50_us"] / 1000, "p99_ms": data["p99_us"] / 1000,
            "errors": data["errors"] + data["non2xx"]}


async def _python_load(url: str, targets: list[tuple[str, str]], connections: int, duration: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def user(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal errors
        n = offset
        while time.perf_counter() < deadline:
            path, key = targets[n % len(targets)]
            n += connections
            start = time.perf_counter()
            r = await client.get(path, headers={"Authorization": f"Bearer {key}"})
            latencies.append(time.perf_counter() - start)
            errors += r.status_code != 200

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(user(client, i) for i in range(connections)))
        elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {"requests": len(ms), "per_s": len(ms) / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "errors": errors}


def run_python_load(url: str, targets: list[tuple[str, str]], connections: int, duration: float) -> dict[str, Any]:
    spec = json.dumps({"url": url, "targets": targets, "connections": connections, "duration": duration})
    out = subprocess.run([sys.executable, "-m", "bench.http", "--loadgen-worker"], input=spec, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


# ---- the benchmark ------------------------------------------------------------------------------------
def bench_size(n: int, args: argparse.Namespace, loadgen: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    progress(f"n={n}: building the read model ({args.investors} investors)")
    view, keys = build_view(n, args.investors, args.keys, rng)
    settings = Settings(admin_api_key=secrets.token_urlsafe(24))
    matches = MatchService(view)
    container = BenchContainer(settings=settings, view=view, matches=matches,
                               commands=CommandService(view, NoBroker(), Topics("bench").for_event_type))
    investors = [iid for iid, _ in keys]

    stalls = {}
    for name in ("project_text", "investor_text", "portfolio_words", "project_words"):
        start = time.perf_counter()
        getattr(view, name).compact()
        stalls[f"{name}_s"] = round(time.perf_counter() - start, 3)
    for iid in investors[:20]:
        matches.recommend_projects(iid, FEED_K)  # warm caches (portfolio rows, index)
    stalls.update(feeds_during_compaction(view, matches, investors))
    seconds: list[float] = []

    def in_process(count: int) -> None:
        """Half before the HTTP runs and half after: the 2 cores are shared, so the load drifts."""
        progress(f"n={n}: in-process recommend_projects x{count}")
        for _ in range(count):
            start = time.perf_counter()
            matches.recommend_projects(investors[len(seconds) % len(investors)], FEED_K)
            seconds.append(time.perf_counter() - start)

    in_process(args.queries // 2)
    rows: list[dict[str, Any]] = [{"name": "inprocess", "n": n, "ratio": 1.0}]
    targets = [(f"/v1/investors/{iid}/feed?k={FEED_K}", key) for iid, key in keys]
    with Server(create_app(container)) as server:
        import httpx

        with httpx.Client(base_url=server.url) as client:  # warm up, and check the route answers
            for path, key in targets[:20]:
                r = client.get(path, headers={"Authorization": f"Bearer {key}"})
                assert r.status_code == 200 and len(r.json()["data"]) == FEED_K, r.text[:300]
        run = run_wrk if loadgen == "wrk" else run_python_load
        for connections in (1, args.connections):
            progress(f"n={n}: HTTP load, {connections} connection(s), {args.duration:.0f}s ({loadgen})")
            result = run(server.url, targets, connections, args.duration)
            rows.append({"name": f"http_c{connections}", "n": n, "p50_ms": result["p50_ms"],
                         "p99_ms": result["p99_ms"], "per_s": result["per_s"],
                         "requests": result["requests"],
                         "errors": result["errors"], "connections": connections, "loadgen": loadgen})
    in_process(args.queries - args.queries // 2)
    ms = np.asarray(seconds) * 1000
    rows[0].update(p50_ms=float(np.percentile(ms, 50)), p99_ms=float(np.percentile(ms, 99)),
                   per_s=1000 / float(ms.mean()), requests=len(ms))
    for row in rows[1:]:
        row["ratio"] = row["p50_ms"] / rows[0]["p50_ms"]
    ordered = []
    for row in rows:
        head = {key: row[key] if key in ("name", "n") else round(row[key], 3)
                for key in ("name", "n", "p50_ms", "p99_ms", "per_s", "ratio")}
        ordered.append({**head, **{k: v for k, v in row.items() if k not in head}})
        progress(f"  {ordered[-1]}")
    ordered.append({"name": "compaction", "n": n, **stalls})
    progress(f"  {ordered[-1]}")
    ordered.append({**crowding_cost(matches, investors[:args.queries], rows[0]["p50_ms"]), "n": n})
    progress(f"  {ordered[-1]}")
    ordered.append({**full_collection_pause(), "n": n})
    progress(f"  {ordered[-1]}")
    return ordered


def feeds_during_compaction(view: ReadModel, matches: MatchService, investors: list[str]) -> dict[str, Any]:
    """Feeds one after another while another thread compacts every keyword index, under the view lock (the old
    way) and then off it (the indexer's way): p50 and max of those feeds, how many, and the compaction's seconds."""

    def under_lock() -> None:
        for index in view.text_indexes():
            with view.lock:
                index.compact()

    out: dict[str, Any] = {}
    def off_lock() -> None:
        view.compact_text_indexes(due_only=False)

    for name, compaction in (("under_lock", under_lock), ("off_lock", off_lock)):
        progress(f"feeds during a compaction {name.replace('_', ' ')}")
        seconds: list[float] = []
        thread = threading.Thread(target=compaction)
        began = time.perf_counter()
        thread.start()
        while thread.is_alive():
            start = time.perf_counter()
            matches.recommend_projects(investors[len(seconds) % len(investors)], FEED_K)
            seconds.append(time.perf_counter() - start)
        thread.join()
        ms = np.asarray(seconds) * 1000
        out.update({f"{name}_s": round(time.perf_counter() - began, 3), f"{name}_feeds": len(ms),
                    f"{name}_feed_p50_ms": round(float(np.median(ms)), 2),
                    f"{name}_feed_max_ms": round(float(ms.max()), 2)})
    return out


def full_collection_pause() -> dict[str, Any]:
    """What a full garbage collection costs with the read model in memory (every thread waits for it), and the
    same after `gc.freeze()`; unfrozen again afterwards, so that the next size starts alike."""

    def pauses() -> list[float]:
        out = []
        for _ in range(3):
            start = time.perf_counter()
            gc.collect()
            out.append(round((time.perf_counter() - start) * 1000, 1))
        return out

    tracked = len(gc.get_objects())
    before = pauses()
    gc.freeze()
    after = pauses()
    gc.unfreeze()
    return {"name": "gc", "tracked_objects": tracked, "full_collection_ms": before, "after_freeze_ms": after}


def crowding_cost(matches: MatchService, investors: list[str], feed_p50_ms: float) -> dict[str, object]:
    """What the feed's crowding term costs inside the in-process call: `better_fits` over each feed's candidates
    (how many other investors' portfolios fit each project better), p50 ms and its share of the feed's p50."""
    seconds = []
    for iid in investors:
        candidates = matches.project_candidates(iid, FEED_K)
        start = time.perf_counter()
        matches.better_fits(iid, candidates)
        seconds.append(time.perf_counter() - start)
    row = latency_row("crowding", seconds)
    return {**row, "share_of_feed_p50": round(row["p50_ms"] / feed_p50_ms, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10k,100k", help="project counts, e.g. 10k,100k")
    parser.add_argument("--investors", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=200, help="investors with keys (the load rotates over them)")
    parser.add_argument("--queries", type=int, default=300, help="in-process calls per size")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per connection count")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--loadgen-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loadgen_worker:  # the Python load generator's own process: spec on stdin, result on stdout
        spec = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_python_load(spec["url"], [tuple(t) for t in spec["targets"]],
                                                  spec["connections"], spec["duration"]))))
        return
    loadgen = ("wrk" if shutil.which("wrk") else "python") if args.loadgen == "auto" else args.loadgen
    rows: list[dict[str, Any]] = []
    for n in (parse_size(s) for s in args.sizes.split(",")):
        rows += bench_size(n, args, loadgen)
    emit("http", rows, loadgen=loadgen, connections=args.connections, duration_s=args.duration,
         investors=args.investors, k=FEED_K)


if __name__ == "__main__":
    main()
