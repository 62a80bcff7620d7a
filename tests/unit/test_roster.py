"""Roadshow roster, backfill and meeting schedule: every constraint on random small instances, exactness
against brute force on tiny ones, and the iCal/CSV exports parsed back.

The constraint checks and the brute force below are written independently of matcher.roster's internals.
"""

from __future__ import annotations

import csv
import io
import itertools
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from matcher.roster import (
    Label,
    Replacement,
    RosterInfeasible,
    RosterNotFound,
    RosterProblem,
    backfill,
    greedy_roster,
    objective_of,
    solve_roster,
)
from matcher.schedule import (
    Meeting,
    MeetingProblem,
    Schedule,
    greedy_schedule,
    schedule_meetings,
    to_csv,
    to_ical,
)
from models.roadshows import TIMEZONE

SECTORS = ("ai", "robotics", "biomedicine")
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)
TIME = 2.0  # seconds per solve; tiny instances finish in milliseconds


# ---------------------------------------------------------------------------------------------- factories


def make_problem(seed: int, *, projects: int = 7, investors: int = 6, n: int = 3, m: int = 3, min_fits: int = 1,
                 quota: int | None = 2, pins: int = 0, exclusions: int = 0, conflicts: int = 3,
                 threshold: float = 0.4) -> RosterProblem:
    """A random instance: scores uniform, 1-2 sectors per project, four organisations plus independents."""
    rng = np.random.default_rng(seed)
    p_ids = [f"p{k}" for k in range(projects)]
    i_ids = [f"i{k}" for k in range(investors)]
    chosen_p = rng.permutation(projects)
    chosen_i = rng.permutation(investors)
    return RosterProblem(
        project_ids=p_ids, investor_ids=i_ids, score=rng.random((projects, investors)),
        project_relevance=rng.random(projects), investor_relevance=rng.random(investors),
        project_sectors=[set(rng.choice(SECTORS, size=rng.integers(1, 3), replace=False)) for _ in p_ids],
        investor_org=[str(rng.choice(["o1", "o2", "o3", "o4", ""])) for _ in i_ids],
        n_projects=n, m_investors=m,
        conflicts={(int(rng.integers(projects)), int(rng.integers(investors))) for _ in range(conflicts)},
        sector_quota={} if quota is None else {"ai": quota, "robotics": quota},
        fit_threshold=threshold, min_fits=min_fits, relevance_weight=float(rng.uniform(0, 1)),
        pinned_projects={p_ids[k] for k in chosen_p[:pins]},
        pinned_investors={i_ids[k] for k in chosen_i[:pins]},
        excluded_projects={p_ids[k] for k in chosen_p[pins:pins + exclusions]},
        excluded_investors={i_ids[k] for k in chosen_i[pins:pins + exclusions]},
    )


