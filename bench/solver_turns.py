"""Solver turns: how much CP-SAT roster solves slow down other request work in the same process.

    python -m bench.solver_turns [--time-limit 8] [--rounds 2] [--concurrent 4] [--probe feed|score] [--pause-ms 5]

Why the service lets one roster / backfill / schedule solve run per replica at a time
(`matcher.roadshows.RoadshowService._solving`, a one-slot semaphore; a request that waits too long for the
slot gets `SolverBusy`, a 503 to retry). Three phases in one process, each timing a probe that stands in
for the other requests a replica serves, run `--rounds` times in turn (the shared cores' load drifts):

- `idle`: the probe alone (a stretch before each round and one after the last);
- `beside_1_solve`: the probe while one roster solve runs on another thread (what the slot allows);
- `beside_4_solves`: the probe while four (`--concurrent`) solves run at once on four threads, as the API's
  thread pool would run four organisers' requests without the slot.

Each solve is `matcher.roster.solve_roster` on its own copy of `bench.roster.make_problem` (2,000 x 500, the
same seed, so every gap is on the same instance) with the service's defaults (two CP-SAT workers) and
`--time-limit` seconds (the service's 8 s by default). The probe runs on the main thread, back to back with
`--pause-ms` between calls, until every solve of the phase has returned. `--probe feed` (default) is a real
`MatchService.recommend_projects` (k=10) on a small synthetic read model (`bench.http.build_view`, no
broker); `--probe score` is a small numpy + Python task (score 300 candidates, keep the ten best).

Prints one JSON object on stdout (progress goes to stderr): per phase the probe's p50/p95/p99 over all
rounds and their ratios to `idle`, and each solve's gap to its bound, seconds and status, with the median
gap's ratio to the lone solves' median gap. No thresholds: the numbers are for reading.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.common import emit, progress
from bench.roster import make_problem
from matcher.roster import Roster, RosterProblem, solve_roster


def r(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


# ---- probes -----------------------------------------------------------------------------------------
def feed_probe(projects: int, investors: int) -> Callable[[int], Any]:
    """An investor's deal feed, in process, on a read model of `projects` open projects."""
    from bench.http import FEED_K, build_view
    from matcher.service import MatchService

    progress(f"building a read model: {projects} projects, {investors} investors")
    view, keys = build_view(projects, investors, investors, np.random.default_rng(0))
    matches = MatchService(view)
    ids = [iid for iid, _ in keys]
    return lambda n: matches.recommend_projects(ids[n % len(ids)], FEED_K)


def score_probe() -> Callable[[int], Any]:
    """Score 300 candidates (384-d) against a query, add a little Python per candidate, keep the ten best."""
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((5000, 384)).astype(np.float32)  # [5000, 384]
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    boosts = rng.random(5000)

    def probe(n: int) -> Any:
        picked = np.random.default_rng(n).choice(len(pool), 300, replace=False)  # [300]
        scores = pool[picked] @ pool[n % len(pool)]  # [300]
        rows = [{"id": int(p), "score": float(s) + 0.1 * float(boosts[p])} for p, s in zip(picked, scores, strict=True)]
        return sorted(rows, key=lambda row: -row["score"])[:10]

    return probe


# ---- phases -----------------------------------------------------------------------------------------
class Prober:
    """Calls the probe back to back (with a pause) and keeps each call's seconds."""

    def __init__(self, probe: Callable[[int], Any], pause_s: float) -> None:
        self.probe, self.pause_s, self.calls = probe, pause_s, 0

    def run(self, until: Callable[[], bool]) -> list[float]:
        seconds: list[float] = []
        while not until():
            start = time.perf_counter()
            self.probe(self.calls)
            seconds.append(time.perf_counter() - start)
            self.calls += 1
            time.sleep(self.pause_s)
        return seconds

    def for_seconds(self, duration: float) -> list[float]:
        deadline = time.perf_counter() + duration
        return self.run(lambda: time.perf_counter() >= deadline)


