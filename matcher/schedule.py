"""1:1 meetings after the pitches: which project meets which investor, in which slot, at which table.

Pure: numpy in, dataclasses out. Solved in two exact steps instead of one big model:

1. choose the pairs (CP-SAT): a project meets at most one investor per slot, so at most `slots` meetings;
   an investor at most min(investor_cap, slots); at most slots x tables meetings in all. The total
   shortfall below `project_min` is minimised first, then the total score is maximised.
2. put them into slots (CP-SAT): a proper edge colouring of the chosen pairs with `slots` colours, each
   colour used at most `tables` times. Step 1's limits guarantee one exists (a bipartite multigraph of
   maximum degree <= k has a k-edge-colouring whose colour classes differ in size by at most one), so
   step 2 never loses a pair, and step 1's bound is the bound of the whole problem.

Tables carry no preference, so they are numbered within each slot; when there are at least as many
tables as projects, each project keeps one table all day and the investors move.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock
from typing import Any, Literal

import numpy as np
from ortools.sat.python import cp_model

from matcher.roster import SCALE, RosterProblem, new_solver
from models.roadshows import TIMEZONE


@dataclass(frozen=True, eq=False)
class MeetingProblem:
    """Accepted projects and investors and the room. `conflicts` index into the two id lists; score [P, I]."""

    project_ids: Sequence[str]
    investor_ids: Sequence[str]
    score: np.ndarray
    slots: int
    tables: int
    investor_cap: int
    project_min: int = 0
    conflicts: AbstractSet[tuple[int, int]] = frozenset()
    min_score: float = 0.0  # pairs scoring below this never meet

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "project_ids", tuple(str(p) for p in self.project_ids))
        put(self, "investor_ids", tuple(str(i) for i in self.investor_ids))
        shape = (len(self.project_ids), len(self.investor_ids))
        for name, ids in (("project_ids", self.project_ids), ("investor_ids", self.investor_ids)):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name} must be unique")
        score = np.array(self.score, dtype=np.float64)
        if score.shape != shape:
            raise ValueError(f"score must have shape {shape}; got {score.shape}")
        if score.size and not (np.isfinite(score).all() and score.min() >= 0 and score.max() <= 1):
            raise ValueError("score must be finite and within [0, 1]")
        score.setflags(write=False)
        put(self, "score", score)
        for name in ("slots", "tables", "investor_cap", "project_min"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {value!r}")
        conflicts = frozenset((int(p), int(i)) for p, i in self.conflicts)
        if any(not (0 <= p < shape[0] and 0 <= i < shape[1]) for p, i in conflicts):
            raise ValueError(f"conflicts must be (project index, investor index) pairs within {shape}")
        put(self, "conflicts", conflicts)

    @classmethod
    def from_roster(cls, problem: RosterProblem, project_ids: Sequence[str], investor_ids: Sequence[str],
                    **room: Any) -> MeetingProblem:
        """The meeting problem of a roster's accepted invitees: slices the scores and conflicts."""
        p_at = {p: k for k, p in enumerate(problem.project_ids)}
        i_at = {i: k for k, i in enumerate(problem.investor_ids)}
        p_idx = [p_at[p] for p in project_ids]
        i_idx = [i_at[i] for i in investor_ids]
        p_new = {old: new for new, old in enumerate(p_idx)}
        i_new = {old: new for new, old in enumerate(i_idx)}
        conflicts = {(p_new[p], i_new[i]) for p, i in problem.conflicts if p in p_new and i in i_new}
        return cls(project_ids=list(project_ids), investor_ids=list(investor_ids),
                   score=problem.score[np.ix_(p_idx, i_idx)], conflicts=conflicts, **room)

    @property
    def allowed(self) -> np.ndarray:
        """[P, I] bool: pairs that may meet (not a conflict, score >= min_score)."""
        ok = self.score >= self.min_score
        for p, i in self.conflicts:
            ok[p, i] = False
        return ok


@dataclass(frozen=True)
class Meeting:
    slot: int  # 1-based
    table: int  # 1-based
    project_id: str
    investor_id: str
    score: float


@dataclass(frozen=True)
class Shortfall:
    project_id: str
    meetings: int
    required: int


@dataclass(frozen=True)
class Schedule:
    meetings: tuple[Meeting, ...]  # by slot, then table
    objective: float  # total score of the meetings
    bound: float
    gap: float
    method: Literal["cp-sat", "greedy"]
    status: Literal["optimal", "feasible", "heuristic"]
    shortfalls: tuple[Shortfall, ...] = ()  # projects below project_min (best effort)
    seconds: float = field(default=0.0, compare=False)


