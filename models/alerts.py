"""Deal alerts: saved searches, delivery settings, the alerts themselves and their delivery outcomes.

Recipients are investors (their investor id) and founders (their founder account, `Project.owner`); a
recipient's key is `"<role>:<id>"`. Alerts and delivery records are keyed by it on Kafka, so one recipient's
records share a partition (its rate limit and digest queue are handled by one delivery worker).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

import idna
from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.entities import (
    MAX_CNY,
    City,
    EntityId,
    Int,
    Number,
    PlainText,
    Strict,
    check_ticket_range,
    from_log,
    sector_list,
    stage_list,
)
from models.taxonomy import SECTORS, STAGES
from models.text import has_letter_or_digit

RecipientRole = Literal["investor", "founder"]
AlertMode = Literal["instant", "daily", "weekly", "off"]
DeliveryStatus = Literal["queued", "delivered", "retrying", "dead"]
Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]
MAX_ALERTS_PER_DELIVERY = 200
_TERM_SPLIT = re.compile(r"[\s,，、;；]+")
_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def recipient_key(role: str, recipient_id: str) -> str:
    return f"{role}:{recipient_id}"


def settings_id(role: str, recipient_id: str) -> str:
    """The entity id of a recipient's settings (a recipient key may be longer than an entity id allows)."""
    return "as-" + hashlib.sha256(recipient_key(role, recipient_id).encode()).hexdigest()[:24]


def alert_id(recipient: str, subject_kind: str, subject_id: str, subject_version: int) -> str:
    """Deterministic: one alert per recipient per version of the matched entity, whoever computes it."""
    text = f"{recipient}|{subject_kind}:{subject_id}|{subject_version}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def search_terms(text: str) -> list[str]:
    """The terms of a saved search's free text: split on spaces and commas (Chinese ones too), lower-cased."""
    return [t for t in dict.fromkeys(_TERM_SPLIT.split(text.strip().lower())) if t]


class SavedSearchFields(BaseModel):
    """The criteria of a saved search: the body of a new one or an edit (`models.api_alerts.SavedSearchCreate`)
    and the core of the stored `SavedSearch`."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), PlainText] = ""
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), PlainText] = Field(
        default="", description="terms separated by spaces or commas (with a letter or digit); every term must "
                                "find the counterpart as free-text search would: a word of it in its name, summary, "
                                "thesis, sectors or city (Latin words whole; traditional Chinese finds simplified, a "
                                "city either of its names) or a sector it names (电商: e-commerce); labels and "
                                "function words find nothing")
    sectors: list[str] = Field(default=[], json_schema_extra={"items": {"type": "string", "enum": list(SECTORS)},
                                                              "maxItems": 8})
    stages: list[str] = Field(default=[], json_schema_extra={"items": {"type": "string", "enum": list(STAGES)}})
    cities: list[City] = Field(default=[], max_length=20)
    ticket_min_cny: Int | None = Field(default=None, ge=0, le=MAX_CNY)
    ticket_max_cny: Int | None = Field(default=None, ge=0, le=MAX_CNY)
    min_score: Number = Field(default=0.0, ge=0.0, le=2.0, description="the match score an alert needs")

    _sectors = field_validator("sectors", mode="before")(lambda v: sector_list(v, allow_empty=True))
    _stages = field_validator("stages", mode="before")(lambda v: stage_list(v, allow_empty=True))

    @field_validator("text")
    @classmethod
    def _text_has_a_word(cls, value: str, info: ValidationInfo) -> str:
        # as /v1/search's q: "🔋" or ",,, ," has no term to look for (",,, ," none at all: it matched everything)
        if value and not has_letter_or_digit(value) and not from_log(info):
            raise ValueError(f"must contain a letter or digit (Chinese, English or mixed); got {value[:40]!r}")
        return value

    @model_validator(mode="after")
    def _criteria(self, info: ValidationInfo) -> SavedSearchFields:
        check_ticket_range(self.ticket_min_cny, self.ticket_max_cny)
        # A search without criteria matched every project (or investor) and alerted on each: "what fits my profile
        # well" is the profile alerts' (AlertSettings.profile_alerts), and a min_score above 0 alone asks for
        # everything that fits at least that well. Searches the log holds stay readable.
        criteria = (self.text, self.sectors, self.stages, self.cities, self.ticket_min_cny is not None,
                    self.ticket_max_cny is not None, self.min_score > 0)
        if not any(criteria) and not from_log(info):
            # said of the whole body: under each of seven fields it would read seven times
            raise ValueError("a saved search needs a criterion: text, sectors, stages, cities, ticket_min_cny, "
                             "ticket_max_cny or a min_score above 0 (one without any would match everything)")
        return self


class SavedSearch(SavedSearchFields, Strict):
    """Criteria a recipient wants alerts for. An investor's search finds projects; a founder's search belongs
    to one of its projects and finds investors for it. `SearchDeleted` carries it with `deleted=True`."""

    owner_role: RecipientRole
    owner_id: EntityId
    project_id: EntityId | None = None
    deleted: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> SavedSearch:
        if self.owner_role == "founder" and self.project_id is None:
            raise ValueError("project_id is required for a founder's search (the project it finds investors for)")
        if self.owner_role == "investor" and self.project_id is not None:
            raise ValueError("project_id is only for founders' searches; an investor's search finds projects")
        return self

    @property
    def recipient(self) -> str:
        return recipient_key(self.owner_role, self.owner_id)


def _valid_host(host: str) -> bool:
    """An IP literal or a DNS name (letters, digits, hyphens and dots; international names as IDNA 2008 writes
    them, as the webhook worker's HTTP client does: Python's own IDNA 2003 codec would let ①②⑦.0.0.1 pass as
    127.0.0.1, which the worker then cannot reach)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host if host.isascii() else idna.encode(host.lower()).decode("ascii")
    except idna.IDNAError:
        return False
    labels = ascii_host.removesuffix(".").split(".")
    return len(ascii_host) <= 253 and all(_DNS_LABEL.match(label) for label in labels)


