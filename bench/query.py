"""Query latency and recall@10 of matcher.index.VectorIndex against exact numpy search, plus write costs.

    python -m bench.query [--sizes 10k,100k,1M] [--queries 200]

Prints one JSON object on stdout (progress goes to stderr). Vectors are clustered (Gaussian noise around a
few thousand unit centres, then normalised): uniform random vectors have no neighbour structure and make any
approximate index look broken. Queries come from the same distribution but are not in the index.
Every latency is one query (or one write) at a time, as the service issues them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from matcher.index import VectorIndex

K = 10


def log(message: str) -> None:
    print(f"[bench.query {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def unit_centres(count: int, dim: int, seed: int) -> np.ndarray:
    """[count, dim] float32 random unit vectors: the cluster centres of `clustered`."""
    centres = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def clustered(n: int, centres: np.ndarray, noise: float, rng: np.random.Generator, block: int = 100_000) -> np.ndarray:
    """[n, dim] float32 unit vectors: a random centre ([c, dim]) plus Gaussian noise of norm ~`noise`."""
    dim = centres.shape[1]
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, block):
        rows = out[start : start + block]
        rng.standard_normal(rows.shape, dtype=np.float32, out=rows)
        rows *= noise / np.sqrt(dim)
        rows += centres[rng.integers(0, len(centres), len(rows))]
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def timed(calls: list[Callable[[], Any]]) -> tuple[np.ndarray, list[Any]]:
    """Run each call once; returns per-call milliseconds ([len(calls)]) and the results."""
    millis, results = np.empty(len(calls)), []
    for i, call in enumerate(calls):
        start = time.perf_counter()
        results.append(call())
        millis[i] = (time.perf_counter() - start) * 1e3
    return millis, results


def latency(millis: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(millis, 50)), 3),
        "p99_ms": round(float(np.percentile(millis, 99)), 3),
        "per_s": round(float(1e3 / millis.mean()), 1),
    }


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    """The numpy baseline: row numbers of the k best inner products, best first. vectors: [n, dim]."""
    scores = vectors @ query  # [n]
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def recall(found: list[list[tuple[str, float]]], truth: list[set[str]]) -> float:
    return round(float(np.mean([len({key for key, _ in f} & t) / K for f, t in zip(found, truth, strict=True)])), 4)


def bench_size(n: int, args: argparse.Namespace, centres: np.ndarray) -> list[dict[str, Any]]:
    rng = np.random.default_rng(args.seed + n)
    log(f"n={n}: generating {n} x {args.dim} vectors")
    vectors = clustered(n, centres, args.noise, rng)  # [n, dim]
    queries = clustered(args.queries, centres, args.noise, rng)  # [n_queries, dim]
    keys = [f"e{i}" for i in range(n)]

    log(f"n={n}: exact numpy baseline")
    for q in queries[:5]:
        exact_top(vectors, q)
    base_ms, base_top = timed([partial(exact_top, vectors, q) for q in queries])
    truth = [{keys[i] for i in top} for top in base_top]
    base = latency(base_ms)

    log(f"n={n}: building VectorIndex (exact_limit={args.exact_limit})")
    start = time.perf_counter()
    options = {
        name: value
        for name, value in (("ef_search", args.ef_search), ("ef_construction", args.ef_construction), ("m", args.m))
        if value is not None
    }
    index = VectorIndex(args.dim, exact_limit=args.exact_limit, **options)
    index.upsert_many(keys, vectors)
    index.sync()
    build_s = time.perf_counter() - start
    log(f"n={n}: built in {build_s:.1f} s, mode {index.mode}; searching")
    for q in queries[:5]:
        index.search(q, K)
    index_ms, found = timed([partial(index.search, q, K) for q in queries])
    rows: list[dict[str, Any]] = [
        {
            "name": "vector_index.search",
            "n": n,
            **latency(index_ms),
            "ratio": round(float(np.percentile(index_ms, 50) / np.percentile(base_ms, 50)), 4),
            "recall@10": recall(found, truth),
            "mode": index.mode,
            "ef_search": index.ef_search,
            "ef_construction": index.ef_construction,
            "m": index.m,
            "build_s": round(build_s, 2),
        },
        {"name": "exact_numpy.search", "n": n, **base, "ratio": 1.0, "recall@10": 1.0},
    ]

    for share in args.allowed_shares:
        chosen = np.flatnonzero(rng.random(n) < share)  # [m] row numbers
        allowed = {keys[i] for i in chosen}
        log(f"n={n}: search with {len(allowed)} allowed keys ({share:.0%})")
        some = queries[: args.allowed_queries]  # the key-to-slot lookup makes large filters slow at 1M
        subset = vectors[chosen]  # [m, dim]
        sub_truth = [{keys[chosen[i]] for i in exact_top(subset, q)} for q in some]
        del subset
        ms, found = timed([partial(index.search, q, K, allowed=allowed) for q in some])
        rows.append(
            {
                "name": f"vector_index.search_allowed_{share:.0%}",
                "n": n,
                **latency(ms),
                "ratio": round(float(np.percentile(ms, 50) / np.percentile(base_ms, 50)), 4),
                "recall@10": recall(found, sub_truth),
                "allowed": len(allowed),
                "queries": len(some),
            }
        )

    churn = rng.choice(n, size=2 * args.writes, replace=False)
    updated, removed = churn[: args.writes], churn[args.writes :]
    fresh = clustered(args.writes, centres, args.noise, rng)
    log(f"n={n}: {args.writes} upserts of existing keys, then {args.writes} removes")
    ms, _ = timed([partial(index.upsert, keys[i], v) for i, v in zip(updated, fresh, strict=True)])
    start = time.perf_counter()
    index.sync()  # in HNSW mode: adds the appended rows to the graph, as the indexer does after a batch
    sync_ms = (time.perf_counter() - start) * 1e3
    rows.append(
        {
            "name": "vector_index.upsert",
            "n": n,
            **latency(ms),
            "max_ms": round(float(ms.max()), 3),
            "sync_ms_per_upsert": round(sync_ms / args.writes, 3),
        }
    )
    ms, _ = timed([partial(index.remove, keys[i]) for i in removed])
    rows.append({"name": "vector_index.remove", "n": n, **latency(ms), "max_ms": round(float(ms.max()), 3)})

    if n <= args.compact_max:
        log(f"n={n}: compacting {args.writes * 2} dead slots")
        start = time.perf_counter()
        index.compact()
        rows.append({"name": "vector_index.compact", "n": n, "seconds": round(time.perf_counter() - start, 2)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.query", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1M", help="comma-separated index sizes (10k, 1M, 25000)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.8, help="noise norm relative to the unit centres")
    parser.add_argument("--exact-limit", type=int, default=50_000, help="VectorIndex exact_limit")
    parser.add_argument("--ef-search", type=int, default=None, help="VectorIndex ef_search (default: its own)")
    parser.add_argument("--ef-construction", type=int, default=None, help="VectorIndex ef_construction")
    parser.add_argument("--m", type=int, default=None, help="VectorIndex m (HNSW neighbours per node)")
    parser.add_argument("--allowed-shares", default="0.02,0.2", help="fractions of keys in the `allowed` rows")
    parser.add_argument("--writes", type=int, default=200, help="upserts and removes timed per size")
    parser.add_argument("--allowed-queries", type=int, default=50, help="queries timed per `allowed` row")
    parser.add_argument(
        "--compact-max", type=int, default=10_000, help="time compact() up to this size (HNSW: about build_s)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.allowed_shares = [float(s) for s in args.allowed_shares.split(",") if s.strip()]
    if args.queries < 1 or any(n < 2 * args.writes or n < K for n in sizes):
        parser.error(f"need --queries >= 1 and every size >= max({K}, 2 * --writes)")

    centres = unit_centres(args.centres, args.dim, args.seed)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    rows = [row for n in sizes for row in bench_size(n, args, centres)]
    import faiss  # only for the thread count it ran with; matcher.index already imported it

    report = {
        "benchmark": "bench.query",
        "dim": args.dim,
        "k": K,
        "queries": args.queries,
        "centres": args.centres,
        "noise": args.noise,
        "exact_limit": args.exact_limit,
        "cpu_count": os.cpu_count(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "seconds": round(time.perf_counter() - started, 1),
        # Other work shares the machine: the 1-minute load average before and after the run.
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "rows": rows,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
