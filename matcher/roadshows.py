"""Roadshow workflow: create, propose a roster, adjust, invite, answer (with backfill), expire, schedule.

Adapts the read model to the pure optimisers in `matcher.roster` and `matcher.schedule`, and publishes each
step as one event carrying the whole roadshow.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from matcher.commands import Acknowledged, CommandService, Principal, new_id
from matcher.errors import Conflict, InvalidRequest, NotAllowed, NotFound, SolverBusy
from matcher.roster import Label, Roster, RosterError, RosterInfeasible, RosterProblem, backfill, solve_roster
from matcher.schedule import MeetingProblem, schedule_meetings
from matcher.service import MatchService
from models.entities import Investor, Project
from models.roadshows import Invitation, Pick, Roadshow, RosterResult, ScheduledMeeting
from models.taxonomy import SECTORS, STAGES, city_key

CANDIDATE_FACTOR = 4  # candidates kept per slot/seat by theme relevance before pair scoring


# Re-validating a stored roadshow with a new roster or new pins: the fields it already had were accepted when they were
# written, and checks added since (an offset in start_time, meetings past midnight) must not refuse a change that
# does not touch them, as they do not refuse its replay (`models.entities.from_log`). A move checks them afresh.
KEPT = {"from_log": True}


class RoadshowService:
    def __init__(self, commands: CommandService, matches: MatchService, solver_seconds: float = 8.0,
                 solver_slots: int = 1) -> None:
        self.commands = commands
        self.matches = matches
        self.view = commands.view
        self.solver_seconds = solver_seconds
        # CP-SAT already uses every core (two workers on the two-core reference machine), so solves take turns:
        # with four 2,000 x 500 solves at once, a probe standing in for other requests took 19.9 ms (p50)
        # against 5.6 ms beside one solve and 1.5 ms idle, and the solves' gaps grew a little (0.081 -> 0.087).
        self._solver_slots = threading.BoundedSemaphore(solver_slots)

    # ---- reads ------------------------------------------------------------------------------------
    def _stored(self, roadshow_id: str) -> Roadshow:
        found = self.view.roadshows.get(roadshow_id)
        if found is None:
            raise NotFound("roadshow", roadshow_id)
        return found.value

    def get(self, who: Principal, roadshow_id: str) -> Roadshow:
        rs = self._stored(roadshow_id)
        if self.organizes(who, rs):
            return rs
        if who.role in ("investor", "founder") and self.invited_as(who, rs):
            return rs
        raise NotAllowed(f"roadshow {roadshow_id!r} belongs to another organizer")

    def version(self, roadshow_id: str) -> int:
        return self.view.roadshows[roadshow_id].version

    def list_own(self, who: Principal) -> list[tuple[str, Roadshow]]:
        with self.view.lock:
            items = list(self.view.roadshows.items())
        return [(rid, v.value) for rid, v in items
                if self.organizes(who, v.value)
                or (who.role in ("investor", "founder") and self.invited_as(who, v.value))]

    @staticmethod
    def organizes(who: Principal, rs: Roadshow) -> bool:
        """The roadshow's organizer, or an admin: who sees and changes all of it."""
        return who.role == "admin" or (who.role == "organizer" and rs.organizer_id == who.entity_id)

    def invited_as(self, who: Principal, rs: Roadshow) -> list[Invitation]:
        """The invitations of `rs` that `who` answers: its own as an investor, its projects' as a founder."""
        out = []
        for inv in rs.invitations:
            if inv.kind == "investor" and who.role == "investor" and inv.invitee_id == who.entity_id:
                out.append(inv)
            if inv.kind == "project" and who.role == "founder":
                p = self.view.projects.get(inv.invitee_id)
                if p is not None and p.value.owner == who.entity_id:
                    out.append(inv)
        return out

    def _own(self, who: Principal, roadshow_id: str) -> Roadshow:
        rs = self.get(who, roadshow_id)
        if not self.organizes(who, rs):
            raise NotAllowed("only the roadshow's organizer changes it")
        return _not_cancelled(rs, roadshow_id)

    @contextmanager
    def _solving(self) -> Iterator[None]:
        """Hold a solver slot; wait for one for up to two solves' time limits, then `SolverBusy` (503)."""
        if not self._solver_slots.acquire(timeout=2 * self.solver_seconds):
            raise SolverBusy("the roster solver is busy with other roadshows; retry in a moment")
        try:
            yield
        finally:
            self._solver_slots.release()

    def _writing(self, roadshow_id: str) -> AbstractContextManager[None]:
        return self.commands.writing(self.view.roadshows, roadshow_id)

    def _publish(self, kind: str, roadshow_id: str, rs: Roadshow, who: Principal,
                 expected_version: int | None = None) -> Acknowledged:
        return self.commands.publish(kind, roadshow_id, rs, who.actor, self.view.roadshows, expected_version)

    # ---- commands ---------------------------------------------------------------------------------
    def create(self, who: Principal, fields: dict[str, Any]) -> Acknowledged:
        if who.role != "organizer" or who.entity_id is None:
            raise NotAllowed("only organizers create roadshows")
        rs = Roadshow.model_validate({**fields, "organizer_id": who.entity_id, "roster": None, "invitations": [],
                                      "schedule": [], "status": "draft"})
        return self._publish("RoadshowCreated", new_id("r"), rs, who)

    def adjust(self, who: Principal, roadshow_id: str, pin: list[str], exclude: list[str],
               unpin: list[str], unexclude: Iterable[str] = ()) -> Acknowledged:
        """Pin or exclude candidates, or release them (unpin, unexclude), then re-solve the roster (before
        invitations go out)."""
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            if rs.invitations:
                raise Conflict("invitations were sent; declines are backfilled automatically instead")
            for first, second, a, b in (("pin", "exclude", pin, exclude), ("pin", "unpin", pin, unpin),
                                        ("exclude", "unexclude", exclude, unexclude)):
                if both := sorted(set(a) & set(b)):
                    raise InvalidRequest(f"{first} must not name what {second} names: {both}")
            for candidate in pin:  # a pin the solver cannot seat would stay listed and never take effect
                if not (self._open_project(candidate) or self.view.investor_in_market(candidate)):
                    raise InvalidRequest(f"pin must name open projects and verified, active investors; "
                                         f"{candidate!r} is neither")
            for candidate in exclude:
                if candidate not in self.view.projects and candidate not in self.view.investors:
                    raise InvalidRequest(f"exclude must name projects and investors; {candidate!r} is neither")
            dropped, kept = set(unpin) | set(exclude), set(pin) | set(unexclude)
            pinned = [c for c in dict.fromkeys([*rs.pinned, *pin]) if c not in dropped]
            excluded = [c for c in dict.fromkeys([*rs.excluded, *exclude]) if c not in kept]
            rs = Roadshow.model_validate({**rs.model_dump(), "pinned": pinned, "excluded": excluded}, context=KEPT)
            return self._publish("RoadshowAdjusted", roadshow_id, self._with_roster(rs), who)

    def propose(self, who: Principal, roadshow_id: str) -> Acknowledged:
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            if rs.invitations:
                raise Conflict("invitations were sent; the roster now changes only by backfill")
            return self._publish("RosterProposed", roadshow_id, self._with_roster(rs), who)

    def send_invitations(self, who: Principal, roadshow_id: str) -> Acknowledged:
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            if rs.roster is None:
                raise Conflict("propose a roster before sending invitations")
            now = datetime.now(UTC)
            invited = {i.invitee_id for i in rs.invitations}
            new = [Invitation(kind="project", invitee_id=p, sent_at=now) for p in rs.roster.project_ids
                   if p not in invited]
            new += [Invitation(kind="investor", invitee_id=i, sent_at=now) for i in rs.roster.investor_ids
                    if i not in invited]
            if not new:
                raise Conflict("everyone on the roster has been invited already")
            rs = rs.model_copy(update={"invitations": [*rs.invitations, *new], "status": "inviting"})
            return self._publish("InvitationsSent", roadshow_id, rs, who)

    def answer(self, who: Principal, roadshow_id: str, invitee_id: str, accept: bool) -> Acknowledged:
        """An invitee accepts or declines; a decline backfills the seat in the same event. An accepted invitation
        can still be declined (plans change): the seat is backfilled and the invitee's meetings leave the
        schedule, so the organizer sees the gap and can rebuild it."""
        with self._writing(roadshow_id):
            rs = self._stored(roadshow_id)
            invitation = next((i for i in self.invited_as(who, rs) if i.invitee_id == invitee_id), None)
            if invitation is None:
                raise NotAllowed(f"{invitee_id!r} has no invitation to this roadshow that you may answer")
            _not_cancelled(rs, roadshow_id)
            if invitation.status not in ("pending", "accepted") or (accept and invitation.status == "accepted"):
                raise Conflict(f"the invitation of {invitee_id!r} is already {invitation.status}")
            rs = _set_status(rs, {invitee_id}, "accepted" if accept else "declined")
            if not accept:
                rs = self._backfill(rs)
            return self._publish("InvitationAccepted" if accept else "InvitationDeclined", roadshow_id, rs, who)

    def expire(self, who: Principal, roadshow_id: str, older_than: timedelta,
               now: datetime | None = None) -> Acknowledged:
        """Expire invitations pending for longer than `older_than`, and backfill their seats."""
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            now = now or datetime.now(UTC)
            stale = {i.invitee_id for i in rs.invitations if i.status == "pending" and now - i.sent_at >= older_than}
            if not stale:
                raise Conflict("no pending invitation is old enough to expire")
            rs = self._backfill(_set_status(rs, stale, "expired"))
            return self._publish("InvitationsExpired", roadshow_id, rs, who)

    def move(self, who: Principal, roadshow_id: str, logistics: dict[str, Any], expected_version: int) -> Acknowledged:
        """Change when and where (title, city, date, start time, slot length) at any stage before it is called
        off; invitees' calendar files then carry the new times under the same entries."""
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            moved = Roadshow.model_validate({**rs.model_dump(), **logistics})
            return self._publish("RoadshowMoved", roadshow_id, moved, who, expected_version)

    def cancel(self, who: Principal, roadshow_id: str) -> Acknowledged:
        """Call the roadshow off. It stays readable, so invitees see it and their calendar files cancel the
        meetings; nothing can change it afterwards."""
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            return self._publish("RoadshowCancelled", roadshow_id, rs.model_copy(update={"status": "cancelled"}), who)

    def build_schedule(self, who: Principal, roadshow_id: str) -> Acknowledged:
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            with self.view.lock:
                # who accepted and is still eligible: a project withdrawn or an investor suspended since meets no one
                projects = [i.invitee_id for i in rs.invitations if i.kind == "project" and i.status == "accepted"
                            and self._open_project(i.invitee_id)]
                investors = [i.invitee_id for i in rs.invitations if i.kind == "investor" and i.status == "accepted"
                             and self.view.investor_in_market(i.invitee_id)]
                if not projects or not investors:
                    raise Conflict("the schedule needs at least one accepted project and one accepted investor "
                                   "that are still open and verified")
                score, conflicts = self._pair_scores(projects, investors)
            problem = MeetingProblem(project_ids=projects, investor_ids=investors, score=score, slots=rs.slots,
                                     tables=rs.tables, investor_cap=rs.investor_meeting_cap,
                                     project_min=rs.project_min_meetings, conflicts=conflicts)
            with self._solving():
                schedule = schedule_meetings(problem, time_limit=min(5.0, self.solver_seconds))
            meetings = [ScheduledMeeting(slot=m.slot, table=m.table, project_id=m.project_id, investor_id=m.investor_id,
                                         score=round(m.score, 4)) for m in schedule.meetings]
            shortfalls = {s.project_id: s.required - s.meetings for s in schedule.shortfalls}
            rs = _rescheduled(rs, meetings).model_copy(update={"schedule_shortfalls": shortfalls,
                                                               "status": "scheduled"})
            return self._publish("ScheduleBuilt", roadshow_id, rs, who)

    # ---- optimisation -----------------------------------------------------------------------------
    def problem(self, rs: Roadshow) -> RosterProblem:
        """The roster problem of a roadshow: theme-relevant open projects and verified investors, their
        pairwise match scores, conflicts from feedback, one seat per organisation. Pinned candidates and
        the current roster are always among the candidates while they are eligible."""
        keep = set(rs.pinned) | (set(rs.roster.project_ids) | set(rs.roster.investor_ids) if rs.roster else set())
        with self.view.lock:
            projects = self._relevant("projects", rs, keep)
            investors = self._relevant("investors", rs, keep)
            if not projects or not investors:
                raise InvalidRequest("sectors and city must match at least one open project and one verified "
                                     "investor; this roadshow's match none on one side")
            p_ids, p_rel = zip(*projects, strict=True)
            i_ids, i_rel = zip(*investors, strict=True)
            score, conflicts = self._pair_scores(list(p_ids), list(i_ids))
            p_vals = [self.view.projects[p].value for p in p_ids]
            i_vals = [self.view.investors[i].value for i in i_ids]
        return RosterProblem(
            project_ids=p_ids, investor_ids=i_ids, score=score,
            project_relevance=np.asarray(p_rel), investor_relevance=np.asarray(i_rel),
            project_sectors=[set(p.sectors) for p in p_vals],
            investor_org=[i.organization or iid for iid, i in zip(i_ids, i_vals, strict=True)],
            n_projects=rs.n_projects, m_investors=rs.m_investors, conflicts=conflicts,
            sector_quota=rs.sector_quota, fit_threshold=rs.fit_threshold, min_fits=rs.min_fits,
            pinned_projects={c for c in rs.pinned if c in p_ids}, pinned_investors={c for c in rs.pinned if c in i_ids},
            excluded_projects={c for c in rs.excluded if c in p_ids},
            excluded_investors={c for c in rs.excluded if c in i_ids},
            relevance_weight=0.5,
            project_labels={pid: _project_label(p) for pid, p in zip(p_ids, p_vals, strict=True)},
            investor_labels={iid: _investor_label(i) for iid, i in zip(i_ids, i_vals, strict=True)},
            sector_names=SECTORS,
        )

    def _open_project(self, project_id: str) -> bool:
        found = self.view.projects.get(project_id)
        return found is not None and found.value.status == "open"

    def _relevant(self, side: str, rs: Roadshow, keep: set[str]) -> list[tuple[str, float]]:
        """Candidates of one side with their relevance to the theme in [0, 1], best first, at most
        CANDIDATE_FACTOR per slot, plus those of `keep` (pins, the current roster) that are still open or verified,
        whatever their sectors and city: an organizer pins outside the theme on purpose."""
        def on_theme(sectors: list[str]) -> bool:
            return not rs.sectors or bool(set(rs.sectors) & set(sectors))

        pool: dict[str, Project | Investor]
        if side == "projects":
            pool = {pid: v.value for pid, v in self.view.projects.items() if v.value.status == "open"
                    and (pid in keep or on_theme(v.value.sectors)
                         and (not rs.city or city_key(v.value.city) == city_key(rs.city)))}
            index, need = self.view.project_text, rs.n_projects
        else:
            pool = {iid: v.value for iid, v in self.view.investors.items() if v.value.in_market
                    and (iid in keep or on_theme(v.value.sectors))}
            index, need = self.view.investor_text, rs.m_investors
        ids = list(pool)
        if not ids:
            return []
        sparse = index.similarity(index.query_vector(rs.theme + " " + " ".join(
            f"{SECTORS[s][0]} {SECTORS[s][1]}" for s in rs.sectors)), ids)
        sector = np.array([len(set(rs.sectors) & set(e.sectors)) / max(1, len(rs.sectors)) for e in pool.values()])
        relevance = np.clip(0.5 * sector + 0.5 * np.minimum(1.0, 2 * sparse), 0, 1)  # [n]
        order = np.argsort(-relevance, kind="stable")
        kept = [ids[j] for j in order[: CANDIDATE_FACTOR * need]]
        kept += [c for c in keep if c in pool and c not in kept]
        rel = dict(zip(ids, relevance.tolist(), strict=True))
        return [(c, rel[c]) for c in kept]

    def _pair_scores(self, project_ids: list[str], investor_ids: list[str]) -> tuple[np.ndarray, set]:
        """score [P, I] from the matching engine's ranker, clipped to [0, 1]; conflicts from feedback."""
        score = np.zeros((len(project_ids), len(investor_ids)))
        for j, iid in enumerate(investor_ids):
            for m in self.matches.score_pairs(iid, project_ids):
                score[project_ids.index(m.entity_id), j] = max(0.0, min(1.0, m.score))
        conflicts = {(a, b) for a, pid in enumerate(project_ids) for b, iid in enumerate(investor_ids)
                     if self.view.feedback.excluded(iid, pid)}
        return score, conflicts

    def _with_roster(self, rs: Roadshow) -> Roadshow:
        try:
            problem = self.problem(rs)
            with self._solving():
                roster = solve_roster(problem, time_limit=self.solver_seconds)
        except RosterInfeasible as exc:  # the constraint that cannot be met, as the roadshow's field that sets it
            # pins: pinned and excluded at once, more pins than seats; organisation: pinned investors share one
            field = {"pins": "pin", "organisation": "pin"}.get(exc.constraint, exc.constraint)
            why = str(exc).removeprefix(f"{exc.constraint}: ")
            raise InvalidRequest(f"{field} cannot be met: no roster meets the constraints ({why})") from None
        except RosterError as exc:  # nothing found within the time limit: no one constraint to blame
            raise InvalidRequest(f"n_projects, m_investors, min_fits, fit_threshold or sector_quota must be loosened: "
                                 f"{exc}") from None
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        return Roadshow.model_validate({**rs.model_dump(), "roster": _roster_result(roster).model_dump(),
                                        "status": "proposed"}, context=KEPT)

    def _backfill(self, rs: Roadshow) -> Roadshow:
        """Replace declined and expired invitees, and roster members no longer eligible, with the best remaining
        candidates; invite the newcomers. Everyone gone leaves the schedule too, so the organizer sees the gap
        and can rebuild it."""
        if rs.roster is None:
            return rs
        gone = {i.invitee_id for i in rs.invitations if i.status in ("declined", "expired")}
        accepted = {i.invitee_id for i in rs.invitations if i.status == "accepted"}
        problem = self.problem(rs.model_copy(update={"pinned": [c for c in rs.pinned if c not in gone]}))
        # a roster member who is no longer eligible (withdrawn, unverified) leaves like a decline
        candidates = set(problem.project_ids) | set(problem.investor_ids)
        roster = _as_roster(rs.roster, candidates)
        left_projects = [p for p in rs.roster.project_ids if p not in candidates]
        left_investors = [i for i in rs.roster.investor_ids if i not in candidates]
        gone |= {*left_projects, *left_investors}
        rs = _rescheduled(rs, [m for m in rs.schedule if m.project_id not in gone and m.investor_id not in gone])
        try:
            with self._solving():
                new, replacements = backfill(
                    problem, roster,
                    declined_project_ids=gone & set(problem.project_ids),
                    declined_investor_ids=gone & set(problem.investor_ids),
                    accepted_project_ids=accepted & set(roster.project_ids),
                    accepted_investor_ids=accepted & set(roster.investor_ids),
                    left_project_ids=left_projects, left_investor_ids=left_investors,
                    time_limit=self.solver_seconds)
        except (RosterError, ValueError):
            return rs  # nobody left who keeps every constraint: the seat stays empty
        now = datetime.now(UTC)
        invited = {i.invitee_id for i in rs.invitations}
        fresh = [Invitation(kind=r.kind, invitee_id=r.by_id, sent_at=now, replaces=r.replaced_id)
                 for r in replacements if r.by_id is not None and r.by_id not in invited]
        return rs.model_copy(update={"roster": _roster_result(new), "invitations": [*rs.invitations, *fresh]})


