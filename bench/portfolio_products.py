"""A deal feed's candidates against the investor's portfolio companies: matcher.sparse.cross_products against the
plain `rows @ others.T` it replaced, in the same run, and whole feeds with either.

    python -m bench.portfolio_products [--projects 10000] [--investors 2000] [--feeds 200]

The read model is bench.http's (synthetic projects and investors with 0-8 portfolio companies, clustered vectors,
no broker). Rows (one JSON object on stdout; progress on stderr):
- `products_transpose` / `products_cross`: one feed's candidates' rows in the portfolio term space against one
  investor's portfolio rows, for every investor with a portfolio (the same pairs for both; results checked equal);
- `feed_transpose` / `feed_cross`: `MatchService.recommend_projects` (k=10) with each, alternating in rounds so that
  the machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import scipy.sparse as sp

import matcher.service
from bench.common import emit, latency_row, progress
from bench.http import build_view
from matcher.service import MatchService
from matcher.sparse import cross_products


def transpose_products(rows: sp.csr_matrix, others: sp.csr_matrix) -> np.ndarray:
    """What the feed did before cross_products: the [F, m] transpose becomes CSR first (O(F) per call)."""
    return (rows @ others.T).toarray()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.portfolio_products", description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--investors", type=int, default=2_000)
    parser.add_argument("--feeds", type=int, default=200, help="investors whose feeds are timed")
    args = parser.parse_args(argv)
    progress(f"building the read model: {args.projects} projects, {args.investors} investors")
    view, keys = build_view(args.projects, args.investors, args.feeds, np.random.default_rng(0))
    service = MatchService(view)
    investors = [iid for iid, _ in keys]

    pairs = []  # (candidates' rows, portfolio companies' rows) as feeds compare them
    for iid in investors:
        stored = view.investors[iid]
        portfolio = service._portfolio(iid, stored.value, stored.version)  # the feed's own, cached rows
        if portfolio.names:
            rows, _ = view.project_words.rows(service.project_candidates(iid, 10))
            pairs.append((rows, portfolio.rows))
    if not pairs:
        raise SystemExit("no investor has a portfolio: nothing to compare")
    rows_out = []
    for name, product in (("products_transpose", transpose_products), ("products_cross", cross_products)):
        seconds = []
        for rows, others in pairs:
            started = time.perf_counter()
            product(rows, others)
            seconds.append(time.perf_counter() - started)
        rows_out.append(latency_row(name, seconds))
    worst = max(float(np.abs(cross_products(r, o) - transpose_products(r, o)).max(initial=0.0)) for r, o in pairs)
    progress(f"{len(pairs)} candidate sets against portfolios; largest difference {worst:.2e}")

    feeds: dict[str, list[float]] = {"feed_transpose": [], "feed_cross": []}
    for iid in investors:  # warm the caches (portfolios, crowd sketches) before timing
        service.recommend_projects(iid, 10)
    try:
        for round_ in range(4):
            order = [("feed_transpose", transpose_products), ("feed_cross", cross_products)]
            for name, product in order if round_ % 2 else order[::-1]:
                matcher.service.cross_products = product  # type: ignore[assignment]  # what _one_investor calls
                for iid in investors:
                    started = time.perf_counter()
                    service.recommend_projects(iid, 10)
                    feeds[name].append(time.perf_counter() - started)
    finally:
        matcher.service.cross_products = cross_products
    rows_out += [latency_row(name, seconds) for name, seconds in feeds.items()]
    for row in rows_out:
        progress(f"{row['name']}: p50 {row['p50_ms']} ms")
    emit("portfolio_products", rows_out, projects=args.projects, investors=args.investors, pairs=len(pairs),
         largest_difference=worst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
