"""Investors' feedback on projects of their feed."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep, Who
from api.routes import WRITE
from models.api import Accepted, FeedbackCreate

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", status_code=202, responses=WRITE)
def give_feedback(body: FeedbackCreate, who: Who, svc: ServicesDep) -> Accepted:
    """Viewed, saved, passed (with a reason), meeting requested or invested; passes leave the feed for good."""
    return svc.accepted(svc.commands.give_feedback(who, body.project_id, body.action, body.reason))
