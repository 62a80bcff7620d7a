"""Deal alerts: saved searches, delivery settings (with the webhook signing secret), the inbox, and the
delivery status of each alert. Investors and founders see their own; admins anyone's (naming the recipient
with `recipient_role` and `recipient_id`); other roles get 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api import policy
from api.deps import ServicesDep, Who
from api.pagination import PlainCursor, cursor_value, encode_cursor, plain_page
from api.routes import READ, WRITE
from matcher.alert_store import DeliveryState
from matcher.alerts import AlertCommands
from matcher.commands import Principal
from matcher.errors import Conflict, NotAllowed, NotFound
from matcher.versioned import Versioned
from matcher.view import ReadModel
from models.alerts import MatchAlert, RecipientRole, SavedSearch
from models.api import Accepted, InvestorPrivate, InvestorPublic, ProjectPrivate, ProjectPublic, ReasonOut
from models.api_alerts import (
    AlertMatchOut,
    AlertOut,
    AlertPage,
    AlertSettingsOut,
    AlertSettingsUpdate,
    DeliveryOut,
    SavedSearchCreate,
    SavedSearchList,
    SavedSearchOut,
    SavedSearchUpdate,
)

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
SearchId = Annotated[str, Path(min_length=1, max_length=64)]
AlertId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="an alert's id (32 hex digits)")]


def alert_commands(svc: ServicesDep) -> AlertCommands:
    found = getattr(svc.container, "alerts", None)
    if found is None:  # a container built without alerts (e.g. a benchmark's light one)
        found = AlertCommands.from_settings(svc.view, svc.commands, svc.container.settings)
    return found


Alerts = Annotated[AlertCommands, Depends(alert_commands)]
RecipientRoleQ = Annotated[RecipientRole | None, Query(description="admins: whose alerts")]
RecipientIdQ = Annotated[str | None, Query(min_length=1, max_length=64, description="admins: whose alerts")]


# ---- shapes ------------------------------------------------------------------------------------------
def search_out(r: Versioned[SavedSearch]) -> SavedSearchOut:
    return SavedSearchOut(id=r.id, version=r.version, updated_at=r.updated_at,
                          **r.value.model_dump(exclude={"deleted"}))


def delivery_out(state: DeliveryState | None) -> DeliveryOut:
    if state is None:
        return DeliveryOut(status="not_pushed")
    return DeliveryOut(status=state.status, delivery_id=state.delivery_id, kind=state.kind,  # type: ignore[arg-type]
                       attempt=state.attempt, reason=state.reason, next_attempt_at=state.next_attempt_at,
                       http_status=state.http_status, error=state.error, updated_at=state.updated_at)


# GET /v1/investors/{id} and GET /v1/projects/{id} as api.policy answers them
Read = Callable[[ReadModel, Principal, str], InvestorPrivate | InvestorPublic | ProjectPrivate | ProjectPublic]


class MatchNames:
    """The names alert matches carry, for one reader (within one request each id is read once): what the reader's
    own GET /v1/investors/{id} or /v1/projects/{id} shows, while the investor is in the market (verified and active)
    or the project open; the investor itself and the project's founder read their own in any state. Otherwise null:
    the counterpart is no longer available, and the page says so without asking for it (which for a founder would
    be a 404)."""

    def __init__(self, view: ReadModel, who: Principal) -> None:
        self.view, self.who = view, who
        self._read: dict[tuple[Read, str], str | None] = {}

    def investor(self, investor_id: str) -> str | None:
        found = self.view.investors.get(investor_id)
        own = self.who.role == "investor" and self.who.entity_id == investor_id
        return self._shown(policy.read_investor, investor_id, found is not None and (found.value.in_market or own))

    def project(self, project_id: str) -> str | None:
        found = self.view.projects.get(project_id)
        own = (found is not None and self.who.role == "founder" and self.who.entity_id is not None
               and found.value.owner == self.who.entity_id)
        return self._shown(policy.read_project, project_id, found is not None and (found.value.status == "open" or own))

    def _shown(self, read: Read, entity_id: str, available: bool) -> str | None:
        if not available:
            return None
        key = (read, entity_id)
        if key not in self._read:
            try:
                self._read[key] = read(self.view, self.who, entity_id).name
            except (NotFound, NotAllowed, Conflict):  # what that GET answers with 404, 403 or 409
                self._read[key] = None
        return self._read[key]


def alert_out(r: Versioned[MatchAlert], alerts: AlertCommands, read: bool, names: MatchNames) -> AlertOut:
    a = r.value
    matches = []
    for m in a.matches:
        investor_name, project_name = names.investor(m.investor_id), names.project(m.project_id)
        # The reasons tell of the counterpart (its ask, city, stage, thesis terms): shown while its name is, so that
        # an investor whose library closed (rejected) or a founder whose investor left reads no more of it here.
        counterpart = project_name if a.recipient_role == "investor" else investor_name
        reasons = [ReasonOut(code=x.code, en=x.en, zh=x.zh) for x in m.reasons] if counterpart is not None else []
        matches.append(AlertMatchOut(investor_id=m.investor_id, investor_name=investor_name, project_id=m.project_id,
                                     project_name=project_name, score=m.score, via=m.via, reasons=reasons))
    return AlertOut(id=r.id, created_at=r.updated_at, recipient_role=a.recipient_role, recipient_id=a.recipient_id,
                    subject_kind=a.subject_kind, subject_id=a.subject_id, subject_version=a.subject_version,
                    matches=matches, read=read, delivery=delivery_out(alerts.store.alert_status.get(r.id)))


# The inbox pages by keyset, not offset: its cursor holds the last alert of the previous page under "b" (the key
# of the cursors clients already hold), so pages do not shift as alerts arrive.
BEFORE_KEY = "b"


def _decode_before(cursor: str | None) -> str | None:
    return cursor_value(cursor, BEFORE_KEY, str) if cursor else None


# ---- saved searches ------------------------------------------------------------------------------------
@router.post("/searches", status_code=202, responses=WRITE)
def save_search(body: SavedSearchCreate, who: Who, svc: ServicesDep, alerts: Alerts) -> Accepted:
    """Save a search: investors for projects; founders for investors, for one of their projects."""
    return svc.accepted(alerts.save_search(who, body.model_dump()))


@router.get("/searches", responses=READ)
def list_searches(who: Who, alerts: Alerts, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  cursor: PlainCursor = None) -> SavedSearchList:
    """The caller's saved searches (admins: everyone's), oldest change first."""
    found = alerts.searches(who)
    page, after = plain_page(found, cursor, limit)
    return SavedSearchList(data=[search_out(s) for s in page], count=len(found), next_cursor=after)


@router.get("/searches/{search_id}", responses=READ)
def read_search(search_id: SearchId, who: Who, alerts: Alerts) -> SavedSearchOut:
    """One saved search of the caller's."""
    return search_out(alerts.search(who, search_id))


