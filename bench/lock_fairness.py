"""How long the indexer waits for the read model's lock while deal feeds keep it busy: `threading.RLock` (the
read model's lock until this stop) against `FairRLock` (first come, first served), in one run.

    python -m bench.lock_fairness [--projects 10000] [--seconds 5] [--readers 1,4,16]

One writer applies an update of a project every 20 ms, as the indexer would (each `apply` takes the lock), while N
reader threads ask for deal feeds back to back, in process. Rows: per lock and N, the writer's waits (p50, p99,
max), how many writes it got through, and feeds per second. Then `backlog` rows: the writer applies a backlog as
fast as it can beside N readers, taking the lock per record (RLock; FairRLock) or, as the indexer does now, in
turns of 10 ms with FairRLock (`consumers.loop.Turns`): records applied and feeds served per second. Prints one
JSON object on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from bench.common import emit, progress
from bench.http import FEED_K, build_view
from consumers.loop import Turns
from matcher.locks import FairRLock
from matcher.service import MatchService
from matcher.view import ReadModel
from models.events import Event

WRITE_EVERY_S = 0.02


@contextmanager
def feeds_running(matches: MatchService, investors: list[str], readers: int) -> Iterator[list[int]]:
    """`readers` threads asking for deal feeds back to back until the block ends; yields their feed counts."""
    stop = threading.Event()
    feeds = [0] * readers

    def read(r: int) -> None:
        j = r
        while not stop.is_set():
            matches.recommend_projects(investors[j % len(investors)], FEED_K)
            feeds[r] += 1
            j += readers

    threads = [threading.Thread(target=read, args=(r,)) for r in range(readers)]
    for thread in threads:
        thread.start()
    try:
        yield feeds
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def contend(view: ReadModel, matches: MatchService, investors: list[str], readers: int, seconds: float,
            first_version: int) -> dict[str, float]:
    with feeds_running(matches, investors, readers) as feeds:
        waits = write_every(view, seconds, first_version)
    ms = np.asarray(waits) * 1000
    return {"writes": len(ms), "wait_p50_ms": round(float(np.percentile(ms, 50)), 2),
            "wait_p99_ms": round(float(np.percentile(ms, 99)), 1), "wait_max_ms": round(float(ms.max()), 1),
            "feeds_per_s": round(sum(feeds) / seconds, 1)}


def updates(view: ReadModel, first_version: int) -> Iterator[Event]:
    """Edits of one project's summary, versions `first_version` on."""
    pid = next(iter(view.projects))
    base = view.projects[pid].value
    for n in itertools.count():
        yield Event(type="ProjectUpdated", entity_id=pid, entity_version=first_version + n, actor="bench",
                    payload=base.model_copy(update={"summary": f"{base.summary} v{n}"}))


def write_every(view: ReadModel, seconds: float, first_version: int) -> list[float]:
    """An update every `WRITE_EVERY_S` for `seconds`, each under the lock; returns the waits for it."""
    waits = []
    end = time.perf_counter() + seconds
    for event in updates(view, first_version):
        if time.perf_counter() >= end:
            break
        start = time.perf_counter()
        with view.lock:
            waits.append(time.perf_counter() - start)
            view.apply(event)
        time.sleep(WRITE_EVERY_S)
    return waits


def backlog(view: ReadModel, matches: MatchService, investors: list[str], readers: int, seconds: float,
            first_version: int, turns: bool) -> dict[str, float]:
    """Records applied per second while `readers` threads ask for feeds: each taking the lock (turns=False), or
    applied in turns of 10 ms."""
    edits = updates(view, first_version)
    applied = 0
    end = time.perf_counter() + seconds

    def one() -> None:
        nonlocal applied
        view.apply(next(edits))
        applied += 1

    with feeds_running(matches, investors, readers) as feeds:
        while time.perf_counter() < end:
            if turns:
                with Turns(view.lock, 0.01) as held:  # a batch of up to 1000 records, as the indexer polls them
                    for _ in range(1000):
                        if time.perf_counter() >= end:
                            break
                        held.yield_if_due()
                        one()
            else:
                with view.lock:
                    one()
    return {"applied": applied, "applied_per_s": round(applied / seconds, 1),
            "feeds_per_s": round(sum(feeds) / seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--readers", default="1,4,16", help="reader thread counts")
    args = parser.parse_args(argv)
    progress(f"building a read model of {args.projects} projects")
    view, keys = build_view(args.projects, 2000, 200, np.random.default_rng(0))
    view.compact_text()
    matches = MatchService(view)
    investors = [iid for iid, _ in keys]
    for iid in investors[:20]:
        matches.recommend_projects(iid, FEED_K)  # warm caches
    rows = []
    version = view.projects[next(iter(view.projects))].version + 1
    for name, lock in (("RLock", threading.RLock()), ("FairRLock", FairRLock())):
        view.lock = lock  # type: ignore[assignment]  # nothing waits on view.applied here
        for readers in (int(r) for r in args.readers.split(",")):
            progress(f"{name}, {readers} readers, {args.seconds:.0f} s")
            row = contend(view, matches, investors, readers, args.seconds, version)
            version += row["writes"]  # type: ignore[operator]
            rows.append({"name": f"{name}_readers{readers}", "lock": name, "readers": readers, **row})
            progress(f"  {rows[-1]}")
    for name, lock, turns in (("RLock", threading.RLock(), False), ("FairRLock", FairRLock(), False),
                              ("FairRLock_turns", FairRLock(), True)):
        view.lock = lock  # type: ignore[assignment]
        for readers in (4, 16):
            progress(f"backlog: {name}, {readers} readers, {args.seconds:.0f} s")
            row = backlog(view, matches, investors, readers, args.seconds, version, turns)
            version += row["applied"]  # type: ignore[operator]
            rows.append({"name": f"backlog_{name}_readers{readers}", "lock": name, "readers": readers, **row})
            progress(f"  {rows[-1]}")
    emit("lock_fairness", rows, projects=args.projects, seconds=args.seconds)


if __name__ == "__main__":
    main()
