"""Request and response shapes of the HTTP API (v1).

Request bodies are the entities' own field sets (`ProjectFields`, `InvestorFields`, `RoadshowFields`,
`SavedSearchFields`), so the API and the event payloads reject the same input with the same message (`stage must
be one of idea, ...; got 'series z'`). Response shapes come in families: a
`*Public` shape anyone allowed to see the entity gets, and a `*Private` shape (adding contact details) for the
owner, admins, and a counterpart with an accepted introduction.
"""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime
from datetime import time as time_type
from typing import TYPE_CHECKING, Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from models.entities import (
    MAX_CNY,
    MAX_TEXT,
    Contact,
    EntityId,
    Int,
    InvestorFields,
    Number,
    PlainText,
    PortfolioCompany,
    ProjectFields,
)
from models.events import FeedbackAction, Role, check_key_entity, check_pass_reason
from models.roadshows import Invitation, Roadshow, RoadshowFields, RoadshowLogistics
from models.taxonomy import SECTORS, STAGES

Summary = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT), PlainText]
Amount = Annotated[Int, Field(gt=0, le=MAX_CNY)]
# Query parameters: validated by FastAPI, so their errors name the parameter (Literals built from the taxonomy).
if TYPE_CHECKING:
    SectorCode = str
    StageCode = str
else:
    SectorCode = Literal[tuple(SECTORS)]
    StageCode = Literal[tuple(STAGES)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- project library ----------------------------------------------------------------------------------
class ProjectCreate(ProjectFields, Body):
    """A project as its founder states it (the stored `Project` adds status and owner)."""


class ProjectUpdate(ProjectCreate):
    """The whole project as it should be after the edit, and the version the edit is based on."""

    expected_version: Int = Field(ge=1, le=2**62)


class ProjectPublic(BaseModel):
    id: str
    version: int
    updated_at: datetime
    name: str
    summary: str
    sectors: list[str]
    stage: str
    amount_sought_cny: int
    city: str
    founder_background: str
    incubator: str | None
    team_size: int
    traction: str
    status: Literal["open", "funded", "withdrawn"]


class ProjectPrivate(ProjectPublic):
    contact: Contact
    owner: str | None = None  # the founder account; shown to that founder and admins only


class ProjectList(BaseModel):
    data: list[ProjectPrivate]
    count: int
    next_cursor: str | None = None


# ---- investor registry --------------------------------------------------------------------------------
class InvestorCreate(InvestorFields, Body):
    """An investor as it states itself (the stored `Investor` adds verification and status)."""


class InvestorUpdate(InvestorCreate):
    expected_version: Int = Field(ge=1, le=2**62)


class InvestorPublic(BaseModel):
    id: str
    version: int
    updated_at: datetime
    name: str
    kind: str
    organization: str
    thesis: str
    sectors: list[str]
    stages: list[str]
    ticket_min_cny: int
    ticket_max_cny: int
    cities: list[str]
    capacity_per_month: int
    portfolio: list[PortfolioCompany]
    verification: Literal["pending", "verified", "rejected"]
    # non-null on rejected profiles and on those edited since a rejection (back in review): only the investor
    # itself and registrars see either
    rejection_reason: str | None
    status: Literal["active", "withdrawn"]


class InvestorPrivate(InvestorPublic):
    contact: Contact
    in_market: bool  # verified and active (Investor.in_market): matched, alerted, and free to save searches


class InvestorList(BaseModel):
    data: list[InvestorPublic]
    count: int
    next_cursor: str | None = None


class Rejection(Body):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), PlainText]


# ---- matches ------------------------------------------------------------------------------------------
class ReasonOut(BaseModel):
    code: str
    en: str
    zh: str


class MatchItem(BaseModel):
    entity_id: str
    score: float
    features: dict[str, float]
    contributions: dict[str, float]  # feature -> its share of the score
    reasons: list[ReasonOut]


class ProjectMatch(MatchItem):
    project: ProjectPublic


class InvestorMatch(MatchItem):
    investor: InvestorPublic


T = TypeVar("T")


