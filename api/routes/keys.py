"""API keys (admins): issued as events holding only the key's hash; the secret is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.auth import hash_key, new_key
from api.deps import ServicesDep, Who
from api.routes import WRITE
from models.api import Accepted, KeyCreate, KeyIssued

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
