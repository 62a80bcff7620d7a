"""Investors' feedback on projects of their feed."""

from __future__ import annotations

from fastapi import APIRouter

from api import policy
from api.deps import ServicesDep, Who
from api.routes import READ, WRITE
from models.api import Accepted, FeedbackCreate, PassList

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", status_code=202, responses=WRITE)
def give_feedback(body: FeedbackCreate, who: Who, svc: ServicesDep) -> Accepted:
    """Viewed, saved, passed (with a reason), meeting requested or invested; a pass takes the project out of the
    feed until an "unpassed" takes it back ("unsaved" likewise for a save)."""
    return svc.accepted(svc.commands.give_feedback(who, body.project_id, body.action, body.reason))


@router.get("/v1/feedback/passes", responses=READ)
def list_passes(who: Who, svc: ServicesDep) -> PassList:
    """The projects the calling investor passed on, with its reasons; send "unpassed" to take one back."""
    found = policy.own_passes(svc.view, who)
    return PassList(data=found, count=len(found))