def beside_solves(prober: Prober, problems: list[RosterProblem], time_limit: float
                  ) -> tuple[list[float], list[Roster], float]:
    """Probe while one solve per problem runs on its own thread; returns probe seconds, rosters, wall seconds."""
    results: list[Roster | None] = [None] * len(problems)
    errors: list[BaseException] = []

    def solve(k: int) -> None:
        try:
            results[k] = solve_roster(problems[k], time_limit=time_limit)
        except BaseException as e:  # re-raised on the main thread
            errors.append(e)

    threads = [threading.Thread(target=solve, args=(k,), name=f"solve-{k}", daemon=True)
               for k in range(len(problems))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    seconds = prober.run(lambda: not any(t.is_alive() for t in threads))
    wall = time.perf_counter() - started
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return seconds, [x for x in results if x is not None], wall


def probe_stats(seconds: list[float]) -> dict[str, float | int]:
    ms = np.asarray(seconds) * 1000.0
    return {"probe_p50_ms": r(np.percentile(ms, 50)), "probe_p95_ms": r(np.percentile(ms, 95)),
            "probe_p99_ms": r(np.percentile(ms, 99)), "probes": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.solver_turns", description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=8.0, help="CP-SAT seconds per solve (the service's: 8)")
    ap.add_argument("--concurrent", type=int, default=4, help="solves at once in the last phase")
    ap.add_argument("--projects", type=int, default=2000, help="roster instance: projects")
    ap.add_argument("--investors", type=int, default=500, help="roster instance: investors")
    ap.add_argument("--probe", choices=["feed", "score"], default="feed")
    ap.add_argument("--feed-projects", type=int, default=2000, help="read model size for --probe feed")
    ap.add_argument("--feed-investors", type=int, default=200, help="investors the feed probe rotates over")
    ap.add_argument("--pause-ms", type=float, default=5.0, help="pause between probe calls")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (idle, 1 solve, N solves), then idle")
    ap.add_argument("--idle-seconds", type=float, default=6.0, help="probe-only time in all, split over the rounds")
    args = ap.parse_args()
    if args.concurrent < 2 or args.time_limit <= 0 or args.rounds < 1:
        ap.error("need --concurrent >= 2, --time-limit > 0 and --rounds >= 1")

    started, load_before = time.perf_counter(), os.getloadavg()[0]
    probe = feed_probe(args.feed_projects, args.feed_investors) if args.probe == "feed" else score_probe()
    for n in range(20):  # warm caches
        probe(n)
    progress(f"building {args.concurrent} copies of the {args.projects} x {args.investors} roster instance")
    problems = [make_problem(projects=args.projects, investors=args.investors) for _ in range(args.concurrent)]
    prober = Prober(probe, args.pause_ms / 1000.0)

    segment = args.idle_seconds / (args.rounds + 1)
    idle: list[float] = []
    phases: dict[int, tuple[list[float], list[Roster], float]] = {1: ([], [], 0.0), args.concurrent: ([], [], 0.0)}
    for round_ in range(args.rounds):
        progress(f"round {round_ + 1}/{args.rounds}: probe alone for {segment:.1f} s")
        idle += prober.for_seconds(segment)
        for count in (1, args.concurrent):
            progress(f"  probe beside {count} solve(s), time limit {args.time_limit:g} s each")
            seconds, rosters, wall = beside_solves(prober, problems[:count], args.time_limit)
            progress("    gaps " + ", ".join(f"{x.gap:.2%}" for x in rosters)
                     + f"; probe p50 {np.median(seconds) * 1000:.1f} ms")
            done = phases[count]
            phases[count] = (done[0] + seconds, done[1] + rosters, max(done[2], wall))
    progress(f"probe alone again for {segment:.1f} s")
    idle += prober.for_seconds(segment)

    base = probe_stats(idle)
    progress(f"  idle probe p50 {base['probe_p50_ms']} ms")
    rows: list[dict[str, Any]] = [{"name": "idle", "solves": 0, **base, "p50_ratio": 1.0, "p95_ratio": 1.0}]
    lone_gap = float(np.median([x.gap for x in phases[1][1]]))
    for count, (seconds, rosters, wall) in phases.items():
        stats = probe_stats(seconds)
        gaps = [x.gap for x in rosters]
        rows.append({
            "name": f"beside_{count}_solve{'s' if count > 1 else ''}", "solves": count, **stats,
            "p50_ratio": r(stats["probe_p50_ms"] / base["probe_p50_ms"]),
            "p95_ratio": r(stats["probe_p95_ms"] / base["probe_p95_ms"]),
            "gap_median": r(np.median(gaps), 4), "gap_max": r(max(gaps), 4),
            "gap_ratio": r(np.median(gaps) / lone_gap) if lone_gap > 0 else None,
            "gaps": [r(g, 4) for g in gaps], "objectives": [r(x.objective, 4) for x in rosters],
            "statuses": [x.status for x in rosters], "solve_seconds": [r(x.seconds, 2) for x in rosters],
            "wall_s_max": r(wall, 2),
        })
    emit("solver_turns", rows, probe=args.probe,
         probe_detail=(f"MatchService.recommend_projects k=10, {args.feed_projects} projects, "
                       f"{args.feed_investors} investors" if args.probe == "feed" else "score 300 x 384-d, top 10"),
         pause_ms=args.pause_ms, instance={"projects": args.projects, "investors": args.investors, "seed": 0},
         time_limit=args.time_limit, num_workers=2, rounds=args.rounds,
         load_avg=[round(load_before, 2), round(os.getloadavg()[0], 2)], seconds=r(time.perf_counter() - started, 1))


if __name__ == "__main__":
    main()
