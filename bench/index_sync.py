"""First search after a batch: what a request pays when the vector index was not synced after new vectors.

    python -m bench.index_sync [--sizes 60k] [--batches 100,1000] [--repeats 5] [--queries 200] [--no-crossing]

The read model's `matcher.index.VectorIndex` (exact search up to `exact_limit`, the service's 50,000 by
default; a FAISS HNSW graph above it) adds new rows to its graph in `sync()`, which the indexer calls after
each batch (`consumers.indexer.Indexer.sync_indexes`), a chunk of rows at a time under the index lock. Until
then a search scores the rows not yet in the graph exactly; it syncs first only past a limit of pending rows
(`matcher.index._PENDING_LIMIT`), or when the index first crosses `exact_limit` (it builds the graph).
Per size, one index of clustered 384-d vectors (`bench.query.clustered`), one query at a time, rows:

- `steady`: a search with nothing pending (half the queries before the batches, half after): the baseline;
- `first_after_crossing_unsynced` / `_synced`: the index loaded past `exact_limit` without a sync, then the
  first search (it builds the graph) / `sync()` first (timed as `sync_ms`), then the first search. One
  sample each (a build per row); `--no-crossing` skips them;
- per batch size, `--repeats` times each: `first_after_B_unsynced` (B new vectors, then a search that scores
  them exactly, or adds them first if B exceeds the pending limit; `next_*` is the search after it; an
  untimed `sync()` follows),
  `first_after_B_synced` (B new vectors, `sync()` as the indexer does, then a search), and `during_sync_B`
  (a search issued ~1 ms after `sync()` started on another thread, as a request arriving while the indexer
  syncs: it waits for the chunk being added, if any).

Each batch adds new keys, so the index grows by (3 x repeats x sum of batches) over the run; `n_end` says how
far. Prints one JSON object on stdout (progress goes to stderr); latency rows carry `ratio` = their p50 over
the steady p50. No thresholds.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from typing import Any

import numpy as np

from bench.common import emit, progress
from bench.query import K, clustered, parse_size, unit_centres
from matcher.index import VectorIndex
from models.settings import Settings


def ms_row(name: str, millis: list[float], steady_p50: float, **extra: Any) -> dict[str, Any]:
    a = np.asarray(millis)
    return {"name": name, "p50_ms": round(float(np.median(a)), 3), "min_ms": round(float(a.min()), 3),
            "max_ms": round(float(a.max()), 3), "samples": len(a),
            "ratio": round(float(np.median(a)) / steady_p50, 2), **extra}


class Run:
    """One size: the vectors, a stream of fresh queries, and the timings."""

    def __init__(self, n: int, args: argparse.Namespace, centres: np.ndarray) -> None:
        self.args, self.centres = args, centres
        self.rng = np.random.default_rng(args.seed + n)
        self.n = n
        self.queries = clustered(4096, centres, args.noise, self.rng)  # [4096, dim], cycled
        self.used = 0
        self.added = 0

    def query(self) -> np.ndarray:
        self.used += 1
        return self.queries[self.used % len(self.queries)]

    def search_ms(self, index: VectorIndex) -> float:
        q = self.query()
        start = time.perf_counter()
        index.search(q, K)
        return (time.perf_counter() - start) * 1e3

    def loaded(self) -> VectorIndex:
        """An index holding the size's n vectors (the same ones every call), not synced."""
        rng = np.random.default_rng(self.args.seed + self.n + 1)
        index = VectorIndex(self.args.dim, exact_limit=self.args.exact_limit)
        index.upsert_many([f"e{i}" for i in range(self.n)], clustered(self.n, self.centres, self.args.noise, rng))
        return index

    def add(self, index: VectorIndex, batch: int) -> None:
        keys = [f"new{self.added + i}" for i in range(batch)]
        index.upsert_many(keys, clustered(batch, self.centres, self.args.noise, self.rng))
        self.added += batch


def timed_ms(call: Any) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1e3


def search_during_sync(run: Run, index: VectorIndex) -> tuple[float, float]:
    """A search issued ~1 ms after `sync()` started on another thread: (search ms, sync ms)."""
    syncing: list[float] = []
    thread = threading.Thread(target=lambda: syncing.append(timed_ms(index.sync)))
    thread.start()
    time.sleep(0.001)
    search = run.search_ms(index)
    thread.join()
    return search, syncing[0]


