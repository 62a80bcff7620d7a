"""API keys (admins): issued as events holding only the key's hash; the secret is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import policy
from api.auth import hash_key, new_key
from api.deps import ServicesDep, Who
from api.pagination import PlainCursor, plain_page
from api.routes import READ, WRITE
from models.api import Accepted, KeyCreate, KeyIssued, KeyList, KeyOut
from models.entities import EntityId
from models.events import Role

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=202, responses=WRITE)
def issue_key(body: KeyCreate, who: Who, svc: ServicesDep) -> KeyIssued:
    """Issue a key for a role (and the entity it acts for); the response is the only copy of the secret."""
    key = new_key()
    accepted = svc.accepted(svc.commands.issue_key(who, body.role, body.entity_id, body.label, hash_key(key)))
    return KeyIssued(**accepted.model_dump(), key=key, role=body.role, acts_for=body.entity_id)


@router.delete("/{key_id}", status_code=202, responses=WRITE)
def revoke_key(key_id: Annotated[str, Path(min_length=1, max_length=64)], who: Who, svc: ServicesDep) -> Accepted:
    """Revoke a key: requests with it get 401 once this replica has applied the revocation."""
    return svc.accepted(svc.commands.revoke_key(who, key_id))


@router.get("", responses=READ)
def list_keys(who: Who, svc: ServicesDep, role: Role | None = None,
              acts_for: Annotated[EntityId | None, Query(description="the investor, founder or organizer")] = None,
              revoked: bool | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
              cursor: PlainCursor = None) -> KeyList:
    """The issued keys (admins), oldest change first, filtered: to find the key to revoke when someone leaves or a
    key leaks, or what acts for an entity. Secrets are never listed (the issue answer was their only copy)."""
    found = policy.api_keys(svc.view, who, role, acts_for, revoked)
    page, after = plain_page(found, cursor, limit)
    return KeyList(data=[KeyOut(id=v.id, version=v.version, updated_at=v.updated_at, role=v.value.role,
                                acts_for=v.value.entity_id, label=v.value.label, revoked=v.value.revoked)
                         for v in page], count=len(found), next_cursor=after)
