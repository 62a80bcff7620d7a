"""The project library's and the angel investor registry's entities.

Every entity event carries the whole entity after the change (event-carried state), because the entity
topics are compacted: only the latest event per key survives, so it must be enough to rebuild the entity.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.taxonomy import FOUNDER_BACKGROUNDS, INVESTOR_KINDS, SECTORS, STAGES, city_key

MAX_TEXT = 5000
MAX_CNY = 10_000_000_000  # ¥10bn: the most any amount (ask, ticket) may state
# C0 controls (and DEL) other than tab, newline and carriage return: invisible, they break CSV/iCal exports, logs
# and terminals, and NUL is refused by many stores; nobody types them. Also the bidirectional embeddings and
# overrides (U+202A-U+202E): one left open reverses the text after it wherever the value is shown (a page, an
# e-mail, a calendar: "live مرحبا" from "مرحبا \u202e evil"); right-to-left text needs none of them. The isolates
# (U+2066-U+2069) and marks (U+200E, U+200F) stay allowed: they cannot leak past their own text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e]")


# The validation context of a value the log already holds: an event read back (`decode_event`), or a stored entity
# checked again with a change that does not touch its other fields (a new roster, new pins).
KEPT = {"from_log": True}


def from_log(info: ValidationInfo) -> bool:
    """Whether the value is read back from the event log (`decode_event`) rather than entered now. Checks added
    after the log accepted an event skip it there: a replica rebuilding from the log must not drop what an
    earlier version accepted."""
    return bool(info.context and info.context.get("from_log"))


def no_control_chars(value: str, info: ValidationInfo) -> str:
    """The one check of user-entered text (names, summaries, reasons...); the error's location names the field."""
    bad = None if from_log(info) else _CONTROL.search(value)
    if bad is not None:
        kind = "bidirectional embedding or override characters" if bad.group() >= "\u202a" else "control characters"
        raise ValueError(f"must not contain {kind} (U+{ord(bad.group()):04X})")
    return value


# add to the Annotated[str, ...] of every field a user types into
PlainText = AfterValidator(no_control_chars)


def refuse_type(kind: type | tuple[type, ...], message: str) -> BeforeValidator:
    """A check before pydantic's own: a value of Python type `kind` is refused, with `message` followed by the value
    as JSON, unless it is read back from the log (`from_log`)."""

    def check(value: object, info: ValidationInfo) -> object:
        if isinstance(value, kind) and not from_log(info):
            raise ValueError(message + json.dumps(value))
        return value

    return BeforeValidator(check)


# the type of every numeric field of a request or an entity (constraints go in Field(...) as usual). A float field
# still takes JSON integers. Python's bool is an int, so pydantic's lax mode would take JSON `true` for 1 and `false`
# for 0 (an earlier version stored them so: the log's stay readable).
Int = Annotated[int, refuse_type(bool, "must be an integer, not ")]
Number = Annotated[float, refuse_type(bool, "must be a number, not ")]

ENTITY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# what each pattern accepts, in words: errors say this instead of showing the regex (api/errors.py)
PATTERN_WORDS = {
    ENTITY_ID_PATTERN: "an id of 1 to 64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit "
                       "(such as p-3f2a9c1b7d4e)",
    EMAIL_PATTERN: "an email address such as name@example.com",
}
EntityId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PlainText]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), PlainText]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_TEXT), PlainText]


def one_of(field: str, vocabulary: dict[str, tuple[str, str]], value: object) -> str:
    """Return `value` if it is a code of `vocabulary`, else raise the error users see."""
    if isinstance(value, str) and value in vocabulary:
        return value
    raise ValueError(f"{field} must be one of {', '.join(vocabulary)}; got {value!r}")


def sector_list(value: object, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"sectors must be a list of sector codes ({', '.join(SECTORS)})")
    if not value and not allow_empty:
        raise ValueError("sectors must name at least one sector")
    if len(value) > 8:
        raise ValueError(f"sectors takes at most 8 sectors; got {len(value)}")
    return list(dict.fromkeys(one_of("sector", SECTORS, s) for s in value))


def stage_list(value: object, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list) or (not value and not allow_empty):
        kind = "a list" if allow_empty else "a non-empty list"
        raise ValueError(f"stages must be {kind} of {', '.join(STAGES)}")
    return list(dict.fromkeys(one_of("stage", STAGES, s) for s in value))