def schedule_meetings(problem: MeetingProblem, *, time_limit: float = 5.0, num_workers: int = 2) -> Schedule:
    """Best schedule CP-SAT finds within `time_limit` seconds; the greedy schedule if it finds none."""
    if time_limit <= 0:
        raise ValueError(f"time_limit must be > 0 seconds; got {time_limit}")
    started = time.perf_counter()
    deadline = started + time_limit
    greedy_pairs = _greedy_pairs(problem)
    chosen, status, bound = _choose_pairs(problem, greedy_pairs, deadline, num_workers)
    if chosen is None:
        return _build(problem, _greedy_slots(problem, greedy_pairs), "greedy", "heuristic", np.inf, started)
    slotted = _slot_pairs(problem, chosen, deadline, num_workers)
    if slotted is None:  # cannot happen in theory (see module docstring); never lose the day over it
        slotted = _greedy_slots(problem, chosen)
        status = cp_model.FEASIBLE
    return _build(problem, slotted, "cp-sat", "optimal" if status == cp_model.OPTIMAL else "feasible",
                  bound, started)


def greedy_schedule(problem: MeetingProblem) -> Schedule:
    """Fast heuristic: best pairs first (each project's best up to project_min before the rest), first free slot."""
    started = time.perf_counter()
    return _build(problem, _greedy_slots(problem, _greedy_pairs(problem)), "greedy", "heuristic", np.inf, started)


# ---------------------------------------------------------------------------------------------- exports


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A user-chosen text cell made inert: names are typed by founders and investors, and a spreadsheet
    would run `=HYPERLINK(...)` as a formula, so a leading quote makes it text (OWASP CSV injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def to_csv(meetings: Sequence[Meeting], names: Mapping[str, str] | None = None) -> str:
    """One row per meeting: slot, table, project, investor (ids and, if given, display names), score."""
    names = names or {}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["slot", "table", "project_id", "project_name", "investor_id", "investor_name", "score"])
    for m in meetings:  # numbers are ours, left as they are so the sheet can sort and sum them
        w.writerow([m.slot, m.table, _cell(m.project_id), _cell(names.get(m.project_id, "")), _cell(m.investor_id),
                    _cell(names.get(m.investor_id, "")), f"{m.score:.4f}"])
    return out.getvalue()


def to_ical(meetings: Sequence[Meeting], participant_id: str, event_date: date, start: clock, slot_minutes: int,
            names: Mapping[str, str] | None = None, *, tz: tzinfo = TIMEZONE, event_id: str = "roadshow",
            location: str = "", stamp: datetime | None = None, sequence: int = 0, with_scores: bool = True,
            cancelled: bool = False, dropped: Sequence[Meeting] = ()) -> str:
    """A VCALENDAR with one VEVENT per meeting of `participant_id` (a project or an investor id).

    Slot k (1-based) starts at `start` + (k - 1) x slot_minutes, local time in `tz` (or at the UTC offset `start`
    carries: the log may hold such times from before the API refused them); times are written in UTC. The UID of
    a meeting depends only on event_id and the pair (not on the date, which the organizer may move), so
    re-exporting after a change updates the same calendar entries. `stamp` (DTSTAMP) defaults to
    midnight of the event day, so the output is a pure function of its inputs; pass the time of the change and
    a `sequence` that grows with every change (the roadshow's version): calendar apps replace an entry only by
    a newer one. Without `with_scores` the descriptions leave out the match scores (an invitee's copy).
    `cancelled` (the roadshow was called off) marks every entry STATUS:CANCELLED, so calendar apps holding it
    drop or strike it. `dropped`: meetings that have left the schedule; the participant's are written cancelled
    too (a calendar that imported an earlier copy would keep them otherwise).
    """
    if slot_minutes <= 0:
        raise ValueError(f"slot_minutes must be > 0; got {slot_minutes}")
    names = names or {}
    first = datetime.combine(event_date, start, tzinfo=start.tzinfo or tz)  # an offset given is kept, not replaced
    stamp = stamp or datetime.combine(event_date, clock(0), tzinfo=tz)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//matchmaker//roadshow meetings//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    for m, off in [*((m, cancelled) for m in meetings), *((m, True) for m in dropped)]:
        if participant_id not in (m.project_id, m.investor_id):
            continue
        other = m.investor_id if participant_id == m.project_id else m.project_id
        begin = first + timedelta(minutes=slot_minutes * (m.slot - 1))
        where = f"Table {m.table}" + (f", {location}" if location else "")
        about = f"Slot {m.slot}, table {m.table}." + (f" Match score {m.score:.2f}." if with_scores else "")
        summary = f"Meeting with {names.get(other, other)} / 会面：{names.get(other, other)}"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{_uid_part(event_id)}-{_uid_part(m.project_id)}-{_uid_part(m.investor_id)}@matchmaker",
            f"DTSTAMP:{_utc(stamp)}",
            f"SEQUENCE:{sequence}",
            f"DTSTART:{_utc(begin)}",
            f"DTEND:{_utc(begin + timedelta(minutes=slot_minutes))}",
            f"SUMMARY:{_text(('Cancelled / 已取消: ' if off else '') + summary)}",
            f"LOCATION:{_text(where)}",
            f"DESCRIPTION:{_text(about)}",
            *(["STATUS:CANCELLED"] if off else []),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _uid_part(value: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in value)