def manual_problem(score: list[list[float]], **fields: object) -> RosterProblem:
    """A hand-written instance: ids p0.. and i0.., relevance 0 unless given, one sector and org each."""
    s = np.array(score, dtype=float)
    n_p, n_i = s.shape
    base: dict[str, object] = {
        "project_ids": [f"p{k}" for k in range(n_p)], "investor_ids": [f"i{k}" for k in range(n_i)], "score": s,
        "project_relevance": np.zeros(n_p), "investor_relevance": np.zeros(n_i),
        "project_sectors": [{"ai"}] * n_p, "investor_org": [f"o{k}" for k in range(n_i)],
        "n_projects": 1, "m_investors": 1, "fit_threshold": 0.5,
    }
    base.update(fields)
    return RosterProblem(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- oracles


def fits(problem: RosterProblem, p: int, i: int) -> bool:
    return problem.score[p, i] >= problem.fit_threshold and (p, i) not in problem.conflicts


def value(problem: RosterProblem, ps: tuple[int, ...], is_: tuple[int, ...]) -> float:
    pairs = sum(problem.score[p, i] for p in ps for i in is_ if fits(problem, p, i))
    relevance = problem.project_relevance[list(ps)].sum() + problem.investor_relevance[list(is_)].sum()
    return float(pairs + problem.relevance_weight * relevance)


def seats(problem: RosterProblem) -> tuple[int, int]:
    """Roster size: the slots, or fewer when eligible projects / investor organisations run out."""
    projects = [p for p in problem.project_ids if p not in problem.excluded_projects]
    orgs = Counter()
    for i, org in zip(problem.investor_ids, problem.investor_org, strict=True):
        if i not in problem.excluded_investors:
            orgs[org or f"#{i}"] += 1
    return min(problem.n_projects, len(projects)), min(problem.m_investors, len(orgs))


def violations(problem: RosterProblem, project_ids: tuple[str, ...], investor_ids: tuple[str, ...]) -> list[str]:
    """Every broken rule, in words; [] for a valid roster."""
    out = []
    n, m = seats(problem)
    if len(project_ids) != n or len(set(project_ids)) != n:
        out.append(f"{len(project_ids)} projects, expected {n}")
    if len(investor_ids) != m or len(set(investor_ids)) != m:
        out.append(f"{len(investor_ids)} investors, expected {m}")
    ps = [problem.project_ids.index(p) for p in project_ids]
    is_ = [problem.investor_ids.index(i) for i in investor_ids]
    for sector, quota in problem.sector_quota.items():
        if sum(sector in problem.project_sectors[p] for p in ps) > quota:
            out.append(f"quota {sector}")
    orgs = [problem.investor_org[i] for i in is_ if problem.investor_org[i]]
    if len(orgs) != len(set(orgs)):
        out.append(f"two seats for one organisation: {orgs}")
    for p in ps:
        if sum(fits(problem, p, i) for i in is_) < problem.min_fits:
            out.append(f"coverage of {problem.project_ids[p]}")
    for i in is_:
        if sum(fits(problem, p, i) for p in ps) < problem.min_fits:
            out.append(f"coverage of {problem.investor_ids[i]}")
    if not set(problem.pinned_projects) <= set(project_ids) or not set(problem.pinned_investors) <= set(investor_ids):
        out.append("a pin is missing")
    if set(problem.excluded_projects) & set(project_ids) or set(problem.excluded_investors) & set(investor_ids):
        out.append("an excluded candidate is in")
    return out


def brute_force(problem: RosterProblem) -> float | None:
    """Best objective over every roster of the right size, or None if no roster is valid."""
    n, m = seats(problem)
    best = None
    for ps in itertools.combinations(range(len(problem.project_ids)), n):
        p_ids = tuple(problem.project_ids[p] for p in ps)
        for is_ in itertools.combinations(range(len(problem.investor_ids)), m):
            i_ids = tuple(problem.investor_ids[i] for i in is_)
            if not violations(problem, p_ids, i_ids):
                v = value(problem, ps, is_)
                best = v if best is None or v > best else best
    return best


def schedule_violations(problem: MeetingProblem, schedule: Schedule) -> list[str]:
    out = []
    seen_slot: set[tuple[str, int, object]] = set()
    pairs: set[tuple[str, str]] = set()
    per_p: Counter[str] = Counter()
    per_i: Counter[str] = Counter()
    for mt in schedule.meetings:
        if not (1 <= mt.slot <= problem.slots and 1 <= mt.table <= problem.tables):
            out.append(f"slot/table out of range: {mt}")
        for key in (("project", mt.slot, mt.project_id), ("investor", mt.slot, mt.investor_id),
                    ("table", mt.slot, mt.table)):
            if key in seen_slot:
                out.append(f"double booking: {key}")
            seen_slot.add(key)
        if (mt.project_id, mt.investor_id) in pairs:
            out.append(f"pair meets twice: {mt}")
        pairs.add((mt.project_id, mt.investor_id))
        p, i = problem.project_ids.index(mt.project_id), problem.investor_ids.index(mt.investor_id)
        if (p, i) in problem.conflicts:
            out.append(f"conflict scheduled: {mt}")
        if problem.score[p, i] < problem.min_score or abs(problem.score[p, i] - mt.score) > 1e-12:
            out.append(f"score: {mt}")
        per_p[mt.project_id] += 1
        per_i[mt.investor_id] += 1
    if any(c > problem.investor_cap for c in per_i.values()):
        out.append(f"investor cap exceeded: {per_i}")
    reported = {s.project_id: s.meetings for s in schedule.shortfalls}
    expected = {p: per_p[p] for p in problem.project_ids if per_p[p] < problem.project_min}
    if reported != expected:
        out.append(f"shortfalls {reported} != {expected}")
    if abs(schedule.objective - sum(mt.score for mt in schedule.meetings)) > 1e-9:
        out.append("objective is not the sum of the meeting scores")
    return out


# ---------------------------------------------------------------------------------------------- roster


@PROPERTY
@given(seed=st.integers(0, 10_000), min_fits=st.integers(0, 2), pins=st.integers(0, 1),
       exclusions=st.integers(0, 1))
def test_cp_sat_roster_equals_brute_force_and_greedy_is_no_better(seed, min_fits, pins, exclusions):
    problem = make_problem(seed, min_fits=min_fits, pins=pins, exclusions=exclusions)
    best = brute_force(problem)
    event("infeasible" if best is None else "feasible")
    if best is None:
        with pytest.raises(RosterInfeasible):
            solve_roster(problem, time_limit=TIME)
        return
    roster = solve_roster(problem, time_limit=TIME)
    assert violations(problem, roster.project_ids, roster.investor_ids) == []
    assert roster.status == "optimal" and roster.method == "cp-sat"
    assert roster.objective == pytest.approx(best, abs=1e-3)
    try:
        greedy = greedy_roster(problem)
    except RosterNotFound:
        event("greedy found nothing")
        return
    event("greedy optimal" if greedy.objective >= roster.objective - 1e-9 else "greedy below optimum")
    assert violations(problem, greedy.project_ids, greedy.investor_ids) == []
    assert greedy.objective <= roster.objective + 1e-9


@PROPERTY
@given(seed=st.integers(0, 10_000), projects=st.integers(3, 16), investors=st.integers(3, 14),
       n=st.integers(1, 4), m=st.integers(1, 5), min_fits=st.integers(0, 2), quota=st.sampled_from([None, 1, 2]),
       pins=st.integers(0, 1), exclusions=st.integers(0, 2))
def test_every_roster_keeps_every_constraint(seed, projects, investors, n, m, min_fits, quota, pins, exclusions):
    problem = make_problem(seed, projects=projects, investors=investors, n=n, m=m, min_fits=min_fits, quota=quota,
                           pins=pins, exclusions=exclusions, conflicts=projects)
    try:
        roster = solve_roster(problem, time_limit=TIME, prefilter_factor=2)
    except RosterInfeasible as e:
        event(f"infeasible: {e.constraint}")
        assert e.constraint in {"pins", "n_projects", "m_investors", "sector_quota", "organisation", "min_fits"}
        return
    event(f"roster kept {roster.kept} of {(projects, investors)}")
    assert violations(problem, roster.project_ids, roster.investor_ids) == []
    # Conflicts never count as fits: the objective and the reasons agree with the oracle's fit rule.
    ps = tuple(problem.project_ids.index(p) for p in roster.project_ids)
    is_ = tuple(problem.investor_ids.index(i) for i in roster.investor_ids)
    assert roster.objective == pytest.approx(value(problem, ps, is_))
    for p in ps:
        assert roster.reason("project", problem.project_ids[p]).fits == sum(fits(problem, p, i) for i in is_)
    assert 0.0 <= roster.gap <= 1.0 and roster.bound >= roster.objective - 1e-9


def test_a_conflict_pair_neither_counts_nor_appears_in_reasons():
    problem = manual_problem([[0.95, 0.6], [0.7, 0.1]], conflicts={(0, 0)}, n_projects=2, m_investors=2)
    roster = solve_roster(problem, time_limit=TIME)
    assert roster.objective == pytest.approx(0.6 + 0.7)
    assert roster.reason("project", "p0").fits == 1
    assert roster.reason("project", "p0").top == ("i1",)
    assert objective_of(problem, ["p0"], ["i0"]) == 0.0


def test_fewer_eligible_candidates_than_seats_gives_a_smaller_roster():
    problem = manual_problem([[0.9, 0.8, 0.7]] * 3, n_projects=5, m_investors=5,
                             investor_org=["same", "same", ""], excluded_projects={"p2"})
    roster = solve_roster(problem, time_limit=TIME)
    assert sorted(roster.project_ids) == ["p0", "p1"]
    assert sorted(roster.investor_ids) == ["i0", "i2"]  # one seat for "same": its better investor


@pytest.mark.parametrize(("fields", "constraint", "words"), [
    ({"pinned_projects": {"p0", "p1"}, "sector_quota": {"ai": 1}, "n_projects": 2}, "sector_quota", "'ai'"),
    ({"pinned_investors": {"i0", "i1"}, "investor_org": ["acme", "acme", "x"], "m_investors": 2}, "organisation",
     "acme"),
    ({"pinned_projects": {"p0", "p1", "p2"}, "n_projects": 2}, "n_projects", "3 pinned projects"),
    ({"pinned_projects": {"p0"}, "excluded_projects": {"p0"}}, "pins", "p0"),
    ({"pinned_projects": {"p2"}, "min_fits": 1}, "min_fits", "p2"),
])
def test_pins_that_break_a_constraint_raise_naming_it(fields, constraint, words):
    problem = manual_problem([[0.9, 0.8, 0.7], [0.9, 0.8, 0.7], [0.1, 0.2, 0.3]], **fields)
    with pytest.raises(RosterInfeasible, match=words) as raised:
        solve_roster(problem, time_limit=TIME)
    assert raised.value.constraint == constraint
    assert str(raised.value).startswith(f"{constraint}: ")


def test_quota_that_no_roster_can_meet_is_named_by_search():
    problem = manual_problem([[0.9, 0.8]] * 3, n_projects=2, m_investors=1, sector_quota={"ai": 1})
    with pytest.raises(RosterInfeasible, match="sector_quota") as raised:
        solve_roster(problem, time_limit=TIME)
    assert raised.value.constraint == "sector_quota"


def test_coverage_that_no_roster_can_meet_is_named_by_search():
    problem = manual_problem([[0.9, 0.1], [0.1, 0.9], [0.2, 0.2]], n_projects=2, m_investors=2, min_fits=2)
    with pytest.raises(RosterInfeasible, match="min_fits") as raised:
        solve_roster(problem, time_limit=TIME)
    assert raised.value.constraint == "min_fits"


def test_reasons_name_counterparts_shared_sectors_stage_and_ask_in_both_languages():
    problem = manual_problem(
        [[0.9, 0.8], [0.2, 0.7]], n_projects=1, m_investors=2, project_sectors=[{"smart_manufacturing"}, {"ai"}],
        project_labels={"p0": {"name": "VisionQC", "stage": ("种子轮", "seed"), "ask": "¥3M"}},
        investor_labels={"i0": Label(name="Qiantang Angels", sectors=frozenset({"smart_manufacturing"}))},
        sector_names={"smart_manufacturing": ("智能制造", "smart manufacturing")})
    roster = solve_roster(problem, time_limit=TIME)
    reason = roster.reason("project", "p0")
    assert reason.fits == 2 and reason.top == ("i0", "i1")
    assert reason.shared_sectors == ("smart_manufacturing",)
    assert "2 chosen investors" in reason.en and "Qiantang Angels 0.90" in reason.en
    assert "smart manufacturing" in reason.en and "seed stage" in reason.en and "¥3M" in reason.en
    assert "智能制造" in reason.zh and "种子轮" in reason.zh and "2 位" in reason.zh
    assert "VisionQC" in roster.reason("investor", "i1").en


def test_bad_input_is_rejected_with_what_was_wrong():
    with pytest.raises(ValueError, match="score must have shape"):
        manual_problem([[0.5, 0.5]], project_ids=["p0", "p1"], project_relevance=np.zeros(2),
                       project_sectors=[{"ai"}, {"ai"}])
    with pytest.raises(ValueError, match="within \\[0, 1\\]"):
        manual_problem([[1.5]])
    with pytest.raises(ValueError, match="unknown"):
        manual_problem([[0.5]], pinned_projects={"nope"})


# ---------------------------------------------------------------------------------------------- backfill


@PROPERTY
@given(seed=st.integers(0, 10_000), min_fits=st.integers(0, 2), declined=st.integers(1, 3),
       accepted=st.integers(0, 3), data=st.data())
def test_backfill_keeps_every_constraint_never_drops_accepted_and_is_idempotent(seed, min_fits, declined, accepted,
                                                                                 data):
    problem = make_problem(seed, projects=9, investors=9, min_fits=min_fits, quota=2, pins=1)
    try:
        roster = solve_roster(problem, time_limit=TIME)
    except RosterInfeasible:
        event("roster infeasible")
        return
    seated = [("p", p) for p in roster.project_ids] + [("i", i) for i in roster.investor_ids]
    order = data.draw(st.permutations(seated))
    gone, kept = order[:declined], order[declined:declined + accepted]
    dec_p = {x for k, x in gone if k == "p"}
    dec_i = {x for k, x in gone if k == "i"}
    acc_p = {x for k, x in kept if k == "p"}
    acc_i = {x for k, x in kept if k == "i"}
    kwargs = {"declined_project_ids": dec_p, "declined_investor_ids": dec_i, "accepted_project_ids": acc_p,
              "accepted_investor_ids": acc_i, "time_limit": TIME}
    try:
        new, replacements = backfill(problem, roster, **kwargs)
    except RosterInfeasible:
        event("backfill infeasible")
        return
    event(f"backfill replaced {len(replacements)}")
    effective = replace(problem, excluded_projects=problem.excluded_projects | dec_p,
                        excluded_investors=problem.excluded_investors | dec_i,
                        pinned_projects=(problem.pinned_projects - dec_p) | acc_p,
                        pinned_investors=(problem.pinned_investors - dec_i) | acc_i)
    assert violations(effective, new.project_ids, new.investor_ids) == []
    assert acc_p <= set(new.project_ids) and acc_i <= set(new.investor_ids)
    assert not dec_p & set(new.project_ids) and not dec_i & set(new.investor_ids)
    # Every invitee who lost a seat and every newcomer is accounted for in the replacements.
    for kind, before, after in (("project", roster.project_ids, new.project_ids),
                                ("investor", roster.investor_ids, new.investor_ids)):
        assert {r.replaced_id for r in replacements if r.kind == kind} - {None} == set(before) - set(after)
        assert {r.by_id for r in replacements if r.kind == kind} - {None} == set(after) - set(before)
    again, more = backfill(problem, new, **kwargs)
    assert again == new and more == []


def test_backfill_gives_the_declined_seat_to_the_best_remaining_candidate():
    score = [[0.9, 0.9], [0.8, 0.8], [0.7, 0.7], [0.6, 0.6]]
    problem = manual_problem(score, n_projects=2, m_investors=2)
    roster = solve_roster(problem, time_limit=TIME)
    assert roster.project_ids == ("p0", "p1")
    new, replacements = backfill(problem, roster, declined_project_ids={"p0"}, accepted_project_ids={"p1"})
    assert new.project_ids == ("p1", "p2")
    assert replacements == [Replacement("project", "p0", "p2")]
    assert backfill(problem, new, declined_project_ids={"p0"}, accepted_project_ids={"p1"}) == (new, [])


def test_backfill_reseats_pending_invitees_when_it_must_but_never_accepted_ones():
    score = [[0.9, 0.1, 0.1, 0.1],
             [0.6, 0.6, 0.1, 0.1],
             [0.1, 0.1, 0.9, 0.85],
             [0.1, 0.1, 0.85, 0.8]]
    problem = manual_problem(score, n_projects=2, m_investors=2, min_fits=1)
    invited = solve_roster(replace(problem, pinned_projects={"p0", "p1"}, pinned_investors={"i0", "i1"}),
                           time_limit=TIME)
    # p0 fits only i0; once i0 declines, p0 (pending) must make way, p1 (accepted) must stay.
    new, replacements = backfill(problem, invited, declined_investor_ids={"i0"}, accepted_project_ids={"p1"})
    assert "p1" in new.project_ids and "i0" not in new.investor_ids
    assert violations(replace(problem, pinned_projects={"p1"}, excluded_investors={"i0"}),
                      new.project_ids, new.investor_ids) == []
    assert sorted(replacements, key=lambda r: r.kind) == [Replacement("investor", "i0", "i2"),
                                                          Replacement("project", "p0", "p2")]


def test_backfill_rejects_an_invitee_who_both_accepted_and_declined():
    problem = manual_problem([[0.9]])
    roster = solve_roster(problem, time_limit=TIME)
    with pytest.raises(ValueError, match="both accept and decline"):
        backfill(problem, roster, declined_project_ids={"p0"}, accepted_project_ids={"p0"})


# ---------------------------------------------------------------------------------------------- schedule


def make_meetings(seed: int, *, projects: int, investors: int, slots: int, tables: int, cap: int, minimum: int,
                  conflicts: int = 2, min_score: float = 0.0) -> MeetingProblem:
    rng = np.random.default_rng(seed)
    return MeetingProblem(
        project_ids=[f"p{k}" for k in range(projects)], investor_ids=[f"i{k}" for k in range(investors)],
        score=rng.random((projects, investors)), slots=slots, tables=tables, investor_cap=cap, project_min=minimum,
        conflicts={(int(rng.integers(projects)), int(rng.integers(investors))) for _ in range(conflicts)},
        min_score=min_score)


@PROPERTY
@given(seed=st.integers(0, 10_000), projects=st.integers(1, 6), investors=st.integers(1, 8),
       slots=st.integers(1, 4), tables=st.integers(1, 4), cap=st.integers(0, 3), minimum=st.integers(0, 3),
       min_score=st.sampled_from([0.0, 0.3]))
def test_every_schedule_has_no_double_booking_caps_or_conflicts(seed, projects, investors, slots, tables, cap,
                                                                 minimum, min_score):
    problem = make_meetings(seed, projects=projects, investors=investors, slots=slots, tables=tables, cap=cap,
                            minimum=minimum, conflicts=projects, min_score=min_score)
    exact = schedule_meetings(problem, time_limit=TIME)
    greedy = greedy_schedule(problem)
    assert schedule_violations(problem, exact) == []
    assert schedule_violations(problem, greedy) == []
    assert exact.status == "optimal"
    # Lexicographic: least total shortfall first, then most score.
    short = sum(s.required - s.meetings for s in exact.shortfalls)
    assert short <= sum(s.required - s.meetings for s in greedy.shortfalls)
    if short == sum(s.required - s.meetings for s in greedy.shortfalls):
        assert greedy.objective <= exact.objective + 1e-6


def brute_force_schedule(problem: MeetingProblem) -> tuple[int, float]:
    """(least shortfall, best score) over every assignment of every allowed pair to a slot or to nothing."""
    allowed = [(p, i) for p in range(len(problem.project_ids)) for i in range(len(problem.investor_ids))
               if (p, i) not in problem.conflicts and problem.score[p, i] >= problem.min_score]
    best: tuple[int, float] | None = None
    for choice in itertools.product(range(problem.slots + 1), repeat=len(allowed)):
        meets = [(t, pair) for t, pair in zip(choice, allowed, strict=True) if t]
        per_slot = Counter(t for t, _ in meets)
        if any(c > problem.tables for c in per_slot.values()):
            continue
        if len({(t, p) for t, (p, _) in meets}) < len(meets) or len({(t, i) for t, (_, i) in meets}) < len(meets):
            continue
        per_i = Counter(i for _, (_, i) in meets)
        if any(c > problem.investor_cap for c in per_i.values()):
            continue
        per_p = Counter(p for _, (p, _) in meets)
        short = sum(max(0, problem.project_min - per_p[p]) for p in range(len(problem.project_ids)))
        key = (-short, sum(problem.score[pair] for _, pair in meets))
        if best is None or key > (-best[0], best[1]):
            best = (short, key[1])
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(6))
def test_schedule_equals_brute_force_on_tiny_rooms(seed):
    problem = make_meetings(seed, projects=2, investors=3, slots=2, tables=1 + seed % 2, cap=1 + seed % 2,
                            minimum=seed % 3, conflicts=1)
    short, score = brute_force_schedule(problem)
    schedule = schedule_meetings(problem, time_limit=TIME)
    assert sum(s.required - s.meetings for s in schedule.shortfalls) == short
    assert schedule.objective == pytest.approx(score, abs=1e-3)


