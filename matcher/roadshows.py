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
from matcher.roster import (
    Label,
    Roster,
    RosterError,
    RosterInfeasible,
    RosterProblem,
    backfill,
    roster_size,
    solve_roster,
)
from matcher.schedule import MeetingProblem, schedule_meetings
from matcher.service import MatchService
from models.entities import KEPT, Investor, Project
from models.roadshows import (
    Invitation,
    Pick,
    Roadshow,
    RoadshowLogistics,
    RosterResult,
    ScheduledMeeting,
    meetings_past_midnight,
)
from models.taxonomy import SECTORS, STAGES, city_key

CANDIDATE_FACTOR = 4  # candidates kept per slot/seat by theme relevance before pair scoring




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

    def left(self, rs: Roadshow) -> list[str]:
        """Roster members and scheduled participants, invited or still to be, who are no longer eligible (a
        project withdrawn or funded, an investor withdrawn or no longer verified): a schedule rebuild drops their
        meetings, and the next backfill (a decline, an expiry) gives their seats to others."""
        on = [*(rs.roster.project_ids if rs.roster else []), *(m.project_id for m in rs.schedule),
              *(rs.roster.investor_ids if rs.roster else []), *(m.investor_id for m in rs.schedule)]
        return [c for c in dict.fromkeys(on) if _holds_seat(rs, c) and not self._eligible(c)]

    def empty_seats(self, rs: Roadshow) -> tuple[int, int] | None:
        """(project seats, investor seats) of the roster that no eligible member holds: too few candidates when it
        was solved or backfilled, declines and expiries no backfill could replace, the seats of `left`; None
        before a roster is proposed."""
        if rs.roster is None:
            return None
        held = [sum(1 for c in ids if _holds_seat(rs, c) and self._eligible(c))
                for ids in (rs.roster.project_ids, rs.roster.investor_ids)]
        return max(0, rs.n_projects - held[0]), max(0, rs.m_investors - held[1])

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
        unexclude = list(unexclude)
        if not (pin or exclude or unpin or unexclude):  # as a body that fails validation: before any lookup
            raise InvalidRequest("pin, unpin, exclude or unexclude must name at least one candidate; to solve the "
                                 "roster again without a change, propose it (POST /v1/roadshows/{id}/roster)")
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
            # the new when and where checked as new, the rest as stored (KEPT: a theme accepted before a check was
            # added must not stop a move), and the meetings within the day afresh, since the times change
            fresh = RoadshowLogistics.model_validate({"title": rs.title, "date": rs.date, **logistics}).model_dump(
                include=set(logistics))  # (the API always sends title and date; other callers may leave them out)
            moved = Roadshow.model_validate({**rs.model_dump(), **fresh}, context=KEPT)
            past = meetings_past_midnight(moved)
            if past:
                raise InvalidRequest(past)
            return self._publish("RoadshowMoved", roadshow_id, moved, who, expected_version)

    def cancel(self, who: Principal, roadshow_id: str) -> Acknowledged:
        """Call the roadshow off. It stays readable, so invitees see it and their calendar files cancel the
        meetings; nothing can change it afterwards."""
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            return self._publish("RoadshowCancelled", roadshow_id, rs.model_copy(update={"status": "cancelled"}), who)

    def build_schedule(self, who: Principal, roadshow_id: str) -> Acknowledged:
        """Meet the accepted invitees who still hold their seats and are still eligible. Those who left since (a
        project withdrawn, an investor no longer verified) lose their meetings, as after a decline: the meetings
        join `dropped_meetings`, so calendars cancel them; with nobody left on one side the schedule empties."""
        with self._writing(roadshow_id):
            rs = self._own(who, roadshow_id)
            # on the roster too: a member who left was replaced at a backfill, and comes back (reopened) without a seat
            seated = set(rs.roster.project_ids) | set(rs.roster.investor_ids) if rs.roster else set()
            accepted = [i for i in rs.invitations if i.status == "accepted" and i.invitee_id in seated]
            with self.view.lock:
                projects = [i.invitee_id for i in accepted if i.kind == "project" and self._open_project(i.invitee_id)]
                investors = [i.invitee_id for i in accepted if i.kind == "investor"
                             and self.view.investor_in_market(i.invitee_id)]
                if projects and investors:
                    score, conflicts = self._pair_scores(projects, investors)
            if projects and investors:
                problem = MeetingProblem(project_ids=projects, investor_ids=investors, score=score, slots=rs.slots,
                                         tables=rs.tables, investor_cap=rs.investor_meeting_cap,
                                         project_min=rs.project_min_meetings, conflicts=conflicts)
                with self._solving():
                    schedule = schedule_meetings(problem, time_limit=min(5.0, self.solver_seconds))
                meetings = [ScheduledMeeting(slot=m.slot, table=m.table, project_id=m.project_id,
                                             investor_id=m.investor_id, score=round(m.score, 4))
                            for m in schedule.meetings]
                shortfalls = {s.project_id: s.required - s.meetings for s in schedule.shortfalls}
            elif rs.schedule:  # everyone on one side left since the last build: nobody meets anyone now
                meetings = []
                shortfalls = {p: rs.project_min_meetings for p in projects if rs.project_min_meetings}
            else:
                left = ", ".join(i.invitee_id for i in accepted if not self._eligible(i.invitee_id))
                why = left and f"{left} left since accepting (withdrawn, funded or no longer verified)"
                raise Conflict("the schedule needs at least one accepted project and one accepted investor that "
                               "are still open and verified" + _also(why))
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
                raise InvalidRequest(self._no_candidates("projects" if not projects else "investors", rs))
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

    def _eligible(self, candidate_id: str) -> bool:
        """An open project or a verified, active investor: who may hold a seat and meet."""
        return self._open_project(candidate_id) or self.view.investor_in_market(candidate_id)

    def _relevant(self, side: str, rs: Roadshow, keep: set[str]) -> list[tuple[str, float]]:
        """Candidates of one side with their relevance to the theme in [0, 1], best first, at most
        CANDIDATE_FACTOR per slot, plus those of `keep` (pins, the current roster) that are still open or verified,
        whatever their sectors and city: an organizer pins outside the theme on purpose."""
        pool: dict[str, Project | Investor]
        if side == "projects":
            pool = {pid: v.value for pid, v in self.view.projects.items() if v.value.status == "open"
                    and (pid in keep or _on_theme(rs, v.value.sectors) and _in_city(rs, v.value.city))}
            index, need = self.view.project_text, rs.n_projects
        else:
            pool = {iid: v.value for iid, v in self.view.investors.items() if v.value.in_market
                    and (iid in keep or _on_theme(rs, v.value.sectors))}
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

    def _funnel(self, side: str, rs: Roadshow) -> list[tuple[str, str, int]]:
        """How the roadshow's filters narrow one side's candidates (as `_relevant`, before pins and exclusions):
        (field, its words, how many are left) for the eligible ones ("" field), then per filter the roadshow sets.
        Call under the view's lock."""
        pool: list[tuple[list[str], str]]  # (sectors, city) of each eligible candidate
        if side == "projects":
            pool = [(v.value.sectors, v.value.city) for v in self.view.projects.values() if v.value.status == "open"]
            steps = [("", "open projects", len(pool))]
        else:
            pool = [(v.value.sectors, "") for v in self.view.investors.values() if v.value.in_market]
            steps = [("", "verified, active investors", len(pool))]
        if rs.sectors:
            pool = [(sectors, city) for sectors, city in pool if _on_theme(rs, sectors)]
            steps.append(("sectors", f"the sectors {', '.join(rs.sectors)}", len(pool)))
        if side == "projects" and rs.city:
            pool = [(sectors, city) for sectors, city in pool if _in_city(rs, city)]
            steps.append(("city", f"the city {rs.city}", len(pool)))
        return steps

    def _no_candidates(self, side: str, rs: Roadshow) -> str:
        """Why one side has no candidate at all, naming the filter that left none. Call under the view's lock."""
        (_, many, total), *filters = self._funnel(side, rs)
        one = "open project" if side == "projects" else "verified, active investor"
        if total == 0:
            return f"a roster needs at least one {one}, and there is none yet"
        before, where = total, ""
        for field, _, left in filters:
            if left == 0:
                value = ", ".join(rs.sectors) if field == "sectors" else rs.city
                verb = "invests in" if side == "investors" and field == "sectors" else "is in"
                anywhere = " (a roadshow without a city takes projects from anywhere)" if field == "city" else ""
                return (f"{field} must match at least one {one}{where}; none of the {before} {many}{where} {verb} "
                        f"{value}{anywhere}")
            before, where = left, f" in the sectors {', '.join(rs.sectors)}"
        return f"no {one} is a candidate for this roadshow"  # not reached: with candidates left, pins are none

    def _shortfall(self, rs: Roadshow, problem: RosterProblem, constraint: str) -> str:
        """What cut the candidate pool below the seats, side by side, and how many candidates the fit threshold
        leaves enough fits (for min_fits): words to add to a refusal, or ""."""
        notes = []
        sizes = roster_size(problem)
        with self.view.lock:
            for side, noun, seats, field, have, ids, excluded in (
                    ("projects", "project", rs.n_projects, "n_projects", sizes[0], problem.project_ids,
                     problem.excluded_projects),
                    ("investors", "investor", rs.m_investors, "m_investors", sizes[1], problem.investor_ids,
                     problem.excluded_investors)):
                if have >= seats:
                    continue
                (_, many, total), *filters = self._funnel(side, rs)
                cuts = [f"{words} leaves {left}" for _, words, left in filters]
                outside = len(ids) - (filters[-1][2] if filters else total)  # all are candidates: the pool is short
                if outside > 0:
                    cuts.append(f"pins and roster members outside the filters add {outside}")
                if excluded:
                    cuts.append(f"exclusions take {len(excluded)}")
                if side == "investors" and have < len(ids) - len(excluded):
                    cuts.append(f"one seat per organisation leaves {have}")
                notes.append(f"only {have} {noun}{'' if have == 1 else 's'} can take the {seats} {noun} seats "
                             f"({field}): of {total} {many}" + "".join(f", {c}" for c in cuts))
        if constraint == "min_fits" and problem.min_fits > 0:
            r = problem.min_fits
            ok_p = [k for k, c in enumerate(problem.project_ids) if c not in problem.excluded_projects]
            ok_i = [k for k, c in enumerate(problem.investor_ids) if c not in problem.excluded_investors]
            fits = problem.fits[np.ix_(ok_p, ok_i)]  # [candidate projects, candidate investors]
            notes.append(f"with fit_threshold {problem.fit_threshold:g}, {int((fits.sum(axis=1) >= r).sum())} of "
                         f"the {len(ok_p)} candidate projects and {int((fits.sum(axis=0) >= r).sum())} of the "
                         f"{len(ok_i)} candidate investors have at least {r} "
                         + ("counterpart that fits" if r == 1 else "counterparts that fit"))
        return "; ".join(notes)

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
            raise InvalidRequest(f"{field} cannot be met: no roster meets the constraints ({why})"
                                 + _also(self._shortfall(rs, problem, exc.constraint))) from None
        except RosterError as exc:  # nothing found within the time limit: no one constraint to blame
            raise InvalidRequest(f"n_projects, m_investors, min_fits, fit_threshold or sector_quota must be loosened: "
                                 f"{exc}" + _also(self._shortfall(rs, problem, "min_fits"))) from None
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        return Roadshow.model_validate({**rs.model_dump(), "roster": _roster_result(roster).model_dump(),
                                        "status": "proposed"}, context=KEPT)

    def _backfill(self, rs: Roadshow) -> Roadshow:
        """Replace declined and expired invitees, and roster members no longer eligible, with the best remaining
        candidates; invite the newcomers. Everyone gone leaves the schedule too, so the organizer sees the gap
        and can rebuild it. A seat nobody can take stays empty (`empty_seats` counts it)."""
        stored = rs.roster
        if stored is None:
            return rs
        gone = {i.invitee_id for i in rs.invitations if i.status in ("declined", "expired")}
        accepted = {i.invitee_id for i in rs.invitations if i.status == "accepted"}
        # a roster member who is no longer eligible (withdrawn, unverified) leaves like a decline
        left_projects = [p for p in stored.project_ids if not self._open_project(p)]
        left_investors = [i for i in stored.investor_ids if not self.view.investor_in_market(i)]
        gone |= {*left_projects, *left_investors}
        rs = _rescheduled(rs, [m for m in rs.schedule if m.project_id not in gone and m.investor_id not in gone])
        try:
            problem = self.problem(rs.model_copy(update={"pinned": [c for c in rs.pinned if c not in gone]}))
        except InvalidRequest:  # no candidate at all on one side (the city moved, say): the answer still counts
            return rs
        roster = _as_roster(stored, set(problem.project_ids) | set(problem.investor_ids))
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


def _on_theme(rs: Roadshow, sectors: list[str]) -> bool:
    return not rs.sectors or bool(set(rs.sectors) & set(sectors))


def _in_city(rs: Roadshow, city: str) -> bool:
    # a hard filter on projects only: they pitch in the roadshow's city, and investors travel to it
    return not rs.city or city_key(city) == city_key(rs.city)


def _also(note: str) -> str:
    return f"; {note}" if note else ""


def _holds_seat(rs: Roadshow, candidate_id: str) -> bool:
    """Not yet invited, or invited and not declined or expired."""
    invitation = rs.invitation(candidate_id)
    return invitation is None or invitation.status in ("pending", "accepted")


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
