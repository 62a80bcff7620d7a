"""Error bodies: every 4xx says which field was wrong and what is accepted, in the domain's words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from models.api import ErrorBody, FieldError

_SOURCES = ("body", "query", "path", "header", "cookie")
_LEADING_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*) (?:must|is|takes|should|has)\b")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
            return f"must match {ctx.get('pattern')}{got}"
        case "too_short":
            return f"must have at least {ctx.get('min_length')} items"
        case "too_long":
            return f"must have at most {ctx.get('max_length')} items"
        case "list_type":
            return "must be a list"
        case "dict_type" | "model_type" | "model_attributes_type":
            return "must be a JSON object"
        case "extra_forbidden":
            return "is not a field of this request"
        case "json_invalid":
            return f"is not valid JSON ({ctx.get('error', 'syntax error')})"
        case "url_parsing" | "uuid_parsing" | "datetime_parsing":
            return f"{err.get('msg', 'is malformed')}{got}"
    return f"{err.get('msg', 'is invalid')}{got}"


def _field(loc: Iterable[Any], message: str) -> str:
    parts = [str(p) for p in loc]
    source = parts.pop(0) if parts and parts[0] in _SOURCES else None
    if source == "query":  # a repeated parameter: its position says nothing to the caller
        parts = [p for p in parts if not p.isdigit()]
    if parts:
        return ".".join(parts)
    # a whole-body check (e.g. the ticket range): its message starts with the field it is about
    leading = _LEADING_FIELD.match(message)
    return leading.group(1) if leading else (source or "body")


def _without_field(field: str, message: str) -> str:
    """`reason is required...` shown under `reason` -> `is required...`: the field is said once, as `field`."""
    for name in (field, field.rpartition(".")[2]):
        if message.startswith(name + " "):
            return message[len(name) + 1:]
    return message


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> ErrorBody:
    """pydantic/FastAPI errors -> one `field: message` per problem."""
    fields = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if err.get("type") == "missing" and loc == ["body"]:
            fields.append(FieldError(field="body", message="a JSON body is required"))
            continue
        if err.get("type") == "json_invalid":
            loc = ["body"]
        # only our own messages may name a field: pydantic's say "Input should be..." ("Input" is no field)
        own = err.get("type") in ("value_error", "assertion_error")
        raw = str(err.get("msg", "")).removeprefix("Value error, ") if own else ""
        field = _field(loc, raw)
        fields.append(FieldError(field=field, message=_without_field(field, _message(err))))
    return ErrorBody(detail="; ".join(f"{f.field}: {f.message}" for f in fields), errors=fields)


def domain_error(message: str) -> ErrorBody:
    """A domain message names its field first (`ticket_min must be <= ticket_max`): that becomes the field, and
    the rest the message (`ticket_min: must be <= ticket_max`)."""
    leading = _LEADING_FIELD.match(message)
    if leading is None:
        return ErrorBody(detail=message)
    field = leading.group(1)
    shown = _without_field(field, message)
    return ErrorBody(detail=f"{field}: {shown}", errors=[FieldError(field=field, message=shown)])