def test_projects_keep_their_table_when_there_are_enough_tables():
    problem = make_meetings(0, projects=3, investors=6, slots=3, tables=4, cap=2, minimum=2)
    schedule = schedule_meetings(problem, time_limit=TIME)
    tables = {}
    for mt in schedule.meetings:
        assert tables.setdefault(mt.project_id, mt.table) == mt.table


def test_meeting_problem_from_roster_slices_scores_and_conflicts():
    problem = manual_problem([[0.9, 0.8, 0.7], [0.6, 0.5, 0.4]], conflicts={(1, 2)})
    meetings = MeetingProblem.from_roster(problem, ["p1"], ["i2", "i0"], slots=2, tables=1, investor_cap=1)
    assert meetings.score.tolist() == [[0.4, 0.6]]
    assert meetings.conflicts == {(0, 0)}


# ---------------------------------------------------------------------------------------------- exports


def tiny_schedule() -> tuple[MeetingProblem, Schedule]:
    problem = make_meetings(3, projects=3, investors=4, slots=3, tables=3, cap=2, minimum=2, conflicts=0)
    return problem, schedule_meetings(problem, time_limit=TIME)


def test_csv_export_parses_back_to_the_meetings():
    _, schedule = tiny_schedule()
    text = to_csv(schedule.meetings, names={"p0": "视觉质检, Inc.", "i1": 'He said "hi"'})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(schedule.meetings)
    for row, mt in zip(rows, schedule.meetings, strict=True):
        assert (int(row["slot"]), int(row["table"]), row["project_id"], row["investor_id"]) == \
            (mt.slot, mt.table, mt.project_id, mt.investor_id)
        assert float(row["score"]) == pytest.approx(mt.score, abs=1e-4)
    assert {r["project_name"] for r in rows if r["project_id"] == "p0"} <= {"视觉质检, Inc."}
    assert {r["investor_name"] for r in rows if r["investor_id"] == "i1"} <= {'He said "hi"'}


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_export_neutralises_names_that_a_spreadsheet_would_run_as_formulas(name):
    meetings = (Meeting(1, 1, "p0", "i0", 0.5), Meeting(2, 1, "=p1", "i0", 0.25))
    text = to_csv(meetings, names={"p0": name, "i0": "宁波-智造 天使", "=p1": "A-1 Robotics"})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["project_name"] == "'" + name  # a leading quote: the spreadsheet shows it as text
    assert rows[1]["project_id"] == "'=p1"
    assert [r["investor_name"] for r in rows] == ["宁波-智造 天使"] * 2  # ordinary names are unchanged
    assert rows[1]["project_name"] == "A-1 Robotics"
    assert [r["score"] for r in rows] == ["0.5000", "0.2500"] and rows[0]["slot"] == "1"  # numbers stay numbers