@router.put("/searches/{search_id}", status_code=202, responses=WRITE)
def update_search(search_id: SearchId, body: SavedSearchUpdate, who: Who, svc: ServicesDep,
                  alerts: Alerts) -> Accepted:
    """Replace a saved search's criteria; `expected_version` must be its current version (else 409)."""
    fields = body.model_dump(exclude={"expected_version", "investor_id"})
    return svc.accepted(alerts.save_search(who, fields, search_id, body.expected_version))


@router.delete("/searches/{search_id}", status_code=202, responses=WRITE)
def delete_search(search_id: SearchId, who: Who, svc: ServicesDep, alerts: Alerts) -> Accepted:
    """Delete a saved search; it alerts no more."""
    return svc.accepted(alerts.delete_search(who, search_id))


# ---- delivery settings ---------------------------------------------------------------------------------
@router.get("/settings", responses=READ)
def read_settings(who: Who, alerts: Alerts, recipient_role: RecipientRoleQ = None,
                  recipient_id: RecipientIdQ = None) -> AlertSettingsOut:
    """Webhook delivery settings, and (to the recipient itself) the secret its webhooks are signed with."""
    value, version, secret = alerts.settings(who, recipient_role, recipient_id)
    return AlertSettingsOut(version=version, signing_secret=secret, **value.model_dump())


@router.put("/settings", status_code=202, responses=WRITE)
def update_settings(body: AlertSettingsUpdate, who: Who, svc: ServicesDep, alerts: Alerts,
                    recipient_role: RecipientRoleQ = None, recipient_id: RecipientIdQ = None) -> Accepted:
    """Set the webhook URL, mode (instant, daily, weekly, off), pushes per hour and profile alerts."""
    fields = body.model_dump(exclude={"expected_version"})
    return svc.accepted(alerts.update_settings(who, fields, recipient_role, recipient_id,
                                               body.expected_version))


@router.post("/settings/rotate-secret", status_code=202, responses=WRITE)
def rotate_secret(who: Who, svc: ServicesDep, alerts: Alerts, recipient_role: RecipientRoleQ = None,
                  recipient_id: RecipientIdQ = None) -> Accepted:
    """A new webhook signing secret (GET /v1/alerts/settings shows it); until `previous_secret_until` pushes are
    signed with the old one too, so the receiver can switch over without rejecting any."""
    return svc.accepted(alerts.rotate_secret(who, recipient_role, recipient_id))


# ---- the inbox -----------------------------------------------------------------------------------------
@router.get("", responses=READ)
def list_alerts(who: Who, alerts: Alerts, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                cursor: Annotated[str | None, Query(max_length=200)] = None, unread_only: bool = False,
                recipient_role: RecipientRoleQ = None, recipient_id: RecipientIdQ = None) -> AlertPage:
    """The caller's alerts, newest first, each match with its investor's and project's names as the caller may
    see them now (null: no longer available); the ones returned are marked read (not when an admin reads)."""
    found = alerts.alerts(who, recipient_role, recipient_id, before=_decode_before(cursor), limit=limit,
                          unread_only=unread_only)
    read = {r.id for r in found if r.id in alerts.store.read}
    alerts.mark_read(who, found)
    more = len(found) == limit
    names = MatchNames(alerts.view, who)
    return AlertPage(data=[alert_out(r, alerts, r.id in read, names) for r in found],
                     next_cursor=encode_cursor(found[-1].id, BEFORE_KEY) if more else None)


@router.get("/{alert_id}", responses=READ)
def read_alert(alert_id: AlertId, who: Who, alerts: Alerts) -> AlertOut:
    """One alert of the caller's, with its delivery status."""
    found = alerts.alert(who, alert_id)
    return alert_out(found, alerts, found.id in alerts.store.read, MatchNames(alerts.view, who))


@router.get("/{alert_id}/delivery", responses=READ)
def read_delivery(alert_id: AlertId, who: Who, alerts: Alerts) -> DeliveryOut:
    """Where the alert's webhook push stands: queued, delivered, retrying (with the next attempt) or dead."""
    alerts.alert(who, alert_id)
    return delivery_out(alerts.store.alert_status.get(alert_id))