def _text(value: str) -> str:
    """RFC 5545 TEXT escaping."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 character; continuation lines start with a space."""
    parts: list[str] = []
    current, size, limit = "", 0, 75
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            parts.append(current)
            current, size, limit = "", 0, 74  # the leading space takes one octet
        current += ch
        size += n
    parts.append(current)
    return "\r\n ".join(parts)


# ---------------------------------------------------------------------------------------------- internals

Pair = tuple[int, int]


def _limits(problem: MeetingProblem) -> tuple[int, int, int]:
    """(meetings per project, per investor, in all)."""
    return problem.slots, min(problem.investor_cap, problem.slots), problem.slots * problem.tables


def _greedy_pairs(problem: MeetingProblem) -> list[Pair]:
    per_p, per_i, total = _limits(problem)
    allowed = problem.allowed
    n_p, n_i = allowed.shape
    flat = np.argsort(-problem.score, axis=None, kind="stable")
    order = [(p, i) for p, i in (divmod(int(k), n_i) for k in flat) if allowed[p, i]]  # best first
    got_p, got_i = np.zeros(n_p, dtype=int), np.zeros(n_i, dtype=int)
    chosen: list[Pair] = []
    taken: set[Pair] = set()
    want = min(problem.project_min, per_p)
    for rnd in range(want):  # round-robin: every project gets its best free pair before anyone's next
        for p in range(n_p):
            if len(chosen) >= total or got_p[p] > rnd:
                continue
            pair = next(((q, i) for q, i in order if q == p and got_i[i] < per_i and (q, i) not in taken), None)
            if pair is not None:
                chosen.append(pair)
                taken.add(pair)
                got_p[p] += 1
                got_i[pair[1]] += 1
    for p, i in order:
        if len(chosen) >= total:
            break
        if (p, i) not in taken and got_p[p] < per_p and got_i[i] < per_i:
            chosen.append((p, i))
            taken.add((p, i))
            got_p[p] += 1
            got_i[i] += 1
    return chosen


def _choose_pairs(problem: MeetingProblem, hint: list[Pair], deadline: float,
                  num_workers: int) -> tuple[list[Pair] | None, Any, float]:
    """Which pairs meet: least total shortfall below project_min, then the most total score."""
    per_p, per_i, total = _limits(problem)
    allowed = problem.allowed
    pairs = [(int(p), int(i)) for p, i in np.argwhere(allowed)]
    if not pairs or total == 0:
        return [], cp_model.OPTIMAL, 0.0
    hinted = set(hint)

    def model(fixed_shortfall: int | None) -> tuple[cp_model.CpModel, dict[Pair, Any], Any]:
        m = cp_model.CpModel()
        v = {k: m.new_bool_var(f"m{k[0]}_{k[1]}") for k in pairs}
        by_p: dict[int, list[Any]] = {}
        by_i: dict[int, list[Any]] = {}
        for (p, i), var in v.items():
            by_p.setdefault(p, []).append(var)
            by_i.setdefault(i, []).append(var)
            m.add_hint(var, (p, i) in hinted)
        m.add(sum(v.values()) <= total)
        shortfall = []
        for p in range(allowed.shape[0]):
            row = by_p.get(p, [])
            if len(row) > per_p:
                m.add(sum(row) <= per_p)
            if problem.project_min:
                short = m.new_int_var(0, problem.project_min, f"short{p}")
                m.add(sum(row) + short >= problem.project_min)
                shortfall.append(short)
        for col in by_i.values():
            if len(col) > per_i:
                m.add(sum(col) <= per_i)
        missing = sum(shortfall)
        if fixed_shortfall is None:
            m.minimize(missing)
        else:
            m.add(missing <= fixed_shortfall)
            m.maximize(cp_model.LinearExpr.weighted_sum(
                list(v.values()), [round(SCALE * float(problem.score[k])) for k in v]))
        return m, v, missing

    least, proven = 0, True
    if problem.project_min and _shortfall(problem, hint) > 0:
        m, _, _ = model(None)
        solver = new_solver(0.3 * (deadline - time.perf_counter()), num_workers)
        status = solver.solve(m)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, status, np.inf
        least, proven = round(solver.objective_value), status == cp_model.OPTIMAL
    m, v, _ = model(least)
    solver = new_solver(deadline - time.perf_counter(), num_workers)
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, status, np.inf
    chosen = [k for k, var in v.items() if solver.boolean_value(var)]
    if not proven:  # the shortfall might have been lower: the score is not proven best then
        status = cp_model.FEASIBLE
    return chosen, status, solver.best_objective_bound / SCALE


