"""Double opt-in introductions: contacts are exchanged only once the side that was asked accepts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api import policy
from api.deps import ServicesDep, Who
from api.routes import READ, WRITE
from models.api import Accepted, IntroCreate, IntroDecline, IntroList

router = APIRouter(prefix="/v1/intros", tags=["intros"])
IntroId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("", status_code=202, responses=WRITE)
def request_intro(body: IntroCreate, who: Who, svc: ServicesDep) -> Accepted:
    """Ask for an intro: a founder for its project, or an investor for itself. A 409 while the pair has an open or
    accepted intro, for 30 days after the other side declined this side's request, and while this side has withdrawn
    two requests of the pair in the last 30 days."""
    return svc.accepted(svc.commands.request_intro(who, body.project_id, body.investor_id, body.message))


@router.post("/{intro_id}/accept", status_code=202, responses=WRITE)
def accept_intro(intro_id: IntroId, who: Who, svc: ServicesDep) -> Accepted:
    """Accept an intro you were asked for; both sides then see each other's contact details."""
    return svc.accepted(svc.commands.answer_intro(who, intro_id, accept=True, reason=None))


@router.post("/{intro_id}/decline", status_code=202, responses=WRITE)
def decline_intro(intro_id: IntroId, who: Who, svc: ServicesDep, body: IntroDecline | None = None) -> Accepted:
    """Decline an intro you were asked for, optionally saying why."""
    reason = body.reason if body is not None else None
    return svc.accepted(svc.commands.answer_intro(who, intro_id, accept=False, reason=reason))


@router.post("/{intro_id}/withdraw", status_code=202, responses=WRITE)
def withdraw_intro(intro_id: IntroId, who: Who, svc: ServicesDep) -> Accepted:
    """Take back an intro you asked for, while it is unanswered."""
    return svc.accepted(svc.commands.withdraw_intro(who, intro_id))


@router.get("", responses=READ)
def list_intros(who: Who, svc: ServicesDep) -> IntroList:
    """The caller's intros (a founder's projects', an investor's own; every intro for admins)."""
    found = policy.own_intros(svc.view, who)
    return IntroList(data=found, count=len(found))
