"""Ranked lists walked page by page, and investor search by name, at sizes where candidates no longer cover a side.

    python -m bench.paging [--projects 20000] [--investors 10000]

Pages: an investor's deal feed, k=10, at offsets 0, 90, 490 and 990, as served (the candidate tiers of
MatchService._tiers) against the baseline in the same run: one candidate pool for the page's depth, ranked once,
which is what a page cost before the tiers; and how many projects a k=10 walk of 300 places repeats either way.
Search: an investor search by subject and by name over `--investors` investors (names are looked up beside the
keyword index, `MatchService._named`). Progress to stderr; stdout gets one JSON object.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import emit, latency_row, progress
from bench.http import build_view
from matcher.service import MatchService

REPEATS = 7
OFFSETS = (0, 90, 490, 990)
INVESTOR = "i-3"


def timed(fn) -> list[float]:
    fn()  # warm
    out = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def one_pool_page(service: MatchService, k: int, offset: int) -> list[str]:
    """The page as it was ranked before the tiers: over one candidate pool for the page's depth."""
    with service.view.lock:
        ids = service.project_candidates(INVESTOR, k + offset)
        ranked = service._rank([(INVESTOR, p) for p in ids], -np.inf, "projects", k + offset,
                               better_fits=service.better_fits(INVESTOR, ids))
    return [m.entity_id for m in ranked[offset:]]


def repeats_in_walk(page, k: int = 10, places: int = 300) -> int:
    seen: list[str] = []
    while len(seen) < places:
        seen += page(k, len(seen))
    return len(seen) - len(set(seen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=20_000)
    parser.add_argument("--investors", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    progress(f"building {args.projects} projects, 200 investors")
    view, _ = build_view(args.projects, 200, 0, rng)
    view.compact_text()
    service = MatchService(view)
    rows = []
    for offset in OFFSETS:
        progress(f"feed page at offset {offset}")
        rows.append(latency_row(f"feed page, offset {offset}, tiers",
                                timed(lambda o=offset: service.recommend_projects(INVESTOR, 10, offset=o))))
        rows.append(latency_row(f"feed page, offset {offset}, one pool (baseline)",
                                timed(lambda o=offset: one_pool_page(service, 10, o))))
    tiered = repeats_in_walk(lambda k, o: [m.entity_id for m in service.recommend_projects(INVESTOR, k, offset=o)])
    pooled = repeats_in_walk(lambda k, o: one_pool_page(service, k, o)[:k])
    rows.append({"name": "projects repeated in a k=10 walk of 300 places", "tiers": tiered, "one_pool": pooled})

    progress(f"building 1000 projects, {args.investors} investors")
    view, _ = build_view(1000, args.investors, 0, rng)
    view.compact_text()
    service = MatchService(view)
    name = view.investors[INVESTOR].value.name
    for label, query in (("subject", "carbon 储能"), ("name", name)):
        found = service.search(query, "investors")
        rows.append(latency_row(f"investor search by {label}", timed(lambda q=query: service.search(q, "investors")),
                                query=query, results=len(found)))
    rows.append(latency_row("name lookup alone", timed(lambda: service._named([name.lower()]))))
    emit("paging", rows, projects=args.projects, investors=args.investors, repeats=REPEATS)


if __name__ == "__main__":
    main()
