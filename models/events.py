"""Domain events: a small envelope around a typed payload, named in the past tense."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.alerts import ALERT_PAYLOADS
from models.entities import KEPT, EntityId, Int, Investor, Project, Strict, from_log
from models.roadshows import Roadshow

SCHEMA_VERSION = 1
MAX_EVENT_BYTES = 1_000_000
MAX_VECTOR_DIM = 4096  # the models here have 384; a record far longer is no embedding

# The one definition of each; the API's request shapes and the command layer import these.
Role = Literal["admin", "registrar", "organizer", "investor", "founder"]
ROLES_WITH_ENTITY = ("investor", "founder", "organizer")  # a key of these roles acts for one of them; others for no one
# "unsaved" and "unpassed" take back a save or a pass (a pass by mistake would otherwise hide the project for good)
FeedbackAction = Literal["viewed", "saved", "unsaved", "passed", "unpassed", "meeting_requested", "invested"]


def check_pass_reason(action: FeedbackAction, reason: str | None) -> None:
    """A pass says why: the rule of the FeedbackGiven payload and of the API's feedback body alike."""
    if action == "passed" and not (reason and reason.strip()):
        raise ValueError("reason is required when action is 'passed'")


def check_key_entity(role: str, entity_id: str | None) -> None:
    """An investor, founder or organizer key acts for one entity; an admin or registrar key for none (an id there
    would be stored and shown as whom the key acts for, yet mean nothing)."""
    if role in ROLES_WITH_ENTITY and not entity_id:
        raise ValueError(f"entity_id is required for a {role} key (the {role} it acts for)")
    if role not in ROLES_WITH_ENTITY and entity_id is not None:
        raise ValueError(f"entity_id is only for {', '.join(ROLES_WITH_ENTITY[:-1])} and {ROLES_WITH_ENTITY[-1]} "
                         f"keys; leave it out for a {role} key, which acts for no one")


class Feedback(Strict):
    investor_id: EntityId
    project_id: EntityId
    action: FeedbackAction
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @model_validator(mode="after")
    def _pass_has_reason(self) -> Feedback:
        check_pass_reason(self.action, self.reason)
        return self


class Intro(Strict):
    project_id: EntityId
    investor_id: EntityId
    requested_by: Literal["founder", "investor"]
    message: Annotated[str, StringConstraints(max_length=2000)] = ""
    status: Literal["requested", "accepted", "declined", "withdrawn"] = "requested"
    decline_reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


class ApiKey(Strict):
    key_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    role: Role
    entity_id: EntityId | None = None
    label: Annotated[str, StringConstraints(max_length=200)] = ""
    revoked: bool = False

    @model_validator(mode="after")
    def _entity_fits_the_role(self, info: ValidationInfo) -> ApiKey:
        if not from_log(info):  # keys the log holds stay valid (an admin key with an entity id was once accepted)
            check_key_entity(self.role, self.entity_id)
        return self


class EntityVector(Strict):
    """A message of the *.vectors topics: the embedding of one entity version."""

    entity_id: EntityId
    entity_version: Int = Field(ge=1)
    model: str
    content_hash: str
    vector: list[float] = Field(min_length=1, max_length=MAX_VECTOR_DIM)

    @field_validator("vector")
    @classmethod
    def _finite(cls, vector: list[float]) -> list[float]:
        # JSON's 1e999 reads as inf, and NaN is accepted as written: either would poison every cosine it meets
        if not all(math.isfinite(x) for x in vector):
            raise ValueError("vector must hold finite numbers only")
        return vector


