"""Error bodies: every 4xx says which field was wrong and what is accepted, in the domain's words."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from models.api import ErrorBody, FieldError
from models.entities import PATTERN_WORDS
from models.roadshows import DATE_WORDS, TIME_WORDS

_SOURCES = ("body", "query", "path", "header", "cookie")
_FIELD = r"[A-Za-z_][A-Za-z0-9_.-]*"
_AND_OR = re.compile(r",? (?:and|or) |, ")
# A message about fields names them first, then says what is wrong: `ticket_min must be <= ticket_max`,
# `recipient_role and recipient_id are required when...`, `investor_id or project_id is required...`, or with the
# field's value or owner between: `project_id 'p-1' has no founder account...`, `project_id of a saved search
# cannot change...`.
_LEADING_FIELDS = re.compile(
    rf"^(?P<fields>{_FIELD}(?:(?:,|,? and|,? or) {_FIELD})*) (?P<between>(?:'[^']*'|of [^;:]*?) )?"
    r"(?:must|is|are|takes|should|has|cannot)\b")
_HEX_PATTERN = re.compile(r"^\^\[0-9a-f\]\{(\d+)(?:,(\d+))?\}\$$")
_DATETIME = "a date and time written YYYY-MM-DDTHH:MM:SS with a UTC offset, such as 2026-12-10T14:00:00+08:00"


def _shown(value: Any) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else repr(value)  # the caller's JSON spelling
    return text if len(text) <= 60 else text[:57] + "..."


def _printable(text: str) -> str:
    """A lone surrogate (JSON's "\\ud800") cannot be encoded as UTF-8, so a response naming it would fail: escape it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def pattern_words(pattern: str) -> str | None:
    """What a `pattern=` constraint accepts, in words (None for a pattern nobody described)."""
    if pattern in PATTERN_WORDS:
        return PATTERN_WORDS[pattern]
    hex_digits = _HEX_PATTERN.match(pattern)  # ids, hashes
    if hex_digits:
        low, high = hex_digits.groups()
        count = low if high is None else f"{low} to {high}"
        return f"{count} lowercase hexadecimal digits (0-9, a-f)"
    return None


def _parsing(what: str, ctx: Mapping[str, Any]) -> str:
    """`must be <what>`, with pydantic's reason when it gives one (`month value is outside expected range...`)."""
    return f"must be {what}" + (f" ({ctx['error']})" if ctx.get("error") else "")


def _quoted_choices(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" -> "a, b, c"."""
    return re.sub(r"'([^']*)'", r"\1", expected).replace(" or ", ", ")


def _message(err: Mapping[str, Any]) -> str:
    kind, ctx, given = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    got = f"; got {_shown(given)}" if isinstance(given, str | int | float | bool) or given is None else ""
    match kind:
        case "value_error" | "assertion_error":
            return str(err.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        case "missing":
            return "is required"
        case "literal_error" | "enum":
            # the domain's wording (`must be one of a, b`), so that query parameters read like body fields
            return f"must be one of {_quoted_choices(str(ctx.get('expected', '')))}{got}"
        case "greater_than":
            return f"must be > {ctx.get('gt')}{got}"
        case "greater_than_equal":
            return f"must be >= {ctx.get('ge')}{got}"
        case "less_than":
            return f"must be < {ctx.get('lt')}{got}"
        case "less_than_equal":
            return f"must be <= {ctx.get('le')}{got}"
        case "int_parsing" | "int_type" | "int_from_float":
            return f"must be an integer{got}"
        case "float_parsing" | "float_type" | "finite_number":
            return f"must be a finite number{got}"
        case "bool_parsing" | "bool_type":
            return f"must be true or false{got}"
        case "string_type":
            return f"must be a string{got}"
        case "string_too_short":
            return f"must be at least {ctx.get('min_length')} characters{got}"
        case "string_too_long":
            return f"must be at most {ctx.get('max_length')} characters"
        case "string_pattern_mismatch":
            words = pattern_words(str(ctx.get("pattern", "")))
            return f"must be {words}{got}" if words else f"must match the pattern {ctx.get('pattern')}{got}"
        case "string_unicode":  # JSON's "\ud800": half of a UTF-16 pair, which is no character
            return f"must be Unicode text; it holds a lone surrogate (half of a UTF-16 pair, such as \\ud800){got}"
        case "date_type" | "date_parsing" | "date_from_datetime_parsing" | "date_from_datetime_inexact":
            return f"{_parsing(DATE_WORDS, ctx)}{got}"
        case "time_type" | "time_parsing":
            return f"{_parsing(TIME_WORDS, ctx)}{got}"
        case "datetime_type" | "datetime_parsing" | "datetime_from_date_parsing" | "timezone_aware":
            return f"{_parsing(_DATETIME, ctx)}{got}"
        case "too_short":
            return f"must have at least {ctx.get('min_length')} items"
        case "too_long":
            return f"must have at most {ctx.get('max_length')} items"
        case "list_type":
            return "must be a list"
        case "dict_type" | "model_type" | "model_attributes_type":
            if isinstance(given, bytes):  # FastAPI parses a body as JSON only when the request says it is JSON
                return "must be a JSON object sent with the header Content-Type: application/json"
            return "must be a JSON object"
        case "extra_forbidden":
            return "is not a field of this request"
        case "json_invalid":
            return f"is not valid JSON ({ctx.get('error', 'syntax error')})"
        case "url_parsing" | "uuid_parsing":
            return f"{err.get('msg', 'is malformed')}{got}"
    return f"{err.get('msg', 'is invalid')}{got}"


def _named_fields(message: str) -> tuple[list[str], str]:
    """The fields a message names first, and what to show under each: the rest, when it names one field and goes
    straight on (`ticket_min must be <= ticket_max` -> `must be <= ticket_max`); else the whole message, which
    then reads right under each field it names."""
    leading = _LEADING_FIELDS.match(message)
    if leading is None:
        return [], message
    fields = list(dict.fromkeys(_AND_OR.split(leading.group("fields"))))
    if len(fields) == 1 and leading.group("between") is None:
        return fields, _without_field(fields[0], message)
    return fields, message


def _path(loc: Iterable[Any]) -> tuple[str | None, str]:
    """(source, dotted field) of an error's location; the field is "" for the whole body or parameter set."""
    parts = [str(p) for p in loc]
    source = parts.pop(0) if parts and parts[0] in _SOURCES else None
    if source == "query":  # a repeated parameter: its position says nothing to the caller
        parts = [p for p in parts if not p.isdigit()]
    return source, ".".join(parts)


def _without_field(field: str, message: str) -> str:
    """`reason is required...` shown under `reason` -> `is required...`: the field is said once, as `field`."""
    for name in (field, field.rpartition(".")[2]):
        if message.startswith(name + " "):
            return message[len(name) + 1:]
    return message


def _body(fields: list[FieldError]) -> ErrorBody:
    fields = [FieldError(field=_printable(f.field), message=_printable(f.message)) for f in fields]
    return ErrorBody(detail="; ".join(f"{f.field}: {f.message}" for f in fields), errors=fields)


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> ErrorBody:
    """pydantic/FastAPI errors -> one `field: message` per problem (per field, when a message names several)."""
    fields = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if err.get("type") == "missing" and loc == ["body"]:
            fields.append(FieldError(field="body", message="a JSON body is required"))
            continue
        if err.get("type") == "json_invalid":
            loc = ["body"]
        message = _message(err)
        source, field = _path(loc)
        if field:
            fields.append(FieldError(field=field, message=_without_field(field, message)))
            continue
        # a whole-body check (e.g. the ticket range) names its fields first. Only our own messages may name a
        # field: pydantic's say "Input should be..." ("Input" is no field)
        own = err.get("type") in ("value_error", "assertion_error")
        named, shown = _named_fields(message) if own else ([], message)
        fields += [FieldError(field=name, message=shown) for name in named or [source or "body"]]
    return _body(fields)


def domain_error(message: str) -> ErrorBody:
    """A domain message names its field(s) first (`ticket_min must be <= ticket_max`): those become the fields, and
    the rest the message (`ticket_min: must be <= ticket_max`). One that names none has an empty list."""
    named, shown = _named_fields(message)
    if not named:
        return ErrorBody(detail=_printable(message))
    return _body([FieldError(field=name, message=shown) for name in named])


def unreadable_body(cause: BaseException | None) -> ErrorBody:
    """FastAPI's 400 "There was an error parsing the body" as a 422 about `body`: why `json.loads` failed (the
    HTTPException's `__cause__`) and what is accepted."""
    if isinstance(cause, RecursionError):
        message = ("is nested too deeply to read (arrays or objects inside one another hundreds of levels deep); "
                   "send a JSON object, which a request needs nested a few levels at most")
    elif isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        # Python refuses to read an integer of more than sys.get_int_max_str_digits() digits (4300), a CPU guard
        message = (f"has a number of more than {sys.get_int_max_str_digits()} digits, too long to read; no field "
                   "takes a number that long")
    elif isinstance(cause, UnicodeDecodeError):
        message = (f"must be UTF-8 encoded JSON; byte {cause.object[cause.start]:#04x} at position {cause.start} "
                   "is not UTF-8")
    else:
        message = "must be a JSON document encoded as UTF-8"
    return _body([FieldError(field="body", message=message)])
