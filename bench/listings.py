"""A party's own projects and intros (GET /v1/projects for a founder, GET /v1/intros): the read model's per-party
indexes against a scan of every project and intro (what the listings did before), in one run.

    python -m bench.listings [--projects 20000] [--intros 100000]

Prints one JSON object on stdout (progress goes to stderr)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from api.policy import own_intros, own_projects
from bench.common import emit, latency_row, progress
from bench.query import timed
from matcher.commands import Principal, speaks_for
from matcher.view import ReadModel
from models.entities import Project
from models.events import Event, Intro

FOUNDERS, INVESTORS, SAMPLES = 5000, 2000, 50
PROJECT = Project(name="项目 Project", summary="工业视觉质检 industrial vision QC", sectors=["ai"], stage="seed",
                  amount_sought_cny=3_000_000, city="宁波", founder_background="researcher")


def event(kind: str, entity_id: str, payload: object) -> Event:
    return Event(type=kind, entity_id=entity_id, entity_version=1, actor="bench", payload=payload)


def scanned_intros(view: ReadModel, who: Principal) -> list[str]:
    """The reference: every intro checked for the caller, as the listing did before the read model indexed them."""
    side = "investor" if who.role == "investor" else "founder"
    return sorted(v.id for v in view.intros.values() if speaks_for(view, who, v.value, side))  # type: ignore[arg-type]


def scanned_projects(view: ReadModel, who: Principal) -> list[str]:
    return sorted(v.id for v in view.projects.values() if v.value.owner == who.entity_id)


def seconds_each(call: Callable[[Principal], object], callers: list[Principal]) -> list[float]:
    millis, _ = timed([lambda who=who: call(who) for who in callers])
    return (millis / 1000).tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=20_000)
    parser.add_argument("--intros", type=int, default=100_000)
    args = parser.parse_args(argv)
    progress(f"building a read model: {args.projects} projects, {args.intros} intros")
    view = ReadModel("none", text_min_compact=None)
    for j in range(args.projects):
        view.apply(event("ProjectSubmitted", f"p-{j}", PROJECT.model_copy(update={"owner": f"f-{j % FOUNDERS}"})))
    for j in range(args.intros):
        view.apply(event("IntroRequested", f"n-{j}", Intro(project_id=f"p-{j % args.projects}",
                                                             investor_id=f"i-{j % INVESTORS}", requested_by="founder")))
    founders = [Principal("k", "founder", f"f-{j}") for j in range(SAMPLES)]
    investors = [Principal("k", "investor", f"i-{j}") for j in range(SAMPLES)]
    for who in founders[:3] + investors[:3]:  # the same answers, or the comparison means nothing
        assert sorted(v.id for v in own_intros(view, who)) == scanned_intros(view, who)
    assert sorted(v.id for v in own_projects(view, founders[0])) == scanned_projects(view, founders[0])
    rows = []
    for name, callers, indexed, scanned in (
            ("founder_intros", founders, lambda w: own_intros(view, w), lambda w: scanned_intros(view, w)),
            ("investor_intros", investors, lambda w: own_intros(view, w), lambda w: scanned_intros(view, w)),
            ("founder_projects", founders, lambda w: own_projects(view, w), lambda w: scanned_projects(view, w))):
        progress(name)
        fast, slow = latency_row(f"{name}_indexed", seconds_each(indexed, callers)), \
            latency_row(f"{name}_scan", seconds_each(scanned, callers))
        rows += [{**fast, "speedup_p50": round(slow["p50_ms"] / max(fast["p50_ms"], 1e-6), 1)}, slow]
    emit("listings", rows, projects=args.projects, intros=args.intros)


if __name__ == "__main__":
    main()
