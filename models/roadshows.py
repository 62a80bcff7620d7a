"""A roadshow: a themed pitch event with a roster, invitations and a 1:1 meeting schedule.

Like the other entities, every roadshow event carries the whole roadshow after the change, so a decline
and the backfill it triggers are one atomic event, and applying an event twice changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
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

from models.entities import EntityId, Int, Number, PlainText, Strict, from_log, one_of, refuse_type, sector_list
from models.taxonomy import SECTORS

InviteeKind = Literal["project", "investor"]
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)
# A roadshow has no time zone field: its date and start time are wall-clock time in China (UTC+8, no daylight
# saving), the zone its calendar files (matcher.schedule.to_ical) are written from.
TIMEZONE = timezone(timedelta(hours=8), "CST")
TIMEZONE_WORDS = "China Standard Time (UTC+8)"
# how dates and times are written, in the words errors use (here and in api/errors.py)
DATE_WORDS = "a date written YYYY-MM-DD, such as 2026-12-10"
TIME_WORDS = "a time of day written HH:MM, such as 14:00"


def _sensible_date(value: date, info: ValidationInfo) -> date:
    # fixed bounds, not "from today": they catch typos and absurd years such as 1900, and stay true
    if not from_log(info) and not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"must be between {FIRST_DATE} and {LAST_DATE}; got {value}")
    return value


def _local_time(value: time, info: ValidationInfo) -> time:
    # the calendar files put the time in the roadshow's zone: an offset given here would be dropped there silently
    if value.tzinfo is not None and not from_log(info):
        raise ValueError(f"must be a time of day without a UTC offset, such as 14:00 or 09:30: a roadshow's times are "
                         f"{TIMEZONE_WORDS}; got {value.isoformat()}")
    return value


# pydantic reads a number as seconds (a Unix time for a date, since midnight for a time), so `"date": 1` would be
# 1970-01-01 and `"start_time": 5` 00:00:05: nobody means that, so ask for the written form.
RoadshowDate = Annotated[date, refuse_type((int, float), f"must be {DATE_WORDS}; got "),
                         AfterValidator(_sensible_date),
                         Field(description=f"the event's day, {FIRST_DATE} to {LAST_DATE}")]
LocalTime = Annotated[time, refuse_type((int, float), f"must be {TIME_WORDS}; got "), AfterValidator(_local_time),
                      Field(description=f"wall-clock time without a UTC offset, in {TIMEZONE_WORDS}")]


def check_sector_quota(value: object) -> object:
    """The keys; each limit is checked by the field's type (`Int`, >= 0), whose errors name `sector_quota.<code>`."""
    if not isinstance(value, dict):
        raise ValueError("sector_quota must map sector codes to the most projects of that sector")
    for code in value:
        one_of("sector_quota key", SECTORS, code)
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
    fits: Int
    en: str
    zh: str


class RosterResult(Strict):
    project_ids: list[EntityId]
    investor_ids: list[EntityId]
    objective: Number
    bound: Number
    gap: Number
    method: str
    status: str
    seconds: Number
    picks: list[Pick] = []


class ScheduledMeeting(Strict):
    slot: Int
    table: Int
    project_id: EntityId
    investor_id: EntityId
    score: Number


class RoadshowLogistics(BaseModel):
    """When and where: what an organizer may still change after invitations went out (`models.api.RoadshowMove`);
    calendars follow through the .ics SEQUENCE."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText]
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), PlainText] = ""
    date: RoadshowDate
    start_time: LocalTime = time(14, 0)
    slot_minutes: Int = Field(default=20, ge=5, le=240)


class RoadshowFields(RoadshowLogistics):
    """What an organizer sets up: the body of a new roadshow (`models.api.RoadshowCreate`) and the core of the
    stored `Roadshow`."""

    theme: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), PlainText]
    sectors: list[str] = []
    n_projects: Int = Field(ge=1, le=100, description="project pitch slots")
    m_investors: Int = Field(ge=1, le=500, description="investor seats")
    slots: Int = Field(default=6, ge=1, le=50, description="1:1 meeting slots after the pitches")
    tables: Int = Field(default=10, ge=1, le=200)
    investor_meeting_cap: Int = Field(default=4, ge=1, le=50)
    project_min_meetings: Int = Field(default=1, ge=0, le=50)
    sector_quota: dict[str, Annotated[Int, Field(ge=0)]] = Field(
        default={}, description="sector code -> most projects of that sector")
    min_fits: Int = Field(default=1, ge=0, le=20, description="each pick fits at least this many chosen counterparts")
    fit_threshold: Number = Field(default=0.3, ge=0, le=1, description="a pair fits when its match score is above this")

    _sectors = field_validator("sectors", mode="before")(lambda v: sector_list(v, allow_empty=True))
    _quota = field_validator("sector_quota", mode="before")(check_sector_quota)

    @model_validator(mode="after")
    def _within_the_day(self, info: ValidationInfo) -> RoadshowFields:
        past = None if from_log(info) else meetings_past_midnight(self)
        if past:
            raise ValueError(past)
        return self


def meetings_past_midnight(rs: RoadshowFields) -> str | None:
    """Why the meetings of `rs` run past midnight, or None. `date` is the event's one day: calendars and pages count
    slot times from it, so meetings past midnight would show on the wrong day. New roadshows are checked when
    validated, moves explicitly (matcher.roadshows: a move validates the stored rest as it was accepted)."""
    start, day = rs.start_time, 24 * 60
    begin = start.hour * 60 + start.minute + start.second / 60
    end = begin + rs.slots * rs.slot_minutes
    if end <= day:
        return None
    days, minute = divmod(round(end), day)
    when = f"{minute // 60:02d}:{minute % 60:02d} " + ("the next day" if days == 1 else f"{days} days later")
    fit = int((day - begin) // rs.slot_minutes)
    return (f"slots, slot_minutes and start_time must keep the meetings within the roadshow's day (by midnight): "
            f"{rs.slots} slots of {rs.slot_minutes} minutes from {start:%H:%M} end at {when}; {fit} such slots fit "
            f"before midnight, so use fewer or shorter slots or start earlier")


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
    schedule_shortfalls: dict[str, Int] = {}  # project id -> meetings missing below the minimum
    status: Literal["draft", "proposed", "inviting", "scheduled", "cancelled"] = "draft"

    @model_validator(mode="after")
    def _room(self) -> Roadshow:
        if set(self.pinned) & set(self.excluded):
            both = sorted(set(self.pinned) & set(self.excluded))
            raise ValueError(f"a candidate cannot be both pinned and excluded: {both}")
        return self

    def invitation(self, invitee_id: str) -> Invitation | None:
        return next((i for i in self.invitations if i.invitee_id == invitee_id), None)