def _shortfall(problem: MeetingProblem, pairs: list[Pair]) -> int:
    got = np.bincount([p for p, _ in pairs], minlength=len(problem.project_ids))
    return int(np.maximum(0, problem.project_min - got).sum())


def _slot_pairs(problem: MeetingProblem, pairs: list[Pair], deadline: float,
                num_workers: int) -> list[tuple[int, Pair]] | None:
    """Give every chosen pair a slot (0-based): no project or investor twice in a slot, <= tables per slot."""
    if not pairs:
        return []
    m = cp_model.CpModel()
    slots = range(problem.slots)
    v = {(e, t): m.new_bool_var(f"s{e}_{t}") for e in range(len(pairs)) for t in slots}
    for e in range(len(pairs)):
        m.add_exactly_one(v[e, t] for t in slots)
    for t in slots:
        m.add(sum(v[e, t] for e in range(len(pairs))) <= problem.tables)
        for side in (0, 1):
            groups: dict[int, list[Any]] = {}
            for e, pair in enumerate(pairs):
                groups.setdefault(pair[side], []).append(v[e, t])
            for group in groups.values():
                if len(group) > 1:
                    m.add_at_most_one(group)
    # Break slot symmetry: the busiest project's meetings take the first slots in order.
    busiest = max({p for p, _ in pairs}, key=lambda p: sum(q == p for q, _ in pairs))
    for t, e in enumerate(e for e, (p, _) in enumerate(pairs) if p == busiest):
        m.add(v[e, t] == 1)
    solver = new_solver(max(1.0, deadline - time.perf_counter()), num_workers)
    if solver.solve(m) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [(next(t for t in slots if solver.boolean_value(v[e, t])), pair) for e, pair in enumerate(pairs)]


def _greedy_slots(problem: MeetingProblem, pairs: list[Pair]) -> list[tuple[int, Pair]]:
    """First slot where both sides are free and a table is left; pairs that fit nowhere are dropped."""
    busy: set[tuple[str, int, int]] = set()
    used = [0] * problem.slots
    out: list[tuple[int, Pair]] = []
    for p, i in sorted(pairs, key=lambda k: -problem.score[k]):
        for t in range(problem.slots):
            if used[t] < problem.tables and ("p", p, t) not in busy and ("i", i, t) not in busy:
                busy |= {("p", p, t), ("i", i, t)}
                used[t] += 1
                out.append((t, (p, i)))
                break
    return out


def _build(problem: MeetingProblem, slotted: list[tuple[int, Pair]], method: Literal["cp-sat", "greedy"],
           status: Literal["optimal", "feasible", "heuristic"], bound: float, started: float) -> Schedule:
    n_p = len(problem.project_ids)
    meetings: list[Meeting] = []
    for t in range(problem.slots):
        here = sorted((pair for s, pair in slotted if s == t), key=lambda k: k[0])
        for k, (p, i) in enumerate(here):
            table = p + 1 if n_p <= problem.tables else k + 1  # a project keeps its table when it can
            meetings.append(Meeting(t + 1, table, problem.project_ids[p], problem.investor_ids[i],
                                    float(problem.score[p, i])))
    objective = float(sum(m.score for m in meetings))
    if not np.isfinite(bound):
        bound = _simple_bound(problem)
    bound = objective if status == "optimal" else max(objective, bound)
    got = np.bincount([p for _, (p, _) in slotted], minlength=n_p)
    shortfalls = tuple(Shortfall(problem.project_ids[p], int(got[p]), problem.project_min)
                       for p in range(n_p) if got[p] < problem.project_min)
    return Schedule(tuple(meetings), objective, bound, (bound - objective) / bound if bound > 0 else 0.0,
                    method, status, shortfalls, time.perf_counter() - started)


def _simple_bound(problem: MeetingProblem) -> float:
    """Each project meets at most `slots` investors: the sum of its best allowed scores bounds its part."""
    per_p, _, total = _limits(problem)
    best = np.sort(np.where(problem.allowed, problem.score, 0.0), axis=1)[:, ::-1][:, :per_p]
    return float(min(best.sum(), np.sort(best, axis=None)[::-1][:total].sum()))
