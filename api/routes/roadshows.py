"""Roadshows: organizers build rosters, invite, and schedule; invitees answer their own invitations."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from api.deps import ServicesDep, Who
from api.routes import READ, WRITE
from matcher.commands import Principal
from matcher.errors import NotAllowed, NotFound
from matcher.roadshows import RoadshowService
from matcher.schedule import Meeting, to_csv, to_ical
from models.api import (
    Accepted,
    MeetingPublic,
    RoadshowAdjust,
    RoadshowCreate,
    RoadshowExpire,
    RoadshowList,
    RoadshowMove,
    RoadshowPublic,
    RoadshowSeats,
    RoadshowView,
)
from models.entities import ENTITY_ID_PATTERN, KEPT
from models.roadshows import Invitation, Roadshow, ScheduledMeeting

router = APIRouter(prefix="/v1/roadshows", tags=["roadshows"])
RoadshowId = Annotated[str, Path(min_length=1, max_length=64)]
InviteeId = Annotated[str, Path(min_length=1, max_length=64)]


def _names(svc: ServicesDep, rs: Roadshow | RoadshowPublic) -> dict[str, str]:
    ids = {i.invitee_id for i in rs.invitations}
    if isinstance(rs, Roadshow):
        ids |= set(rs.pinned) | set(rs.excluded)
        if rs.roster is not None:
            ids |= set(rs.roster.project_ids) | set(rs.roster.investor_ids)
    ids |= {m.project_id for m in rs.schedule} | {m.investor_id for m in rs.schedule}
    names = {}
    for eid in ids:
        project, investor = svc.view.projects.get(eid), svc.view.investors.get(eid)
        # an investor's name only once verified, as GET /v1/investors/{id} (an organizer may pin or exclude any id)
        if project is not None:
            names[eid] = project.value.name
        elif investor is not None and investor.value.verification == "verified":
            names[eid] = investor.value.name
        else:
            names[eid] = eid
    return names


def _pair_scores(svc: ServicesDep, rs: Roadshow) -> dict[str, dict[str, float]]:
    """investor id -> project id -> score over the roster (the organizer's match matrix)."""
    if rs.roster is None:
        return {}
    scores: dict[str, dict[str, float]] = {}
    for investor_id in rs.roster.investor_ids:
        try:
            found = svc.matches.score_pairs(investor_id, list(rs.roster.project_ids))
        except NotFound:  # an investor that left the registry after the roster was solved
            continue
        scores[investor_id] = {m.entity_id: round(float(m.score), 4) for m in found}
    return scores


def _public(rs: Roadshow, own: list[Invitation]) -> RoadshowPublic:
    """An invitee's part of the roadshow: its own invitations, without `replaces` (it says who declined),
    and its own meetings, without scores."""
    mine = {i.invitee_id for i in own}
    return RoadshowPublic(
        title=rs.title, theme=rs.theme, sectors=rs.sectors, city=rs.city, date=rs.date, start_time=rs.start_time,
        slots=rs.slots, tables=rs.tables, slot_minutes=rs.slot_minutes, status=rs.status,
        invitations=[i.model_copy(update={"replaces": None}) for i in own],
        schedule=[MeetingPublic(slot=m.slot, table=m.table, project_id=m.project_id, investor_id=m.investor_id)
                  for m in rs.schedule if m.project_id in mine or m.investor_id in mine])


def _view(svc: ServicesDep, roadshow_id: str, rs: Roadshow, who: Principal) -> RoadshowView:
    version = svc.container.roadshows.version(roadshow_id)
    if RoadshowService.organizes(who, rs):
        # as stored (KEPT): putting the roadshow into the view runs its model checks again, and checks added since
        # the log accepted it (meetings past midnight) must not refuse its organizer a read of it
        roadshows = svc.container.roadshows
        empty = roadshows.empty_seats(rs)
        seats = None if empty is None else RoadshowSeats(projects=empty[0], investors=empty[1])
        return RoadshowView.model_validate({"id": roadshow_id, "version": version, "roadshow": rs,
                                            "names": _names(svc, rs), "pair_scores": _pair_scores(svc, rs),
                                            "empty_seats": seats, "left": roadshows.left(rs)}, context=KEPT)
    # anyone else who got this far is an invitee (RoadshowService.get lets no one else through)
    public = _public(rs, svc.container.roadshows.invited_as(who, rs))
    return RoadshowView(id=roadshow_id, version=version, roadshow=public, names=_names(svc, public))


@router.post("", status_code=202, responses=WRITE)
def create_roadshow(body: RoadshowCreate, who: Who, svc: ServicesDep) -> Accepted:
    """Create a themed roadshow (organizers)."""
    return svc.accepted(svc.container.roadshows.create(who, body.model_dump()))


@router.get("", responses=READ)
def list_roadshows(who: Who, svc: ServicesDep) -> RoadshowList:
    """The organizer's own roadshows; for investors and founders, the ones they are invited to."""
    items = [_view(svc, rid, rs, who) for rid, rs in svc.container.roadshows.list_own(who)]
    return RoadshowList(data=items, count=len(items))


@router.get("/{roadshow_id}", responses=READ)
def read_roadshow(roadshow_id: RoadshowId, who: Who, svc: ServicesDep) -> RoadshowView:
    """A roadshow with its roster (objective, solver bound, gap, a reason per pick), invitations and schedule;
    an invitee gets the event's public facts and only its own invitations and meetings, without scores."""
    return _view(svc, roadshow_id, svc.container.roadshows.get(who, roadshow_id), who)


@router.post("/{roadshow_id}/roster", status_code=202, responses=WRITE)
def propose_roster(roadshow_id: RoadshowId, who: Who, svc: ServicesDep) -> Accepted:
    """Solve the roster (exact solver under a time limit, greedy fallback) and store the proposal."""
    return svc.accepted(svc.container.roadshows.propose(who, roadshow_id))


@router.post("/{roadshow_id}/adjust", status_code=202, responses=WRITE)
def adjust_roster(roadshow_id: RoadshowId, body: RoadshowAdjust, who: Who, svc: ServicesDep) -> Accepted:
    """Pin or exclude candidates and re-solve (before invitations go out)."""
    return svc.accepted(svc.container.roadshows.adjust(who, roadshow_id, body.pin, body.exclude, body.unpin,
                                                       body.unexclude))


@router.post("/{roadshow_id}/invitations", status_code=202, responses=WRITE)
def send_invitations(roadshow_id: RoadshowId, who: Who, svc: ServicesDep) -> Accepted:
    """Invite everyone on the roster who has not been invited yet."""
    return svc.accepted(svc.container.roadshows.send_invitations(who, roadshow_id))


@router.post("/{roadshow_id}/invitations/{invitee_id}/{answer}", status_code=202, responses=WRITE)
def answer_invitation(roadshow_id: RoadshowId, invitee_id: InviteeId, answer: Literal["accept", "decline"],
                      who: Who, svc: ServicesDep) -> Accepted:
    """An invited investor, or the founder of an invited project, accepts or declines; a decline is
    backfilled with the best remaining candidate that keeps every constraint."""
    return svc.accepted(svc.container.roadshows.answer(who, roadshow_id, invitee_id, answer == "accept"))


@router.post("/{roadshow_id}/expire", status_code=202, responses=WRITE)
def expire_invitations(roadshow_id: RoadshowId, body: RoadshowExpire, who: Who, svc: ServicesDep) -> Accepted:
    """Expire invitations left unanswered for too long and backfill their seats."""
    older = timedelta(hours=body.older_than_hours)
    return svc.accepted(svc.container.roadshows.expire(who, roadshow_id, older))


@router.post("/{roadshow_id}/schedule", status_code=202, responses=WRITE)
def build_schedule(roadshow_id: RoadshowId, who: Who, svc: ServicesDep) -> Accepted:
    """Assign accepted investor-project pairs to slots and tables, maximising total match score."""
    return svc.accepted(svc.container.roadshows.build_schedule(who, roadshow_id))


@router.put("/{roadshow_id}/logistics", status_code=202, responses=WRITE)
def move_roadshow(roadshow_id: RoadshowId, body: RoadshowMove, who: Who, svc: ServicesDep) -> Accepted:
    """Change the title, city, date, start time or slot length, at any stage; `expected_version` must be the
    current version (else 409). City, start time and slot length left out keep their values (a move of the date
    alone keeps the city). Invitees' .ics files then carry the new times."""
    logistics = body.model_dump(exclude={"expected_version"}, exclude_unset=True)
    return svc.accepted(svc.container.roadshows.move(who, roadshow_id, logistics, body.expected_version))


@router.post("/{roadshow_id}/cancel", status_code=202, responses=WRITE)
def cancel_roadshow(roadshow_id: RoadshowId, who: Who, svc: ServicesDep) -> Accepted:
    """Call the roadshow off; invitees still see it, marked cancelled, and their .ics cancels the meetings."""
    return svc.accepted(svc.container.roadshows.cancel(who, roadshow_id))


def _meetings(scheduled: list[ScheduledMeeting]) -> list[Meeting]:
    return [Meeting(m.slot, m.table, m.project_id, m.investor_id, m.score) for m in scheduled]


@router.get("/{roadshow_id}/schedule.csv", response_class=PlainTextResponse, responses=READ)
def schedule_csv(roadshow_id: RoadshowId, who: Who, svc: ServicesDep) -> PlainTextResponse:
    """The meeting schedule as CSV (slot, table, project, investor, score), for the organizer and admins."""
    rs = svc.container.roadshows.get(who, roadshow_id)
    if not RoadshowService.organizes(who, rs):
        # the sheet is the organizer's whole schedule with scores; like the calendar, an invitee gets only
        # its own meetings, and the .ics already gives exactly those, so there is no second, trimmed CSV
        raise NotAllowed("the schedule CSV is the organizer's; invitees download their own meetings from "
                         f"/v1/roadshows/{roadshow_id}/schedule.ics?participant=<your investor or project id>")
    return PlainTextResponse(to_csv(_meetings(rs.schedule), _names(svc, rs)), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{roadshow_id}-schedule.csv"'})


@router.get("/{roadshow_id}/schedule.ics", response_class=PlainTextResponse, responses=READ)
def schedule_ical(roadshow_id: RoadshowId, who: Who, svc: ServicesDep,
                  participant: Annotated[str, Query(pattern=ENTITY_ID_PATTERN, description="a project or investor id")]
                  ) -> PlainTextResponse:
    """One participant's meetings as an iCalendar file; invitees may download only their own."""
    rs = svc.container.roadshows.get(who, roadshow_id)
    own = who.role in ("admin", "organizer") or participant == who.entity_id or (
        who.role == "founder" and (p := svc.view.projects.get(participant)) is not None
        and p.value.owner == who.entity_id)
    if not own:
        raise NotAllowed("invitees download only their own calendar")
    stored = svc.view.roadshows[roadshow_id]  # a rebuilt schedule must replace the entries calendars hold
    body = to_ical(_meetings(rs.schedule), participant, rs.date, rs.start_time, rs.slot_minutes, _names(svc, rs),
                   event_id=roadshow_id, location=rs.city, stamp=stored.updated_at, sequence=stored.version,
                   with_scores=RoadshowService.organizes(who, rs),  # scores are the organizer's, as in the JSON view
                   cancelled=rs.status == "cancelled", dropped=_meetings(rs.dropped_meetings))
    return PlainTextResponse(body, media_type="text/calendar",
                             headers={"Content-Disposition": f'attachment; filename="{roadshow_id}-{participant}.ics"'})
