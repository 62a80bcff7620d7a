"""A roadshow: a themed pitch event with a roster, invitations and a 1:1 meeting schedule.

Like the other entities, every roadshow event carries the whole roadshow after the change, so a decline
and the backfill it triggers are one atomic event, and applying an event twice changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.entities import EntityId, PlainText, Strict, from_log, one_of, sector_list
from models.taxonomy import SECTORS

InviteeKind = Literal["project", "investor"]
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)


def _sensible_date(value: date, info: ValidationInfo) -> date:
    # fixed bounds, not "from today": they catch typos and absurd years such as 1900, and stay true
    if not from_log(info) and not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"must be between {FIRST_DATE} and {LAST_DATE}; got {value}")
    return value


RoadshowDate = Annotated[date, AfterValidator(_sensible_date),
                         Field(description=f"the event's day, {FIRST_DATE} to {LAST_DATE}")]


def check_sector_quota(value: object, info: ValidationInfo) -> object:
    if not isinstance(value, dict):
        raise ValueError("sector_quota must map sector codes to the most projects of that sector")
    for code, limit in value.items():
        one_of("sector_quota key", SECTORS, code)
        # bool is an int in Python: without its own check `true` would pass as a quota of 1 (as the log may hold)
        if (isinstance(limit, bool) and not from_log(info)) or not isinstance(limit, int) or limit < 0:
            raise ValueError(f"sector_quota[{code}] must be an integer >= 0; got {limit!r}")
    return value


class Invitation(Strict):
    kind: InviteeKind
    invitee_id: EntityId
    status: Literal["pending", "accepted", "declined", "expired"] = "pending"
    sent_at: datetime
    answered_at: datetime | None = None
    replaces: EntityId | None = None  # set when this invitation is a backfill


class Pick(Strict):
    kind: InviteeKind
    id: EntityId
    fits: int
    en: str
    zh: str


class RosterResult(Strict):
    project_ids: list[EntityId]
    investor_ids: list[EntityId]
    objective: float
    bound: float
    gap: float
    method: str
    status: str
    seconds: float
    picks: list[Pick] = []


class ScheduledMeeting(Strict):
    slot: int
    table: int
    project_id: EntityId
    investor_id: EntityId
    score: float


class RoadshowLogistics(BaseModel):
    """When and where: what an organizer may still change after invitations went out (`models.api.RoadshowMove`);
    calendars follow through the .ics SEQUENCE."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText]
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), PlainText] = ""
    date: RoadshowDate
    start_time: time = time(14, 0)
    slot_minutes: int = Field(default=20, ge=5, le=240)


class RoadshowFields(RoadshowLogistics):
    """What an organizer sets up: the body of a new roadshow (`models.api.RoadshowCreate`) and the core of the
    stored `Roadshow`."""

    theme: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), PlainText]
    sectors: list[str] = []
    n_projects: int = Field(ge=1, le=100, description="project pitch slots")
    m_investors: int = Field(ge=1, le=500, description="investor seats")
    slots: int = Field(default=6, ge=1, le=50, description="1:1 meeting slots after the pitches")
    tables: int = Field(default=10, ge=1, le=200)
    investor_meeting_cap: int = Field(default=4, ge=1, le=50)
    project_min_meetings: int = Field(default=1, ge=0, le=50)
    sector_quota: dict[str, int] = Field(default={}, description="sector code -> most projects of that sector")
    min_fits: int = Field(default=1, ge=0, le=20, description="each pick fits at least this many chosen counterparts")
    fit_threshold: float = Field(default=0.3, ge=0, le=1, description="a pair fits when its match score is above this")

    _sectors = field_validator("sectors", mode="before")(lambda v: sector_list(v, allow_empty=True))
    # the roadshow's own check, before lax int parsing turns `true` into 1
    _quota = field_validator("sector_quota", mode="before")(check_sector_quota)


class Roadshow(RoadshowFields, Strict):
    organizer_id: EntityId
    pinned: list[EntityId] = []
    excluded: list[EntityId] = []
    roster: RosterResult | None = None
    invitations: list[Invitation] = []
    schedule: list[ScheduledMeeting] = []
    # meetings that left the schedule (a rebuild, someone gone) and have not come back: calendars that imported
    # an earlier .ics hold them, so the .ics carries them as cancelled
    dropped_meetings: list[ScheduledMeeting] = []
    schedule_shortfalls: dict[str, int] = {}  # project id -> meetings missing below the minimum
    status: Literal["draft", "proposed", "inviting", "scheduled", "cancelled"] = "draft"

    @model_validator(mode="after")
    def _room(self) -> Roadshow:
        if set(self.pinned) & set(self.excluded):
            both = sorted(set(self.pinned) & set(self.excluded))
            raise ValueError(f"a candidate cannot be both pinned and excluded: {both}")
        return self

    def invitation(self, invitee_id: str) -> Invitation | None:
        return next((i for i in self.invitations if i.invitee_id == invitee_id), None)