def check_webhook_url(value: object, info: ValidationInfo) -> object:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("webhook_url must be an http or https URL of at most 2000 characters")
    if from_log(info):  # the checks below came later: settings the log holds stay readable (the worker refuses
        return value    # to push to such a URL anyway)
    if _SPACE_OR_CONTROL.search(value):
        # urlsplit silently drops tabs and newlines, so the URL checked would not be the URL stored
        raise ValueError("webhook_url must not contain spaces or control characters; percent-encode them")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. a bracketed host that is no IPv6 address
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook_url must be an http or https URL with a host; got {value[:80]!r}")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise ValueError(f"webhook_url port must be 1-65535; got {parts.netloc.rpartition(':')[2][:20]!r}")
    if not _valid_host(parts.hostname):
        raise ValueError(f"webhook_url host {parts.hostname[:80]!r} is not a valid host name: use letters, digits, "
                         "hyphens and dots, or an IP address")
    if parts.username or parts.password:
        # the URL is stored in the event log: credentials in it would leak to every reader of the log
        raise ValueError("webhook_url must not contain credentials; verify our signature instead")
    return value


class AlertSettings(Strict):
    """How one recipient wants alerts pushed. Without settings (or without a URL, or mode off) alerts are only
    listed by the API."""

    recipient_role: RecipientRole
    recipient_id: EntityId
    webhook_url: str | None = None
    mode: AlertMode = "instant"
    # pushes per hour (an instant alert is one push; a digest is one push); instant alerts beyond it are
    # deferred into the next digest push, never dropped
    max_per_hour: Int = Field(default=20, ge=1, le=1000)
    # the implicit search: "anything that fits my profile well" (Settings.alert_default_min_score)
    profile_alerts: bool = True
    # how many times the signing secret was rotated, plus one (the secret is derived from it, never stored), and
    # until when pushes are also signed with the previous secret
    secret_version: Int = Field(default=1, ge=1)
    previous_secret_until: AwareDatetime | None = None

    _url = field_validator("webhook_url", mode="before")(check_webhook_url)

    @property
    def recipient(self) -> str:
        return recipient_key(self.recipient_role, self.recipient_id)


class AlertReason(Strict):
    code: str
    en: str
    zh: str


class AlertMatch(Strict):
    investor_id: EntityId
    project_id: EntityId
    score: Number
    reasons: list[AlertReason] = []
    via: list[str] = Field(min_length=1)  # "profile" (the implicit search) and/or saved search ids


class MatchAlert(Strict):
    """A new match pushed to one recipient: the investor about a project, or a founder about an investor
    (one entry per project of the founder it fits). The envelope's entity id is `alert_id`."""

    alert_id: Hex
    recipient_role: RecipientRole
    recipient_id: EntityId
    subject_kind: Literal["project", "investor"]
    subject_id: EntityId
    subject_version: Int = Field(ge=1)
    matches: list[AlertMatch] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _id_matches(self) -> MatchAlert:
        expected = alert_id(self.recipient, self.subject_kind, self.subject_id, self.subject_version)
        if self.alert_id != expected:
            raise ValueError(f"alert_id must be {expected} (recipient, subject and version); got {self.alert_id}")
        return self

    @property
    def recipient(self) -> str:
        return recipient_key(self.recipient_role, self.recipient_id)


class AlertDelivery(Strict):
    """One delivery's state change: `AlertQueued` (waiting for its digest or for the rate limit),
    `AlertDelivered`, `AlertDeliveryFailed` (status retrying with `next_attempt_at`, or dead)."""

    delivery_id: Hex
    recipient_role: RecipientRole
    recipient_id: EntityId
    alert_ids: list[Hex] = Field(min_length=1, max_length=MAX_ALERTS_PER_DELIVERY)
    kind: Literal["instant", "digest"]
    status: DeliveryStatus
    attempt: Int = Field(default=0, ge=0, le=100)
    reason: Literal["digest", "rate_limited"] | None = None  # why an alert is queued
    next_attempt_at: datetime | None = None
    http_status: Int | None = None
    error: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @property
    def recipient(self) -> str:
        return recipient_key(self.recipient_role, self.recipient_id)


class AlertsRead(Strict):
    recipient_role: RecipientRole
    recipient_id: EntityId
    alert_ids: list[Hex] = Field(min_length=1, max_length=500)

    @property
    def recipient(self) -> str:
        return recipient_key(self.recipient_role, self.recipient_id)


ALERT_PAYLOADS: dict[str, type[Strict]] = {
    "SearchSaved": SavedSearch,
    "SearchDeleted": SavedSearch,
    "AlertSettingsUpdated": AlertSettings,
    "MatchAlerted": MatchAlert,
    "AlertQueued": AlertDelivery,
    "AlertDelivered": AlertDelivery,
    "AlertDeliveryFailed": AlertDelivery,
    "AlertsRead": AlertsRead,
}
