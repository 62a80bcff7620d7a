"""Roadshow roster optimisation: choose the projects and investors that fit each other and the theme.

Pure: numpy in, dataclasses out. The matching engine supplies the pair scores and theme relevance; the
service adapts its entities to `RosterProblem` and the returned `Roster` to its API shapes.

Objective: sum over chosen pairs that fit of score[p, i]  +  relevance_weight * (sum of chosen relevance).

Counts: the roster has exactly min(n_projects, eligible projects) projects and min(m_investors, eligible
organisations) investors, where "eligible" means passed in and not excluded, and an investor without an
organisation ("") counts as its own organisation. Fewer candidates than slots is not an error; every
other reason for not filling the slots (quotas, coverage) raises `RosterInfeasible` naming the constraint,
so the organizer can relax it instead of silently getting a smaller roadshow.

Scale: CP-SAT runs on a pre-filtered instance (the best `prefilter_factor` x N projects and x M investors,
pins always kept); the reported bound is the bound of that pre-filtered instance, not of the full one. If
the pre-filtered instance is infeasible the factor doubles until every eligible candidate is kept. Scores
enter the model rounded to 1/SCALE, so "optimal" means optimal up to that rounding.

Gap: the bound comes from the LP relaxation of the pair products z <= x, z <= y (tightened with "a chosen
project pairs with at most M investors" cuts). Fractional picks let it collect each project's best pairs
without a consistent investor set, so on large clustered instances it stays a few percent above the best
roster found even when that roster cannot be improved: read `gap` as an upper limit on the loss.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np
from ortools.sat.python import cp_model

SCALE = 10_000  # scores and relevance enter CP-SAT as integers in units of 1/SCALE
Kind = Literal["project", "investor"]


class RosterError(Exception):
    """No roster could be produced."""


class RosterInfeasible(RosterError):
    """No roster satisfies the constraints; `constraint` names the one that cannot be met and starts the message
    (pins, n_projects, m_investors, sector_quota, organisation, min_fits)."""

    def __init__(self, constraint: str, message: str) -> None:
        super().__init__(f"{constraint}: {message}")
        self.constraint = constraint


class RosterNotFound(RosterError):
    """Feasibility is unknown: nothing satisfying every constraint was found within the time limit."""


@dataclass(frozen=True)
class Label:
    """What a reason may say about a candidate; every field is optional.

    `sectors` are sector codes an investor backs (a project's own sectors come from `project_sectors`);
    `stage` is a (zh, en) pair such as `models.taxonomy.STAGES["seed"]`; `ask` is pre-formatted ("¥5M").
    """

    name: str = ""
    sectors: frozenset[str] = frozenset()
    stage: tuple[str, str] | None = None
    ask: str = ""


@dataclass(frozen=True, eq=False)
class RosterProblem:
    """One roadshow's candidates and rules. Indices in `conflicts` refer to `project_ids`/`investor_ids`.

    Arrays: score [P, I], project_relevance [P], investor_relevance [I], all in [0, 1].
    Sequences and sets are normalised to tuples and frozensets; the arrays are copied read-only.
    """

    project_ids: Sequence[str]
    investor_ids: Sequence[str]
    score: np.ndarray
    project_relevance: np.ndarray
    investor_relevance: np.ndarray
    project_sectors: Sequence[AbstractSet[str]]
    investor_org: Sequence[str]
    n_projects: int
    m_investors: int
    conflicts: AbstractSet[tuple[int, int]] = frozenset()
    sector_quota: Mapping[str, int] = field(default_factory=dict)
    fit_threshold: float = 0.5
    min_fits: int = 0
    pinned_projects: AbstractSet[str] = frozenset()
    pinned_investors: AbstractSet[str] = frozenset()
    excluded_projects: AbstractSet[str] = frozenset()
    excluded_investors: AbstractSet[str] = frozenset()
    relevance_weight: float = 1.0
    project_labels: Mapping[str, Label] = field(default_factory=dict)  # plain dicts of Label fields work too
    investor_labels: Mapping[str, Label] = field(default_factory=dict)
    # sector code -> (zh, en) display names, e.g. models.taxonomy.SECTORS; codes are shown if missing.
    sector_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalise once, here
        put(self, "project_ids", tuple(str(p) for p in self.project_ids))
        put(self, "investor_ids", tuple(str(i) for i in self.investor_ids))
        n_p, n_i = len(self.project_ids), len(self.investor_ids)
        for name, ids in (("project_ids", self.project_ids), ("investor_ids", self.investor_ids)):
            if len(set(ids)) != len(ids):
                dup = next(k for k, c in Counter(ids).items() if c > 1)
                raise ValueError(f"{name} must be unique; {dup!r} appears more than once")
        put(self, "score", _unit_array("score", self.score, (n_p, n_i)))
        put(self, "project_relevance", _unit_array("project_relevance", self.project_relevance, (n_p,)))
        put(self, "investor_relevance", _unit_array("investor_relevance", self.investor_relevance, (n_i,)))
        if len(self.project_sectors) != n_p:
            raise ValueError(f"project_sectors must have one entry per project ({n_p}); "
                             f"got {len(self.project_sectors)}")
        put(self, "project_sectors", tuple(frozenset(s) for s in self.project_sectors))
        if len(self.investor_org) != n_i:
            raise ValueError(f"investor_org must have one entry per investor ({n_i}); got {len(self.investor_org)}")
        put(self, "investor_org", tuple(str(o).strip() for o in self.investor_org))
        conflicts = frozenset((int(p), int(i)) for p, i in self.conflicts)
        bad = [c for c in conflicts if not (0 <= c[0] < n_p and 0 <= c[1] < n_i)]
        if bad:
            raise ValueError(f"conflicts must be (project index, investor index) pairs within [{n_p}, {n_i}]; "
                             f"got {sorted(bad)[:3]}")
        put(self, "conflicts", conflicts)
        for name, value in (("n_projects", self.n_projects), ("m_investors", self.m_investors),
                            ("min_fits", self.min_fits)):
            if not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        quota = {str(s): int(q) for s, q in self.sector_quota.items()}
        if any(q < 0 for q in quota.values()):
            raise ValueError(f"sector_quota values must be >= 0; got {quota}")
        put(self, "sector_quota", quota)
        if not 0.0 <= self.fit_threshold <= 1.0:
            raise ValueError(f"fit_threshold must be in [0, 1]; got {self.fit_threshold}")
        if not (np.isfinite(self.relevance_weight) and self.relevance_weight >= 0):
            raise ValueError(f"relevance_weight must be a finite number >= 0; got {self.relevance_weight}")
        for name, known in (("pinned_projects", self.project_ids), ("excluded_projects", self.project_ids),
                            ("pinned_investors", self.investor_ids), ("excluded_investors", self.investor_ids)):
            chosen = frozenset(getattr(self, name))
            unknown = sorted(chosen - set(known))
            if unknown:
                raise ValueError(f"{name} must name candidates that were passed in; unknown: {unknown[:5]}")
            put(self, name, chosen)
        for name in ("project_labels", "investor_labels"):
            labels = getattr(self, name)
            put(self, name, {k: v if isinstance(v, Label) else Label(**v) for k, v in labels.items()})

    @cached_property
    def fits(self) -> np.ndarray:
        """[P, I] bool: score >= fit_threshold and not a conflict."""
        fits = self.score >= self.fit_threshold
        for p, i in self.conflicts:
            fits[p, i] = False
        fits.setflags(write=False)
        return fits

    @cached_property
    def fit_score(self) -> np.ndarray:
        """[P, I] score where the pair fits, else 0: what a chosen pair adds to the objective."""
        out = np.where(self.fits, self.score, 0.0)
        out.setflags(write=False)
        return out


@dataclass(frozen=True)
class PickReason:
    kind: Kind
    id: str
    fits: int  # chosen counterparts that fit this pick
    top: tuple[str, ...]  # best fitting counterparts' ids, best first
    shared_sectors: tuple[str, ...]  # sector codes
    en: str
    zh: str


@dataclass(frozen=True)
class Roster:
    project_ids: tuple[str, ...]
    investor_ids: tuple[str, ...]
    objective: float
    bound: float  # upper bound on the objective of the (pre-filtered) instance
    gap: float  # (bound - objective) / bound
    method: Literal["cp-sat", "greedy"]
    status: Literal["optimal", "feasible", "heuristic"]
    reasons: tuple[PickReason, ...] = ()
    kept: tuple[int, int] = (0, 0)  # candidates (projects, investors) left by the pre-filter
    seconds: float = field(default=0.0, compare=False)

    def reason(self, kind: Kind, id_: str) -> PickReason:
        for r in self.reasons:
            if r.kind == kind and r.id == id_:
                return r
        raise KeyError(f"no {kind} {id_!r} on this roster")


@dataclass(frozen=True)
class Replacement:
    """`by_id` took the seat `replaced_id` left; either is None when the counts changed."""

    kind: Kind
    replaced_id: str | None
    by_id: str | None


# ---------------------------------------------------------------------------------------------- public API


def objective_of(problem: RosterProblem, project_ids: Iterable[str], investor_ids: Iterable[str]) -> float:
    """Objective of a given roster (fitting pair scores + weighted relevance), whatever its feasibility."""
    p = _indices(problem.project_ids, project_ids)
    i = _indices(problem.investor_ids, investor_ids)
    return _objective(problem, p, i)


def roster_size(problem: RosterProblem) -> tuple[int, int]:
    """(projects, investors) a roster of this problem has: the slots, or fewer if candidates run out."""
    projects = sum(1 for p in problem.project_ids if p not in problem.excluded_projects)
    orgs = _org_groups([o for i, o in zip(problem.investor_ids, problem.investor_org, strict=True)
                        if i not in problem.excluded_investors])
    return min(problem.n_projects, projects), min(problem.m_investors, len(orgs))


def greedy_roster(problem: RosterProblem, *, prefilter_factor: int = 4, time_limit: float = 5.0) -> Roster:
    """Fast heuristic on the same pre-filtered instance: alternate best responses, then swap until no swap
    improves. Its bound is the cheap "star" bound. Raises RosterInfeasible (pre-checks) or RosterNotFound."""
    started = time.perf_counter()
    n_p, n_i = roster_size(problem)
    _precheck(problem, n_p, n_i)
    inst = _prefilter(problem, prefilter_factor, n_p, n_i)
    picked = _greedy(inst, deadline=started + time_limit)
    if picked is None:
        raise RosterNotFound("the greedy heuristic found no roster meeting min_fits and the quotas; "
                             "use solve_roster or relax min_fits")
    return _roster(problem, inst, picked, method="greedy", status="heuristic", bound=_star_bound(inst),
                   started=started)


def solve_roster(problem: RosterProblem, *, time_limit: float = 8.0, prefilter_factor: int = 4,
                 num_workers: int = 2) -> Roster:
    """Best roster CP-SAT finds within `time_limit` seconds (greedy as hint and fallback).

    Raises RosterInfeasible (proven, naming the constraint) or RosterNotFound (time ran out first).
    """
    if time_limit <= 0:
        raise ValueError(f"time_limit must be > 0 seconds; got {time_limit}")
    if prefilter_factor < 1:
        raise ValueError(f"prefilter_factor must be >= 1; got {prefilter_factor}")
    started = time.perf_counter()
    deadline = started + time_limit
    n_p, n_i = roster_size(problem)
    _precheck(problem, n_p, n_i)
    factor = prefilter_factor
    while True:
        inst = _prefilter(problem, factor, n_p, n_i)
        remaining = deadline - time.perf_counter()
        hint = _greedy(inst, deadline=time.perf_counter() + 0.2 * remaining)
        status, picked, bound = _cp_sat(inst, deadline - time.perf_counter(), hint, num_workers)
        bound = min(bound, _star_bound(inst))
        if picked is not None:
            if hint is not None and _local_objective(inst, hint) > _local_objective(inst, picked):
                picked = hint  # the solver stopped before reaching its own hint's value
            return _roster(problem, inst, picked, method="cp-sat", bound=bound, started=started,
                           status="optimal" if status == cp_model.OPTIMAL else "feasible")
        if status == cp_model.INFEASIBLE:
            if inst.complete:
                _diagnose(problem, inst, deadline, num_workers)
            factor *= 2
            if time.perf_counter() < deadline:
                continue
            raise RosterNotFound(f"the best {inst.kept} candidates admit no roster and the time limit "
                                 f"({time_limit:g} s) ran out before the rest were tried")
        if hint is not None:
            return _roster(problem, inst, hint, method="greedy", status="heuristic", bound=bound,
                           started=started)
        raise RosterNotFound(f"no roster satisfying every constraint was found within {time_limit:g} s; "
                             "raise time_limit or relax min_fits / sector_quota")


def backfill(problem: RosterProblem, roster: Roster, *,
             declined_project_ids: Collection[str] = frozenset(),
             declined_investor_ids: Collection[str] = frozenset(),
             accepted_project_ids: Collection[str] = frozenset(),
             accepted_investor_ids: Collection[str] = frozenset(),
             left_project_ids: Sequence[str] = (), left_investor_ids: Sequence[str] = (),
             time_limit: float = 8.0, prefilter_factor: int = 4) -> tuple[Roster, list[Replacement]]:
    """Replace declined (or expired) invitees with the best remaining candidates that keep every constraint.

    Every other invitee keeps their seat if the constraints allow it; only if they do not are pending
    (not accepted) invitees re-chosen. Accepted invitees are never removed; declined candidates are
    never re-invited, even if pinned. If no declined id is on the roster and nobody left, the roster is returned
    as is, so applying the same decline twice changes nothing. `left_*`: members already off `roster` because they
    are no longer candidates (a project withdrawn, an investor unverified); their seats are filled too (even when
    no one on the roster declined), and newcomers are paired with their seats after the declined ones'.
    """
    declined_p, declined_i = frozenset(declined_project_ids), frozenset(declined_investor_ids)
    accepted_p, accepted_i = frozenset(accepted_project_ids), frozenset(accepted_investor_ids)
    for kind, acc, dec, seated in (("project", accepted_p, declined_p, roster.project_ids),
                                   ("investor", accepted_i, declined_i, roster.investor_ids)):
        if acc & dec:
            raise ValueError(f"a {kind} cannot both accept and decline; got {sorted(acc & dec)[:5]}")
        if acc - set(seated):
            raise ValueError(f"accepted {kind}s must be on the roster; not on it: {sorted(acc - set(seated))[:5]}")
    out_p = [p for p in roster.project_ids if p in declined_p]
    out_i = [i for i in roster.investor_ids if i in declined_i]
    if not out_p and not out_i and not left_project_ids and not left_investor_ids:
        return roster, []

    base = replace(problem,
                   excluded_projects=frozenset(problem.excluded_projects) | declined_p,
                   excluded_investors=frozenset(problem.excluded_investors) | declined_i)
    must_p = (frozenset(problem.pinned_projects) - declined_p) | accepted_p
    must_i = (frozenset(problem.pinned_investors) - declined_i) | accepted_i
    stay_p = frozenset(roster.project_ids) - declined_p
    stay_i = frozenset(roster.investor_ids) - declined_i
    deadline = time.perf_counter() + time_limit
    try:  # everyone still invited keeps their seat
        new = solve_roster(replace(base, pinned_projects=must_p | stay_p, pinned_investors=must_i | stay_i),
                           time_limit=time_limit, prefilter_factor=prefilter_factor)
    except RosterInfeasible:  # pending invitees may have to make way; accepted ones never do
        new = solve_roster(replace(base, pinned_projects=must_p, pinned_investors=must_i),
                           time_limit=max(1.0, deadline - time.perf_counter()), prefilter_factor=prefilter_factor)
    replacements = (_pair_up("project", [*roster.project_ids, *left_project_ids], new.project_ids)
                    + _pair_up("investor", [*roster.investor_ids, *left_investor_ids], new.investor_ids))
    return new, replacements


# ---------------------------------------------------------------------------------------------- internals


def _unit_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0.0 and arr.max() <= 1.0):
        raise ValueError(f"{name} must be finite and within [0, 1]")
    arr.setflags(write=False)
    return arr


def _indices(ids: Sequence[str], chosen: Iterable[str]) -> np.ndarray:
    where = {x: k for k, x in enumerate(ids)}
    return np.array(sorted(where[c] for c in chosen), dtype=np.int64)


def _org_groups(orgs: Sequence[str]) -> list[list[int]]:
    """Positions grouped by organisation; "" (no organisation) is a group of its own each time."""
    groups: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for k, org in enumerate(orgs):
        if not org:
            out.append([k])
        elif org in groups:
            groups[org].append(k)
        else:
            groups[org] = [k]
            out.append(groups[org])
    return out


def _objective(problem: RosterProblem, p: np.ndarray, i: np.ndarray) -> float:
    pairs = float(problem.fit_score[np.ix_(p, i)].sum()) if len(p) and len(i) else 0.0
    relevance = float(problem.project_relevance[p].sum() + problem.investor_relevance[i].sum())
    return pairs + problem.relevance_weight * relevance


def _precheck(problem: RosterProblem, n_p: int, n_i: int) -> None:
    """Contradictions visible without search, with the message the organizer needs."""
    for kind, pins, excl, n in (("project", problem.pinned_projects, problem.excluded_projects, n_p),
                                ("investor", problem.pinned_investors, problem.excluded_investors, n_i)):
        both = sorted(set(pins) & set(excl))
        if both:
            raise RosterInfeasible("pins", f"pinned_{kind}s and excluded_{kind}s both name {both[:5]}")
        if len(pins) > n:
            raise RosterInfeasible(
                "n_projects" if kind == "project" else "m_investors",
                f"{len(pins)} pinned {kind}s do not fit in {n} {kind} seats")
    pin_p = [k for k, p in enumerate(problem.project_ids) if p in problem.pinned_projects]
    for sector, quota in sorted(problem.sector_quota.items()):
        inside = [problem.project_ids[k] for k in pin_p if sector in problem.project_sectors[k]]
        if len(inside) > quota:
            raise RosterInfeasible("sector_quota", f"{len(inside)} pinned projects are in {sector!r} but its "
                                                   f"quota is {quota}: {inside[:5]}")
    pin_i = [k for k, i in enumerate(problem.investor_ids) if i in problem.pinned_investors]
    seen: dict[str, str] = {}
    for k in pin_i:
        org = problem.investor_org[k]
        if org and org in seen:
            raise RosterInfeasible("organisation", f"one seat per organisation, but pinned investors "
                                                   f"{seen[org]!r} and {problem.investor_ids[k]!r} are both "
                                                   f"from {org!r}")
        seen[org] = problem.investor_ids[k]
    r = problem.min_fits
    if r == 0:
        return
    ok_p = np.array([p not in problem.excluded_projects for p in problem.project_ids], dtype=bool)
    ok_i = np.array([i not in problem.excluded_investors for i in problem.investor_ids], dtype=bool)
    if (n_p or n_i) and (n_p < r or n_i < r):
        raise RosterInfeasible("min_fits", f"{r} fits per pick need at least {r} projects and {r} investors; "
                                           f"the roster has {n_p} project and {n_i} investor seats")
    fits = problem.fits
    for k in pin_p:  # fitting eligible investors, at most one per organisation
        orgs = {problem.investor_org[i] or f"#{i}" for i in np.flatnonzero(fits[k] & ok_i).tolist()}
        if len(orgs) < r:
            raise RosterInfeasible("min_fits", f"pinned project {problem.project_ids[k]!r} fits only "
                                               f"{len(orgs)} eligible investor organisation(s), needs {r}")
    for k in pin_i:
        if int((fits[:, k] & ok_p).sum()) < r:
            raise RosterInfeasible("min_fits", f"pinned investor {problem.investor_ids[k]!r} fits only "
                                               f"{int((fits[:, k] & ok_p).sum())} eligible project(s), needs {r}")


@dataclass
class _Instance:
    """The pre-filtered instance, in local indices."""

    projects: np.ndarray  # [Pk] indices into problem.project_ids
    investors: np.ndarray  # [Ik] indices into problem.investor_ids
    fit: np.ndarray  # [Pk, Ik] bool
    gain: np.ndarray  # [Pk, Ik] score where the pair fits, else 0
    a: np.ndarray  # [Pk] relevance_weight * project relevance
    b: np.ndarray  # [Ik]
    n_p: int
    n_i: int
    r: int
    quota_members: dict[str, np.ndarray]  # quota'd sector -> local project indices in it
    quota: dict[str, int]
    org: np.ndarray  # [Ik] organisation group id; groups of one are unique ids too
    pin_p: np.ndarray  # [Pk] bool
    pin_i: np.ndarray  # [Ik] bool
    complete: bool  # every eligible candidate was kept

    @property
    def kept(self) -> tuple[int, int]:
        return len(self.projects), len(self.investors)


def _top_sum(values: np.ndarray, k: int) -> np.ndarray:
    """Row-wise sum of the k largest values. values: [R, C] -> [R]."""
    if k <= 0 or values.shape[1] == 0:
        return np.zeros(values.shape[0])
    if k >= values.shape[1]:
        return values.sum(axis=1)
    return np.partition(values, values.shape[1] - k, axis=1)[:, -k:].sum(axis=1)


def _prefilter(problem: RosterProblem, factor: int, n_p: int, n_i: int) -> _Instance:
    """Keep pins plus the factor x N projects and factor x M investors with the best potential.

    A project's potential is its weighted relevance plus the sum of its M best fitting scores; investors
    are then ranked the same way against the kept projects only, so both sides come from the same
    clusters. At most factor x quota projects per quota'd sector and two investors per organisation are
    kept, so the pre-filter does not fill up with candidates the constraints would reject anyway.
    """
    w = problem.relevance_weight
    gain = problem.fit_score
    elig_p = np.array([p not in problem.excluded_projects for p in problem.project_ids], dtype=bool)
    elig_i = np.array([i not in problem.excluded_investors for i in problem.investor_ids], dtype=bool)
    pin_p = np.array([p in problem.pinned_projects for p in problem.project_ids], dtype=bool)
    pin_i = np.array([i in problem.pinned_investors for i in problem.investor_ids], dtype=bool)

    cand_i = np.flatnonzero(elig_i)
    key_p = w * problem.project_relevance + _top_sum(gain[:, cand_i], n_i)
    sector_cap = {s: factor * q for s, q in problem.sector_quota.items()}
    per_sector: Counter[str] = Counter()
    kept_p: list[int] = list(np.flatnonzero(pin_p))
    for s in (s for k in kept_p for s in problem.project_sectors[k]):
        per_sector[s] += 1
    all_p = factor * n_p >= int(elig_p.sum())  # small enough: keep everyone, caps included
    for k in np.argsort(-key_p, kind="stable"):
        if len(kept_p) >= factor * n_p and not all_p:
            break
        if not elig_p[k] or pin_p[k]:
            continue
        secs = problem.project_sectors[k]
        if not all_p and any(per_sector[s] >= sector_cap[s] for s in secs if s in sector_cap):
            continue
        kept_p.append(int(k))
        per_sector.update(secs)
    projects = np.array(sorted(kept_p), dtype=np.int64)

    key_i = w * problem.investor_relevance + _top_sum(gain[projects].T, n_p)
    per_org: Counter[str] = Counter()
    kept_i: list[int] = list(np.flatnonzero(pin_i))
    per_org.update(problem.investor_org[k] for k in kept_i)
    all_i = factor * n_i >= int(elig_i.sum())
    for k in np.argsort(-key_i, kind="stable"):
        if len(kept_i) >= factor * n_i and not all_i:
            break
        org = problem.investor_org[k]
        if not elig_i[k] or pin_i[k] or (org and per_org[org] >= 2 and not all_i):
            continue
        kept_i.append(int(k))
        per_org[org] += 1
    investors = np.array(sorted(kept_i), dtype=np.int64)

    groups = _org_groups([problem.investor_org[k] for k in investors])
    org = np.empty(len(investors), dtype=np.int64)
    for g, members in enumerate(groups):
        org[members] = g
    quota_members = {s: np.array([k for k, p in enumerate(projects) if s in problem.project_sectors[p]],
                                 dtype=np.int64) for s in problem.sector_quota}
    return _Instance(
        projects=projects, investors=investors,
        fit=problem.fits[np.ix_(projects, investors)], gain=gain[np.ix_(projects, investors)],
        a=w * problem.project_relevance[projects], b=w * problem.investor_relevance[investors],
        n_p=n_p, n_i=n_i, r=problem.min_fits, quota_members=quota_members, quota=dict(problem.sector_quota),
        org=org, pin_p=pin_p[projects], pin_i=pin_i[investors],
        complete=len(projects) == int(elig_p.sum()) and len(investors) == int(elig_i.sum()))


def _star_bound(inst: _Instance) -> float:
    """Cheap valid upper bound: each chosen project adds at most its M best fitting scores (and the same
    from the investors' side); the smaller of the two sides bounds the objective."""
    by_p = np.sort(inst.a + _top_sum(inst.gain, inst.n_i))[::-1][:inst.n_p].sum() + np.sort(inst.b)[::-1][
        :inst.n_i].sum()
    by_i = np.sort(inst.b + _top_sum(inst.gain.T, inst.n_p))[::-1][:inst.n_i].sum() + np.sort(inst.a)[::-1][
        :inst.n_p].sum()
    return float(min(by_p, by_i))


Picked = tuple[np.ndarray, np.ndarray]  # (X [Pk] bool, Y [Ik] bool)


def _local_objective(inst: _Instance, picked: Picked) -> float:
    x, y = picked
    return float(inst.gain[np.ix_(x, y)].sum() + inst.a[x].sum() + inst.b[y].sum())


def _deficit(inst: _Instance, x: np.ndarray, y: np.ndarray) -> int:
    """How far the pick is from min_fits coverage, summed over chosen projects and investors."""
    sub = inst.fit[np.ix_(x, y)]
    return int(np.maximum(0, inst.r - sub.sum(axis=1)).sum() + np.maximum(0, inst.r - sub.sum(axis=0)).sum())


def _pick_projects(inst: _Instance, gain: np.ndarray, covered: np.ndarray) -> np.ndarray | None:
    """Projects by gain [Pk] (pinned, then covered ones first) within the quotas; None if the quotas block."""
    order = np.lexsort((-gain, ~covered, ~inst.pin_p))
    x = np.zeros(len(gain), dtype=bool)
    used = dict.fromkeys(inst.quota, 0)
    members = {s: set(m.tolist()) for s, m in inst.quota_members.items()}
    count = 0
    for k in order.tolist():
        if count == inst.n_p:
            break
        secs = [s for s in inst.quota if k in members[s]]
        if any(used[s] >= inst.quota[s] for s in secs):
            continue
        x[k] = True
        count += 1
        for s in secs:
            used[s] += 1
    return x if count == inst.n_p and (x | ~inst.pin_p).all() else None


def _respond_projects(inst: _Instance, y: np.ndarray) -> np.ndarray | None:
    """Best response to investors y, up to quota packing."""
    return _pick_projects(inst, inst.a + inst.gain[:, y].sum(axis=1), inst.fit[:, y].sum(axis=1) >= inst.r)


def _respond_investors(inst: _Instance, x: np.ndarray) -> np.ndarray:
    """Best response to projects x: investors by gain (pinned, then covered ones first), one per organisation."""
    gain = inst.b + inst.gain[x].sum(axis=0)
    covered = inst.fit[x].sum(axis=0) >= inst.r
    order = np.lexsort((-gain, ~covered, ~inst.pin_i))
    y = np.zeros(len(gain), dtype=bool)
    taken: set[int] = set()
    count = 0
    for k in order.tolist():
        if count == inst.n_i:
            break
        if int(inst.org[k]) in taken:
            continue
        y[k] = True
        taken.add(int(inst.org[k]))
        count += 1
    return y


def _greedy(inst: _Instance, deadline: float) -> Picked | None:
    """Alternating best responses from two starts, then best-swap local search; the best feasible pick wins.

    Starts: the projects with the best potential (relevance + M best pair scores), and the best response
    to the investors that fit the whole pool best. Coverage shortfalls are penalised ahead of the objective
    so the search first repairs min_fits, then improves.
    """
    n_pk, n_ik = inst.gain.shape
    if inst.n_p > n_pk or inst.n_i > n_ik:
        return None
    big = float(inst.gain.sum() + inst.a.sum() + inst.b.sum() + 1.0)

    def value(x: np.ndarray, y: np.ndarray) -> float:
        return _local_objective(inst, (x, y)) - big * _deficit(inst, x, y)

    potential = inst.a + _top_sum(inst.gain, inst.n_i)
    starts = [_pick_projects(inst, potential, np.ones(n_pk, dtype=bool)),
              _respond_projects(inst, _respond_investors(inst, np.ones(n_pk, dtype=bool)))]
    found: Picked | None = None
    for x0 in starts:
        if x0 is None or time.perf_counter() > deadline:
            continue
        x, y, v = x0, _respond_investors(inst, x0), -np.inf
        for _ in range(10):  # alternate until the value stops rising
            v = value(x, y)
            nx = _respond_projects(inst, y)
            if nx is None:
                break
            ny = _respond_investors(inst, nx)
            if value(nx, ny) <= v:
                break
            x, y = nx, ny
        x, y = x.copy(), y.copy()
        for _ in range(1000):
            if time.perf_counter() > deadline:
                break
            moved = _swap_investor(inst, x, y, big)
            moved = _swap_project(inst, x, y, big) or moved
            if not moved:
                break
        if _deficit(inst, x, y) == 0 and (found is None or value(x, y) > value(*found)):
            found = (x, y)
    return found


def _swap_delta(fit: np.ndarray, gain: np.ndarray, chosen: np.ndarray, other: np.ndarray, rem: np.ndarray,
                add: np.ndarray, r: int, big: float) -> np.ndarray:
    """[R, A] objective change of swapping chosen member rem[j] for outsider add[k] on one side: `fit` [n_other,
    n_side] says which counterparts each member fits, `other` marks the chosen counterparts, `gain` [n_side] is
    each member's value with them; a coverage shortfall (fewer than `r` fits) costs `big` per missing fit."""
    fo = fit[other].astype(np.int64)  # [nO, n_side] the chosen counterparts' fits
    own = np.maximum(0, r - fo.sum(axis=0))  # [n_side] each member's own coverage shortfall
    cov = fo[:, chosen].sum(axis=1)  # [nO] each counterpart's coverage by the chosen members
    new_cov = cov[:, None, None] - fo[:, rem][:, :, None] + fo[:, add][:, None, :]  # [nO, R, A]
    d_def = (np.maximum(0, r - new_cov).sum(axis=0) - np.maximum(0, r - cov).sum()
             + own[add][None, :] - own[rem][:, None])
    return gain[add][None, :] - gain[rem][:, None] - big * d_def


def _apply_best_swap(delta: np.ndarray, chosen: np.ndarray, rem: np.ndarray, add: np.ndarray) -> bool:
    """Apply the swap of largest improvement in `delta` [R, A] to `chosen` in place; False if none improves."""
    out, into = np.unravel_index(int(np.argmax(delta)), delta.shape)
    if delta[out, into] <= 1e-9:
        return False
    chosen[rem[out]], chosen[add[into]] = False, True
    return True


def _swap_investor(inst: _Instance, x: np.ndarray, y: np.ndarray, big: float) -> bool:
    """Apply the best improving (seated investor -> other investor) swap in place; False if none."""
    rem = np.flatnonzero(y & ~inst.pin_i)
    add = np.flatnonzero(~y)
    if not len(rem) or not len(add):
        return False
    gain = inst.b + inst.gain[x].sum(axis=0)  # [Ik]
    delta = _swap_delta(inst.fit, gain, y, x, rem, add, inst.r, big)  # [R, A]
    seated_orgs = Counter(inst.org[y].tolist())
    clash = np.array([seated_orgs[o] > 0 for o in inst.org[add]])  # [A] org already seated...
    ok = ~clash[None, :] | (inst.org[add][None, :] == inst.org[rem][:, None])  # ...unless by the leaver
    return _apply_best_swap(np.where(ok, delta, -np.inf), y, rem, add)


def _swap_project(inst: _Instance, x: np.ndarray, y: np.ndarray, big: float) -> bool:
    """Apply the best improving (chosen project -> other project) swap in place; False if none."""
    rem = np.flatnonzero(x & ~inst.pin_p)
    add = np.flatnonzero(~x)
    if not len(rem) or not len(add):
        return False
    gain = inst.a + inst.gain[:, y].sum(axis=1)  # [Pk]
    delta = _swap_delta(inst.fit.T, gain, x, y, rem, add, inst.r, big)  # [R, A]
    for s, members in inst.quota_members.items():
        inside = np.zeros(len(x), dtype=np.int64)
        inside[members] = 1
        after = int(inside[x].sum()) - inside[rem][:, None] + inside[add][None, :]
        delta = np.where(after <= inst.quota[s], delta, -np.inf)
    return _apply_best_swap(delta, x, rem, add)


def _model(inst: _Instance, *, org: bool = True, quota: bool = True, coverage: bool = True,
           objective: bool = True) -> tuple[cp_model.CpModel, list[Any], list[Any], dict[tuple[int, int], Any]]:
    """CP-SAT model of the instance; the flags drop constraint groups for diagnosis."""
    m = cp_model.CpModel()
    n_pk, n_ik = inst.gain.shape
    x = [m.new_bool_var(f"x{p}") for p in range(n_pk)]
    y = [m.new_bool_var(f"y{i}") for i in range(n_ik)]
    z: dict[tuple[int, int], Any] = {}
    for p, i in np.argwhere(inst.fit).tolist():
        v = m.new_bool_var(f"z{p}_{i}")
        m.add_implication(v, x[p])
        m.add_implication(v, y[i])
        z[p, i] = v
    m.add(sum(x) == inst.n_p)
    m.add(sum(y) == inst.n_i)
    for p in np.flatnonzero(inst.pin_p).tolist():
        m.add(x[p] == 1)
    for i in np.flatnonzero(inst.pin_i).tolist():
        m.add(y[i] == 1)
    if org:
        for g in np.unique(inst.org):
            members = np.flatnonzero(inst.org == g)
            if len(members) > 1:
                m.add_at_most_one(y[i] for i in members)
    if quota:
        for s, members in inst.quota_members.items():
            if len(members) > inst.quota[s]:
                m.add(sum(x[p] for p in members) <= inst.quota[s])
    by_p: dict[int, list[int]] = {}
    by_i: dict[int, list[int]] = {}
    for p, i in z:
        by_p.setdefault(p, []).append(i)
        by_i.setdefault(i, []).append(p)
    cost = {k: round(SCALE * float(inst.gain[k])) for k in z}
    if coverage and inst.r > 0:
        for p in range(n_pk):
            m.add(sum(z[p, i] for i in by_p.get(p, [])) >= inst.r * x[p])
        for i in range(n_ik):
            m.add(sum(z[p, i] for p in by_i.get(i, [])) >= inst.r * y[i])
    if not objective:
        return m, x, y, z
    # Valid cuts that tighten the LP bound: a chosen project pairs with at most M investors, and gains at
    # most the sum of its M best pair scores (and the same for investors).
    for side, n_other, var in ((by_p, inst.n_i, x), (by_i, inst.n_p, y)):
        for k, others in side.items():
            if len(others) <= n_other:
                continue
            keys = [(k, o) if var is x else (o, k) for o in others]
            m.add(sum(z[key] for key in keys) <= n_other * var[k])
            best = sum(sorted((cost[key] for key in keys), reverse=True)[:n_other])
            m.add(cp_model.LinearExpr.weighted_sum([z[key] for key in keys], [cost[key] for key in keys])
                  <= best * var[k])
    terms = [z[k] for k in z] + x + y
    coeffs = ([cost[k] for k in z] + [round(SCALE * float(v)) for v in inst.a]
              + [round(SCALE * float(v)) for v in inst.b])
    m.maximize(cp_model.LinearExpr.weighted_sum(terms, coeffs))
    return m, x, y, z


def new_solver(seconds: float, num_workers: int) -> cp_model.CpSolver:
    """A CP-SAT solver with a time limit, deterministic for a given model. It must not catch SIGINT: CP-SAT's
    own handler is left behind as the process's default action after a solve, so Ctrl-C would then kill the
    process outright (no `finally`: `make run` left its broker running after an organizer had solved a roster)."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    solver.parameters.num_workers = num_workers
    solver.parameters.random_seed = 0
    solver.parameters.catch_sigint_signal = False
    return solver


def _cp_sat(inst: _Instance, time_limit: float, hint: Picked | None,
            num_workers: int) -> tuple[Any, Picked | None, float]:
    """Solve the instance; returns (status, pick or None, bound on the objective)."""
    m, x, y, z = _model(inst)
    if hint is not None:
        hx, hy = hint
        for p, v in enumerate(x):
            m.add_hint(v, bool(hx[p]))
        for i, v in enumerate(y):
            m.add_hint(v, bool(hy[i]))
        for (p, i), v in z.items():
            m.add_hint(v, bool(hx[p] and hy[i]))
    solver = new_solver(time_limit, num_workers)
    status = solver.solve(m)
    bound = solver.best_objective_bound / SCALE if status != cp_model.INFEASIBLE else -np.inf
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return status, None, float(bound)
    px = np.array([solver.boolean_value(v) for v in x], dtype=bool)
    py = np.array([solver.boolean_value(v) for v in y], dtype=bool)
    return status, (px, py), float(bound)


def _diagnose(problem: RosterProblem, inst: _Instance, deadline: float, num_workers: int) -> None:
    """Raise RosterInfeasible naming the first constraint group that makes the complete instance infeasible."""
    stages = [
        ("m_investors", (True, False, False),  # one seat per organisation is fixed: fewer seats is what helps
         f"one seat per organisation leaves fewer than {inst.n_i} investors"),
        ("sector_quota", (True, True, False),
         f"no {inst.n_p} eligible projects fit within the quotas {dict(sorted(inst.quota.items()))}"
         + (" together with the pinned projects" if inst.pin_p.any() else "")),
        ("min_fits", (True, True, True),
         f"no roster of {inst.n_p} projects and {inst.n_i} investors gives every pick {inst.r} fitting "
         f"counterparts (score >= {problem.fit_threshold:g}, conflicts excluded) within the other constraints"),
    ]
    for name, (org, quota, coverage), message in stages:
        m, *_ = _model(inst, org=org, quota=quota, coverage=coverage, objective=False)
        solver = new_solver(max(1.0, deadline - time.perf_counter()), num_workers)
        if solver.solve(m) == cp_model.INFEASIBLE:
            raise RosterInfeasible(name, message)
    raise RosterInfeasible("min_fits", stages[-1][2])


def _roster(problem: RosterProblem, inst: _Instance, picked: Picked, *, method: Literal["cp-sat", "greedy"],
            status: Literal["optimal", "feasible", "heuristic"], bound: float, started: float) -> Roster:
    p = inst.projects[picked[0]]
    i = inst.investors[picked[1]]
    objective = _objective(problem, p, i)
    bound = objective if status == "optimal" else max(objective, bound)
    return Roster(
        project_ids=tuple(problem.project_ids[k] for k in p),
        investor_ids=tuple(problem.investor_ids[k] for k in i),
        objective=objective, bound=bound, gap=(bound - objective) / bound if bound > 0 else 0.0,
        method=method, status=status, reasons=_reasons(problem, p, i), kept=inst.kept,
        seconds=time.perf_counter() - started)


def _pair_up(kind: Kind, before: Sequence[str], after: Sequence[str]) -> list[Replacement]:
    gone = [k for k in before if k not in set(after)]
    came = [k for k in after if k not in set(before)]
    n = max(len(gone), len(came))
    gone += [None] * (n - len(gone))  # type: ignore[list-item]
    came += [None] * (n - len(came))  # type: ignore[list-item]
    return [Replacement(kind, g, c) for g, c in zip(gone, came, strict=True)]


# ---------------------------------------------------------------------------------------------- reasons


def _names(problem: RosterProblem, codes: Iterable[str]) -> tuple[str, str]:
    """(zh, en) comma lists of sector display names."""
    pairs = [problem.sector_names.get(c, (c, c)) for c in codes]
    return "、".join(zh for zh, _ in pairs), ", ".join(en for _, en in pairs)


def _reasons(problem: RosterProblem, p: np.ndarray, i: np.ndarray) -> tuple[PickReason, ...]:
    fits = problem.fits[np.ix_(p, i)]  # [nP, nI]
    score = problem.score[np.ix_(p, i)]
    plabel = [problem.project_labels.get(problem.project_ids[k], Label()) for k in p]
    ilabel = [problem.investor_labels.get(problem.investor_ids[k], Label()) for k in i]
    pname = [lab.name or problem.project_ids[k] for lab, k in zip(plabel, p, strict=True)]
    iname = [lab.name or problem.investor_ids[k] for lab, k in zip(ilabel, i, strict=True)]
    out: list[PickReason] = []
    for a, k in enumerate(p):
        mates = [b for b in np.argsort(-score[a], kind="stable") if fits[a, b]]
        backed: Counter[str] = Counter(s for b in mates for s in ilabel[b].sectors)
        own = problem.project_sectors[k]
        shared = tuple(sorted((s for s in own if backed[s]), key=lambda s: (-backed[s], s)))[:3]
        best = ", ".join(f"{iname[b]} {score[a, b]:.2f}" for b in mates[:3])
        best_zh = "、".join(f"{iname[b]} {score[a, b]:.2f}" for b in mates[:3])
        zh_sec, en_sec = _names(problem, shared)
        lab = plabel[a]
        en = f"{len(mates)} chosen investor{'' if len(mates) == 1 else 's'} fit it"
        zh = f"{len(mates)} 位入选投资人与其匹配"
        if mates:
            en += f" (best: {best})"
            zh += f"（最佳：{best_zh}）"
        if shared:
            en += f"; they back {en_sec}"
            zh += f"；他们关注{zh_sec}"
        if lab.stage:
            en += f"; {lab.stage[1]} stage"
            zh += f"；{lab.stage[0]}"
        if lab.ask:
            en += f", asking {lab.ask}"
            zh += f"，融资 {lab.ask}"
        out.append(PickReason("project", problem.project_ids[k], len(mates),
                              tuple(problem.investor_ids[i[b]] for b in mates[:3]), shared, en + ".", zh + "。"))
    for b, k in enumerate(i):
        mates = [a for a in np.argsort(-score[:, b], kind="stable") if fits[a, b]]
        covered: Counter[str] = Counter(s for a in mates for s in problem.project_sectors[p[a]])
        backs = ilabel[b].sectors
        shared = tuple(sorted((s for s in covered if not backs or s in backs),
                              key=lambda s: (-covered[s], s)))[:3]
        stages = list(dict.fromkeys(plabel[a].stage for a in mates if plabel[a].stage))[:2]
        best = ", ".join(f"{pname[a]} {score[a, b]:.2f}" for a in mates[:3])
        best_zh = "、".join(f"{pname[a]} {score[a, b]:.2f}" for a in mates[:3])
        zh_sec, en_sec = _names(problem, shared)
        en = f"Fits {len(mates)} chosen project{'' if len(mates) == 1 else 's'}"
        zh = f"与 {len(mates)} 个入选项目匹配"
        if mates:
            en += f" (best: {best})"
            zh += f"（最佳：{best_zh}）"
        if shared:
            en += f" in {en_sec}"
            zh += f"，领域：{zh_sec}"
        if stages:
            en += f" at {', '.join(s[1] for s in stages if s)} stage"
            zh += f"，阶段：{'、'.join(s[0] for s in stages if s)}"
        out.append(PickReason("investor", problem.investor_ids[k], len(mates),
                              tuple(problem.project_ids[p[a]] for a in mates[:3]), shared,
                              (en[0].upper() + en[1:]) + ".", zh + "。"))
    return tuple(out)