def bench_size(n: int, args: argparse.Namespace, centres: np.ndarray) -> list[dict[str, Any]]:
    run = Run(n, args, centres)
    crossing: list[tuple[str, dict[str, float]]] = []
    if args.crossing and n > args.exact_limit:
        progress(f"n={n}: loading {n} vectors, first search without a sync (builds the HNSW graph)")
        index = run.loaded()
        build_ms = run.search_ms(index)
        crossing.append(("first_after_crossing_unsynced", {"first_ms": build_ms, "next_ms": run.search_ms(index)}))
        progress(f"  first search {build_ms / 1e3:.1f} s")
        del index
        progress(f"n={n}: loading again, sync() first (as the indexer does), then the first search")
        index = run.loaded()
        sync = timed_ms(index.sync)
        crossing.append(("first_after_crossing_synced", {"sync_ms": sync, "first_ms": run.search_ms(index)}))
        progress(f"  sync {sync / 1e3:.1f} s, then first search {crossing[-1][1]['first_ms']:.1f} ms")
    else:
        progress(f"n={n}: loading {n} vectors and syncing")
        index = run.loaded()
        index.sync()
    mode = index.mode

    for _ in range(5):  # warm up
        run.search_ms(index)
    half = args.queries // 2
    progress(f"n={n} ({mode}): {half} steady searches")
    steady = [run.search_ms(index) for _ in range(half)]

    first: dict[tuple[int, str], list[float]] = {}
    extra: dict[tuple[int, str], list[float]] = {}  # next search (unsynced) or sync() milliseconds
    kinds = ("unsynced", "synced", "during_sync")
    for rep in range(args.repeats):
        progress(f"n={n}: repeat {rep + 1}/{args.repeats} (index holds {len(index)})")
        for batch in args.batches:
            for kind in kinds[rep % 3:] + kinds[: rep % 3]:  # rotate the order: the index grows as it goes
                run.add(index, batch)
                if kind == "unsynced":
                    first.setdefault((batch, kind), []).append(run.search_ms(index))
                    extra.setdefault((batch, kind), []).append(run.search_ms(index))
                    index.sync()  # searches leave the rows pending: the next kind starts from a synced index
                elif kind == "synced":
                    extra.setdefault((batch, kind), []).append(timed_ms(index.sync))
                    first.setdefault((batch, kind), []).append(run.search_ms(index))
                else:
                    search, sync = search_during_sync(run, index)
                    first.setdefault((batch, kind), []).append(search)
                    extra.setdefault((batch, kind), []).append(sync)
                for _ in range(3):  # settle: the following searches are steady again
                    run.search_ms(index)

    progress(f"n={n}: {args.queries - half} more steady searches")
    steady += [run.search_ms(index) for _ in range(args.queries - half)]
    base = float(np.median(steady))
    rows: list[dict[str, Any]] = [{
        "name": "steady", "n": n, "mode": mode, "p50_ms": round(base, 3),
        "p99_ms": round(float(np.percentile(steady, 99)), 3), "samples": len(steady), "ratio": 1.0}]
    for name, values in crossing:
        rows.append({"name": name, "n": n, "exact_limit": args.exact_limit, "samples": 1,
                     **{k: round(v, 1) for k, v in values.items()},
                     "ratio": round(values["first_ms"] / base, 2)})
    for batch in args.batches:
        for kind in kinds:
            key = (batch, kind)
            name = f"during_sync_{batch}" if kind == "during_sync" else f"first_after_{batch}_{kind}"
            other = "next" if kind == "unsynced" else "sync"
            more = {f"{other}_p50_ms": round(float(np.median(extra[key])), 3),
                    f"{other}_max_ms": round(float(np.max(extra[key])), 3)}
            rows.append(ms_row(name, first[key], base, n=n, batch=batch, **more))
    for row in rows:
        progress(f"  {row}")
    rows[0]["n_end"] = len(index)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.index_sync", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60k", help="comma-separated index sizes (60k, 200k, 25000)")
    parser.add_argument("--batches", default="100,1000", help="comma-separated numbers of new vectors per batch")
    parser.add_argument("--repeats", type=int, default=5, help="samples per batch size and kind")
    parser.add_argument("--queries", type=int, default=200, help="steady searches (half before, half after)")
    parser.add_argument("--crossing", action=argparse.BooleanOptionalAction, default=True,
                        help="time the graph build of crossing exact_limit, unsynced and synced (two builds)")
    parser.add_argument("--exact-limit", type=int, default=Settings().exact_search_limit,
                        help="VectorIndex exact_limit (the service's setting by default)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.8, help="noise norm relative to the unit centres")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if args.repeats < 1 or args.queries < 2 or not args.batches or min(args.batches) < 1 or min(sizes) < K:
        parser.error(f"need --repeats >= 1, --queries >= 2, batches >= 1 and sizes >= {K}")

    centres = unit_centres(args.centres, args.dim, args.seed)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    rows = [row for n in sizes for row in bench_size(n, args, centres)]
    import faiss  # only for the thread count it ran with; matcher.index already imported it

    emit("index_sync", rows, dim=args.dim, k=K, exact_limit=args.exact_limit, repeats=args.repeats,
         batches=args.batches, faiss_threads=faiss.omp_get_max_threads(),
         load_avg=[round(load_before, 2), round(os.getloadavg()[0], 2)],
         seconds=round(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
