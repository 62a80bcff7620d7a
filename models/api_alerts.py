"""Request and response shapes of the deal-alert API (api/routes/alerts.py); kept beside models/api.py, whose
conventions they follow (request bodies reject unknown fields and reuse the entities' validators)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from models.alerts import AlertMode, RecipientRole, SavedSearchFields, check_webhook_url
from models.api import Body, ReasonOut
from models.entities import EntityId, Int

SIGNATURE_HELP = ("Each webhook POST carries `X-Matchmaker-Timestamp` (Unix seconds) and `X-Matchmaker-Signature: "
                  "sha256=<hex>`, hex = HMAC-SHA256(signing_secret, f\"{timestamp}.{raw body}\"); reject old "
                  "timestamps. After a rotation the header holds two signatures, comma-separated, until "
                  "`previous_secret_until`: accept the request when one of them matches. `X-Matchmaker-Delivery` is "
                  "the same on every retry of one delivery.")


# ---- saved searches -----------------------------------------------------------------------------------
class SavedSearchCreate(SavedSearchFields, Body):
    """A saved search's criteria and whose it is (the stored `SavedSearch` holds the owner itself)."""

    project_id: EntityId | None = Field(default=None, description="founders: the project the search finds "
                                                                  "investors for (required)")
    investor_id: EntityId | None = Field(default=None, description="admins: the investor the search is for")


class SavedSearchUpdate(SavedSearchCreate):
    expected_version: Int = Field(ge=1, le=2**62)


class SavedSearchOut(BaseModel):
    id: str
    version: int
    updated_at: datetime
    owner_role: RecipientRole
    owner_id: str
    project_id: str | None
    name: str
    text: str
    sectors: list[str]
    stages: list[str]
    cities: list[str]
    ticket_min_cny: int | None
    ticket_max_cny: int | None
    min_score: float


class SavedSearchList(BaseModel):
    data: list[SavedSearchOut]
    count: int
    next_cursor: str | None = None


# ---- delivery settings --------------------------------------------------------------------------------
class AlertSettingsUpdate(Body):
    webhook_url: str | None = Field(default=None, description="http or https URL the alerts are POSTed to; "
                                                              "null: alerts only in GET /v1/alerts")
    mode: AlertMode = "instant"
    max_per_hour: Int = Field(default=20, ge=1, le=1000, description="pushes per hour; instant alerts beyond it "
                                                                     "wait for the next digest push")
    profile_alerts: bool = Field(default=True, description="alerts for anything that fits the profile well, "
                                                           "besides the saved searches")
    expected_version: Int | None = Field(default=None, ge=0, le=2**62)

    _url = field_validator("webhook_url", mode="before")(check_webhook_url)


class AlertSettingsOut(BaseModel):
    recipient_role: RecipientRole
    recipient_id: str
    version: int = Field(description="0 while the defaults apply")
    webhook_url: str | None
    mode: AlertMode
    max_per_hour: int
    profile_alerts: bool
    signing_secret: str | None = Field(description="shown to the recipient only; null for admins, or when the "
                                                   "server has no signing secret configured. " + SIGNATURE_HELP)
    secret_version: int = Field(description="1 + how many times the secret was rotated "
                                            "(POST /v1/alerts/settings/rotate-secret)")
    previous_secret_until: datetime | None = Field(description="until then pushes also carry the previous "
                                                               "secret's signature")


# ---- alerts -------------------------------------------------------------------------------------------
class DeliveryOut(BaseModel):
    status: Literal["not_pushed", "queued", "delivered", "retrying", "dead"] = Field(
        description="not_pushed: no webhook push recorded (no webhook, mode off, or not processed yet)")
    delivery_id: str | None = None
    kind: Literal["instant", "digest"] | None = None
    attempt: int = 0
    reason: str | None = Field(default=None, description="queued: digest, or rate_limited")
    next_attempt_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    updated_at: datetime | None = None


class AlertMatchOut(BaseModel):
    investor_id: str
    investor_name: str | None = Field(description="the investor's name as the reader's GET /v1/investors/{id} shows "
                                                  "it now; null once the investor has left the market (withdrawn, or "
                                                  "no longer verified: no longer available), except to the investor "
                                                  "itself, and null to whoever may not read the profile")
    project_id: str
    project_name: str | None = Field(description="the project's name as the reader's GET /v1/projects/{id} shows it "
                                                 "now; null once the project is no longer open (withdrawn or funded: "
                                                 "no longer available), except to its own founder, and null to "
                                                 "whoever may not read it (an investor the project library is closed "
                                                 "to)")
    score: float
    reasons: list[ReasonOut]
    via: list[str] = Field(description="'profile' and/or the saved searches that found it")


class AlertOut(BaseModel):
    id: str
    created_at: datetime
    recipient_role: RecipientRole
    recipient_id: str
    subject_kind: Literal["project", "investor"]
    subject_id: str
    subject_version: int
    matches: list[AlertMatchOut]
    read: bool = Field(description="read before this request (a listing marks what it returns as read)")
    delivery: DeliveryOut


class AlertPage(BaseModel):
    data: list[AlertOut]
    next_cursor: str | None = Field(description="pass as `cursor` for older alerts; null on the last page")