class MatchPage(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")
    lag: int = Field(description="records of the log this replica had not applied when it answered")


# ---- feedback and intros ------------------------------------------------------------------------------
class FeedbackCreate(Body):
    project_id: EntityId
    action: FeedbackAction
    reason: Annotated[str, StringConstraints(max_length=1000), PlainText] | None = None

    @model_validator(mode="after")
    def _pass_has_reason(self) -> FeedbackCreate:
        check_pass_reason(self.action, self.reason)
        return self


class Pass(BaseModel):
    project: ProjectPublic
    reason: str


class PassList(BaseModel):
    data: list[Pass]
    count: int


class IntroCreate(Body):
    project_id: EntityId
    investor_id: EntityId
    message: Annotated[str, StringConstraints(max_length=2000), PlainText] = ""


class IntroDecline(Body):
    reason: Annotated[str, StringConstraints(max_length=1000), PlainText] | None = None


class IntroContacts(BaseModel):
    project: Contact
    investor: Contact


class IntroView(BaseModel):
    id: str
    version: int
    updated_at: datetime
    project_id: str
    investor_id: str
    requested_by: Literal["founder", "investor"]
    message: str
    status: Literal["requested", "accepted", "declined", "withdrawn"]
    decline_reason: str | None
    contacts: IntroContacts | None = Field(description="both sides' contact details, once both accepted")


class IntroList(BaseModel):
    data: list[IntroView]
    count: int


# ---- writes, keys, errors, operations -----------------------------------------------------------------
class Accepted(BaseModel):
    """A write the broker acknowledged; pass `offset_token` as `wait_for` to read it back."""

    entity_id: str
    version: int
    offset_token: str


class KeyCreate(Body):
    role: Role
    entity_id: EntityId | None = Field(default=None, description="the investor, founder account or organizer "
                                                                 "the key acts for (required for those roles)")
    label: Annotated[str, StringConstraints(max_length=200), PlainText] = ""

    @model_validator(mode="after")
    def _entity_fits_the_role(self) -> KeyCreate:
        check_key_entity(self.role, self.entity_id)
        return self


class KeyIssued(Accepted):
    """`entity_id` is the key's id; `key` is the secret, shown this once and stored only as a hash."""

    key: str
    role: Role
    acts_for: str | None


class KeyOut(BaseModel):
    """An issued key as admins list it: never its secret or hash."""

    id: str
    version: int
    updated_at: datetime
    role: Role
    acts_for: str | None
    label: str
    revoked: bool


class KeyList(BaseModel):
    data: list[KeyOut]
    count: int
    next_cursor: str | None = None


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[FieldError] = []


class Me(BaseModel):
    role: Role
    entity_id: str | None
    key_id: str


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "catching_up", "broker_unreachable"]
    lag: dict[str, int] = Field(description="records not yet applied, per topic (the last known, when the broker "
                                            "does not answer)")
    error: str | None = Field(default=None, description="why the broker could not be asked")


# ---- roadshows ----------------------------------------------------------------------------------------
class RoadshowCreate(RoadshowFields, Body):
    """A roadshow as its organizer sets it up (the stored `Roadshow` adds the organizer and the workflow's state)."""


class RoadshowMove(RoadshowLogistics, Body):
    """The roadshow's new title and date, and city, start time and slot length if they change (left out, they keep
    their values), and the version the change is based on."""

    expected_version: Int = Field(ge=1, le=2**62)


class RoadshowAdjust(Body):
    pin: list[EntityId] = Field(default=[], max_length=500)
    exclude: list[EntityId] = Field(default=[], max_length=500)
    unpin: list[EntityId] = Field(default=[], max_length=500)
    unexclude: list[EntityId] = Field(default=[], max_length=500, description="candidates the solver may pick again")


class RoadshowExpire(Body):
    older_than_hours: Number = Field(default=72, ge=0, le=24 * 90)


class MeetingPublic(BaseModel):
    slot: int
    table: int
    project_id: str
    investor_id: str


class RoadshowPublic(BaseModel):
    """What an invitee sees: the event's public facts, their own invitations and their own meetings. No
    roster, picks, pins, exclusions or scores, and nothing about the other invitees."""

    model_config = ConfigDict(extra="forbid")  # so the organizer's full roadshow never passes for this shape

    title: str
    theme: str
    sectors: list[str]
    city: str
    date: date_type
    start_time: time_type
    slots: int
    tables: int
    slot_minutes: int
    status: Literal["draft", "proposed", "inviting", "scheduled", "cancelled"]
    invitations: list[Invitation]
    schedule: list[MeetingPublic]


class RoadshowSeats(BaseModel):
    projects: int = Field(ge=0)
    investors: int = Field(ge=0)


class RoadshowView(BaseModel):
    id: str
    version: int
    roadshow: Roadshow | RoadshowPublic = Field(
        description="the whole roadshow for its organizer and admins; the invitee's own part for invitees")
    names: dict[str, str] = Field(description="entity id -> display name, for every id the roadshow mentions")
    pair_scores: dict[str, dict[str, float]] = Field(
        default={}, description="organizers: investor id -> project id -> match score, for the roster's pairs")
    empty_seats: RoadshowSeats | None = Field(
        default=None, description="organizers: the roster's seats (n_projects, m_investors) that no eligible "
                                  "member holds: too few candidates when the roster was solved or backfilled (the "
                                  "city, the sectors and exclusions narrow the pool), declines and expiries no "
                                  "backfill could replace, and the seats of those in `left`. 0 and 0 when the roster "
                                  "is full; null before a roster is proposed, and for invitees")
    left: list[str] = Field(
        default=[], description="organizers: roster members and scheduled participants who are no longer eligible "
                                "(a project withdrawn or funded, an investor withdrawn or no longer verified). A "
                                "schedule rebuild drops their meetings (their calendars then cancel them), and the "
                                "next backfill (a decline, an expiry) gives their seats to others")


class RoadshowList(BaseModel):
    data: list[RoadshowView]
    count: int