def _codes(vocabulary: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The OpenAPI schema of a code field: the codes it accepts (validated by `one_of`, which names them)."""
    return {"enum": list(vocabulary)}


def _code_list(vocabulary: dict[str, tuple[str, str]], max_items: int = 8) -> dict[str, Any]:
    return {"items": {"type": "string", "enum": list(vocabulary)}, "minItems": 1, "maxItems": max_items}


def check_ticket_range(low: int | None, high: int | None) -> None:
    """The one ticket-range rule of entities, API bodies and saved searches (either end may be open)."""
    if low is not None and high is not None and low > high:
        raise ValueError(f"ticket_min_cny must be <= ticket_max_cny; got {low} > {high}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(Strict):
    """Private: shown only to a counterpart with an accepted introduction."""

    email: Annotated[str, StringConstraints(max_length=200, pattern=EMAIL_PATTERN),
                     PlainText] | None = None
    phone: Annotated[str, StringConstraints(max_length=40), PlainText] | None = None
    wechat: Annotated[str, StringConstraints(max_length=60), PlainText] | None = None


ProjectStatus = Literal["open", "funded", "withdrawn"]


class ProjectFields(BaseModel):
    """What a founder states about a project: the body of a submission or an edit (`models.api.ProjectCreate`)
    and the core of the stored `Project`, so both reject the same input with the same message."""

    name: Name
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT), PlainText]
    sectors: list[str] = Field(json_schema_extra=_code_list(SECTORS))
    stage: str = Field(json_schema_extra=_codes(STAGES))
    amount_sought_cny: Int = Field(gt=0, le=MAX_CNY)
    city: City
    founder_background: str = Field(json_schema_extra=_codes(FOUNDER_BACKGROUNDS))
    incubator: Annotated[str, StringConstraints(max_length=200), PlainText] | None = None
    team_size: Int = Field(default=1, ge=1, le=100_000)
    traction: LongText = ""
    contact: Contact = Contact()

    _sectors = field_validator("sectors", mode="before")(lambda v: sector_list(v))
    _stage = field_validator("stage", mode="before")(lambda v: one_of("stage", STAGES, v))
    _background = field_validator("founder_background", mode="before")(
        lambda v: one_of("founder_background", FOUNDER_BACKGROUNDS, v))


class Project(ProjectFields, Strict):
    status: ProjectStatus = "open"
    owner: EntityId | None = None  # the founder account that submitted it (private)


class PortfolioCompany(Strict):
    name: Name
    sectors: list[str] = []
    description: LongText = ""
    year: Int | None = Field(default=None, ge=1900, le=2100)

    _sectors = field_validator("sectors", mode="before")(lambda v: sector_list(v, allow_empty=True))


Verification = Literal["pending", "verified", "rejected"]
InvestorStatus = Literal["active", "withdrawn"]


class InvestorFields(BaseModel):
    """What an investor states about itself: the body of a registration or an edit (`models.api.InvestorCreate`)
    and the core of the stored `Investor`."""

    name: Name
    kind: str = Field(json_schema_extra=_codes(INVESTOR_KINDS))
    organization: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), PlainText] = ""
    thesis: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT), PlainText]
    sectors: list[str] = Field(json_schema_extra=_code_list(SECTORS))
    stages: list[str] = Field(json_schema_extra=_code_list(STAGES, len(STAGES)))
    ticket_min_cny: Int = Field(gt=0, le=MAX_CNY)
    ticket_max_cny: Int = Field(gt=0, le=MAX_CNY)
    cities: list[City] = Field(default=[], max_length=50)
    capacity_per_month: Int = Field(default=2, ge=0, le=1000)
    portfolio: list[PortfolioCompany] = Field(default=[], max_length=2000)
    contact: Contact = Contact()

    _sectors = field_validator("sectors", mode="before")(lambda v: sector_list(v))
    _kind = field_validator("kind", mode="before")(lambda v: one_of("kind", INVESTOR_KINDS, v))
    _stages = field_validator("stages", mode="before")(lambda v: stage_list(v))

    @model_validator(mode="after")
    def _ticket_range(self) -> InvestorFields:
        check_ticket_range(self.ticket_min_cny, self.ticket_max_cny)
        return self


class Investor(InvestorFields, Strict):
    verification: Verification = "pending"
    rejection_reason: Annotated[str, StringConstraints(max_length=1000), PlainText] | None = None
    status: InvestorStatus = "active"

    @property
    def in_market(self) -> bool:
        """Verified by a registrar and not withdrawn: matched, alerted, introduced and invited; founders see it."""
        return self.verification == "verified" and self.status == "active"

    @property
    def identity(self) -> str:
        """What people look an investor up by, and what its matching text leaves out: name, organization, cities,
        and each city also as `city_key` writes it (Hangzhou, 杭州市: 杭州), so that a search for either name, made
        a city key too, finds it."""
        return " ".join([self.name, self.organization, *self.cities, *map(city_key, self.cities)])
