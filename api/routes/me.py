"""Who the calling key is: the web pages ask this once after sign-in to choose the role's pages."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Who
from api.routes import errors
from models.api import Me

router = APIRouter(tags=["keys"])


@router.get("/v1/me", responses=errors(401, 422))  # 422: a malformed wait_for
def whoami(who: Who) -> Me:
    """The role of the calling key and the entity it acts for (None for admins and registrars)."""
    return Me(role=who.role, entity_id=who.entity_id, key_id=who.key_id)