# type -> payload model; the single registry both producers and consumers validate against.
PAYLOADS: dict[str, type[BaseModel]] = {
    "ProjectSubmitted": Project,
    "ProjectUpdated": Project,
    "ProjectWithdrawn": Project,
    "ProjectFunded": Project,
    "ProjectReopened": Project,
    "InvestorRegistered": Investor,
    "InvestorUpdated": Investor,
    "InvestorVerified": Investor,
    "InvestorRejected": Investor,
    "InvestorWithdrawn": Investor,
    "FeedbackGiven": Feedback,
    "IntroRequested": Intro,
    "IntroAccepted": Intro,
    "IntroDeclined": Intro,
    "IntroWithdrawn": Intro,
    "ApiKeyIssued": ApiKey,
    "ApiKeyRevoked": ApiKey,
    "RoadshowCreated": Roadshow,
    "RoadshowAdjusted": Roadshow,
    "RoadshowCancelled": Roadshow,
    "RoadshowMoved": Roadshow,
    "RosterProposed": Roadshow,
    "InvitationsSent": Roadshow,
    "InvitationAccepted": Roadshow,
    "InvitationDeclined": Roadshow,
    "InvitationsExpired": Roadshow,
    "ScheduleBuilt": Roadshow,
    **ALERT_PAYLOADS,  # deal alerts: saved searches, delivery settings, alerts, delivery outcomes
}


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    entity_id: EntityId
    entity_version: Int = Field(ge=1)
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    actor: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    schema_version: Int = SCHEMA_VERSION
    payload: Any

    @model_validator(mode="before")
    @classmethod
    def _typed_payload(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("type")
        if kind not in PAYLOADS:
            raise ValueError(f"type must be one of {', '.join(PAYLOADS)}; got {kind!r}")
        payload = data.get("payload")
        model = PAYLOADS[kind]
        if not isinstance(payload, model):
            try:
                payload = model.model_validate(payload, context=info.context)
            except ValidationError as exc:
                raise ValueError(describe(exc, prefix="payload")) from None
        return {**data, "payload": payload}

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def later_write(version: int, source: str, held_version: int, held_source: str) -> bool:
    """Whether a write at `version` from `source` (an event id, a vector's content hash) replaces the one held. A
    higher version does. So does the same version from another source: two API replicas wrote the entity at once
    and both chose it (neither had seen the other's write). The later one in the log then wins, which is also the
    one the topic's compaction keeps, so a replay after compaction ends in the same state as the live read did. The
    held write arriving again changes nothing."""
    return version > held_version or (version == held_version and source != held_source)


def supersedes(event: Event, version: int, event_id: str) -> bool:
    """`later_write` for an event over the state held at `version`, set by the event `event_id`."""
    return later_write(event.entity_version, str(event.event_id), version, event_id)


class InvalidEvent(ValueError):
    """A message that can never be applied; its reason goes to the dead-letter topic."""


def describe(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: `field.path: what is wrong`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def decode_event(raw: bytes | None) -> Event:
    """Parse one Kafka message value, or raise InvalidEvent saying why it can never be applied."""
    if raw is None:
        raise InvalidEvent("empty message (tombstone) where an event was expected")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is {len(raw)} bytes; at most {MAX_EVENT_BYTES} accepted")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"not UTF-8: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    except RecursionError:  # [[[...]]] a hundred thousand deep: json's parser recurses
        raise InvalidEvent("not JSON this service reads: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise InvalidEvent(f"not JSON this service reads: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"an event must be a JSON object; got {type(data).__name__}")
    if data.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise InvalidEvent(f"schema_version must be {SCHEMA_VERSION}; got {data.get('schema_version')!r}")
    try:
        return Event.model_validate(data, context=KEPT)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from None


def check_vector_size(vector: EntityVector, dim: int) -> None:
    """InvalidEvent unless `vector` has `dim` numbers (its model's, where the reader knows them)."""
    if len(vector.vector) != dim:
        raise InvalidEvent(f"vector has {len(vector.vector)} dimensions; {vector.model}'s have {dim}")


def decode_vector(raw: bytes | None) -> EntityVector:
    if raw is None:
        raise InvalidEvent("empty message (tombstone) where a vector was expected")
    try:
        return EntityVector.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe(exc)) from None
