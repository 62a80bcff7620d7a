"""The angel investor registry, and the registrar's review of it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api import policy
from api.deps import ServicesDep, Who
from api.pagination import PlainCursor, plain_page
from api.routes import READ, WRITE
from models.api import (
    Accepted,
    InvestorCreate,
    InvestorList,
    InvestorPrivate,
    InvestorPublic,
    InvestorUpdate,
    Rejection,
)

router = APIRouter(tags=["investors"])
InvestorId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/v1/investors", status_code=202, responses=WRITE)
def register_investor(body: InvestorCreate, who: Who, svc: ServicesDep) -> Accepted:
    """Register the profile an investor key acts for; it stays pending until a registrar verifies it."""
    return svc.accepted(svc.commands.register_investor(who, body.model_dump()))


@router.get("/v1/investors/{investor_id}", response_model=InvestorPrivate | InvestorPublic, responses=READ)
def read_investor(investor_id: InvestorId, who: Who, svc: ServicesDep) -> InvestorPrivate | InvestorPublic:
    """One investor profile; unverified profiles only for the investor itself, registrars and admins."""
    return policy.read_investor(svc.view, who, investor_id)


@router.put("/v1/investors/{investor_id}", status_code=202, responses=WRITE)
def update_investor(investor_id: InvestorId, body: InvestorUpdate, who: Who, svc: ServicesDep) -> Accepted:
    """Replace the profile's fields; the registrar's decision is kept."""
    fields = body.model_dump(exclude={"expected_version"})
    return svc.accepted(svc.commands.update_investor(who, investor_id, fields, body.expected_version))


@router.post("/v1/investors/{investor_id}/withdraw", status_code=202, responses=WRITE)
def withdraw_investor(investor_id: InvestorId, who: Who, svc: ServicesDep) -> Accepted:
    """Leave the registry."""
    return svc.accepted(svc.commands.withdraw_investor(who, investor_id))


@router.get("/v1/registrar/pending", tags=["registrar"], responses=READ)
def pending_registrations(who: Who, svc: ServicesDep) -> InvestorList:
    """Profiles waiting for a registrar's decision, oldest first (registrars, admins)."""
    found = policy.registry(svc.view, who, verification="pending", status="active")
    return InvestorList(data=found, count=len(found))


@router.get("/v1/registrar/investors", tags=["registrar"], responses=READ)
def browse_registry(who: Who, svc: ServicesDep,
                    verification: Literal["pending", "verified", "rejected"] | None = None,
                    status: Literal["active", "withdrawn"] | None = None,
                    q: Annotated[str, Query(max_length=100, description="part of a name, organization or city")] = "",
                    limit: Annotated[int, Query(ge=1, le=500)] = 100,
                    cursor: PlainCursor = None) -> InvestorList:
    """The whole registry, filtered, oldest change first (registrars, admins): to find a verified investor
    to review again, or a rejected one."""
    found = policy.registry(svc.view, who, verification, status, q)
    page, after = plain_page(found, cursor, limit)
    return InvestorList(data=page, count=len(found), next_cursor=after)


@router.post("/v1/investors/{investor_id}/verify", tags=["registrar"], status_code=202, responses=WRITE)
def verify_investor(investor_id: InvestorId, who: Who, svc: ServicesDep) -> Accepted:
    """Verify a profile: it becomes visible to founders and enters matching (registrars, admins)."""
    return svc.accepted(svc.commands.review_investor(who, investor_id, verify=True, reason=None))


@router.post("/v1/investors/{investor_id}/reject", tags=["registrar"], status_code=202, responses=WRITE)
def reject_investor(investor_id: InvestorId, body: Rejection, who: Who, svc: ServicesDep) -> Accepted:
    """Reject a profile with a reason the investor sees (registrars, admins)."""
    return svc.accepted(svc.commands.review_investor(who, investor_id, verify=False, reason=body.reason))