def _not_cancelled(rs: Roadshow, roadshow_id: str) -> Roadshow:
    if rs.status == "cancelled":
        raise Conflict(f"roadshow {roadshow_id!r} is cancelled")
    return rs


def _set_status(rs: Roadshow, invitee_ids: set[str], status: str) -> Roadshow:
    now = datetime.now(UTC)
    invitations = [i.model_copy(update={"status": status, "answered_at": now}) if i.invitee_id in invitee_ids else i
                   for i in rs.invitations]
    return rs.model_copy(update={"invitations": invitations})


def _roster_result(roster: Roster) -> RosterResult:
    """The optimiser's roster as stored on the roadshow."""
    return RosterResult(
        project_ids=list(roster.project_ids), investor_ids=list(roster.investor_ids),
        objective=round(roster.objective, 4), bound=round(roster.bound, 4), gap=round(roster.gap, 4),
        method=roster.method, status=roster.status, seconds=round(roster.seconds, 3),
        picks=[Pick(kind=r.kind, id=r.id, fits=r.fits, en=r.en, zh=r.zh) for r in roster.reasons])


def _as_roster(result: RosterResult, candidates: set[str]) -> Roster:
    """The stored roster as the optimiser's type, without members who are no longer candidates."""
    return Roster(project_ids=tuple(p for p in result.project_ids if p in candidates),
                  investor_ids=tuple(i for i in result.investor_ids if i in candidates),
                  objective=result.objective, bound=result.bound, gap=result.gap,
                  method=result.method, status=result.status)  # type: ignore[arg-type]


def _project_label(p: Project) -> Label:
    return Label(name=p.name, stage=STAGES[p.stage], ask=f"¥{p.amount_sought_cny:,}")


def _investor_label(i: Investor) -> Label:
    return Label(name=i.name, sectors=frozenset(i.sectors))


def _rescheduled(rs: Roadshow, meetings: list[ScheduledMeeting]) -> Roadshow:
    """`rs` with `meetings` as its schedule. The pairs that leave it join `dropped_meetings` (as they were last
    scheduled), and a dropped pair that is scheduled again leaves that list."""
    kept = {(m.project_id, m.investor_id) for m in meetings}
    last = {(m.project_id, m.investor_id): m for m in [*rs.dropped_meetings, *rs.schedule]}
    return rs.model_copy(update={"schedule": meetings,
                                 "dropped_meetings": [m for pair, m in last.items() if pair not in kept]})