def unfold(text: str) -> list[str]:
    assert "\n" not in text.replace("\r\n", ""), "bare LF or CR in the calendar"
    raw = text.split("\r\n")
    assert raw[-1] == ""
    lines: list[str] = []
    for line in raw[:-1]:
        assert len(line.encode("utf-8")) <= 75, line
        if line.startswith(" "):
            lines[-1] += line[1:]
        else:
            lines.append(line)
    return lines


def unescape(value: str) -> str:
    out, k = [], 0
    while k < len(value):
        if value[k] == "\\":
            out.append({"n": "\n", "N": "\n"}.get(value[k + 1], value[k + 1]))
            k += 2
        else:
            out.append(value[k])
            k += 1
    return "".join(out)


def test_ical_export_is_a_valid_calendar_of_the_participants_meetings():
    _, schedule = tiny_schedule()
    who = schedule.meetings[0].investor_id
    mine = [mt for mt in schedule.meetings if mt.investor_id == who]
    other = mine[0].project_id
    tricky = "宁波视觉质检科技有限公司, a very long name; with\nnewline and back\\slash " + "长" * 30
    text = to_ical(schedule.meetings, who, date(2025, 3, 1), clock(14, 0), 20, names={other: tricky})
    lines = unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == len(mine)
    events, current = [], None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            events.append(current)
            current = None
        elif current is not None:
            key, _, val = line.partition(":")
            current[key] = val
    assert len({e["UID"] for e in events}) == len(events)
    for vevent, mt in zip(events, sorted(mine, key=lambda m: m.slot), strict=True):
        start = datetime.combine(date(2025, 3, 1), clock(14, 0), tzinfo=TIMEZONE)
        start += timedelta(minutes=20 * (mt.slot - 1))
        assert vevent["DTSTART"] == start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")  # 14:00 +08:00 is 06:00Z
        assert vevent["DTEND"] == (start + timedelta(minutes=20)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        assert vevent["LOCATION"] == f"Table {mt.table}"
        assert vevent["DTSTAMP"].endswith("Z")
    for e in events:  # TEXT values: every comma, semicolon and backslash escaped, no raw newline
        raw = e["SUMMARY"]
        k = 0
        while k < len(raw):
            assert raw[k] not in ",;", f"unescaped {raw[k]!r} in {raw!r}"
            k += 2 if raw[k] == "\\" else 1
    summaries = [unescape(e["SUMMARY"]) for e in events]
    if other in {mt.project_id for mt in mine}:
        assert f"Meeting with {tricky} / 会面：{tricky}" in summaries
    # Stable: the same inputs give the same calendar, so UIDs survive a re-export.
    assert to_ical(schedule.meetings, who, date(2025, 3, 1), clock(14, 0), 20, names={other: tricky}) == text
    # A later version of the schedule carries a higher SEQUENCE and its own DTSTAMP, so calendars replace entries.
    changed = datetime(2025, 2, 20, 9, 30, tzinfo=UTC)
    later = unfold(to_ical(schedule.meetings, who, date(2025, 3, 1), clock(14, 0), 20, stamp=changed, sequence=7))
    assert "SEQUENCE:0" in lines and "SEQUENCE:7" in later and "DTSTAMP:20250220T093000Z" in later
    # A cancelled roadshow's entries say so, under the same UIDs, so calendars holding them drop them.
    off = unfold(to_ical(schedule.meetings, who, date(2025, 3, 1), clock(14, 0), 20, sequence=8, cancelled=True))
    assert off.count("STATUS:CANCELLED") == lines.count("BEGIN:VEVENT") > 0 and "STATUS:CANCELLED" not in lines
    assert [x for x in off if x.startswith("UID:")] == [x for x in lines if x.startswith("UID:")]
    # A meeting that left the schedule is written cancelled, under its UID, beside the ones that stay.
    gone = mine[:1]
    later = unfold(to_ical([m for m in schedule.meetings if m not in gone], who, date(2025, 3, 1), clock(14, 0), 20,
                           sequence=9, dropped=gone))
    assert later.count("BEGIN:VEVENT") == len(mine) and later.count("STATUS:CANCELLED") == 1
    assert sorted(x for x in later if x.startswith("UID:")) == sorted(x for x in lines if x.startswith("UID:"))


def test_ical_for_someone_without_meetings_is_an_empty_calendar():
    _, schedule = tiny_schedule()
    lines = unfold(to_ical(schedule.meetings, "nobody", date(2025, 3, 1), clock(9, 0), 15))
    assert "BEGIN:VEVENT" not in lines and lines[-1] == "END:VCALENDAR"


def test_ctrl_c_after_a_solve_still_raises_keyboard_interrupt_so_cleanup_runs():
    # CP-SAT's own SIGINT handler stays behind as the default action after a solve; then Ctrl-C killed the
    # process without running `finally` (make run left its broker running). Checked in a child process.
    script = textwrap.dedent("""
        import os, signal, time
        from matcher.roster import new_solver
        from ortools.sat.python import cp_model
        model = cp_model.CpModel()
        model.maximize(model.new_int_var(0, 5, "x"))
        assert new_solver(1.0, 1).solve(model) == cp_model.OPTIMAL
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        finally:
            print("cleanup ran", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert "cleanup ran" in done.stdout and "KeyboardInterrupt" in done.stderr, (done.returncode, done.stderr)
