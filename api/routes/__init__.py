"""Thin routes: parse, call CommandService / MatchService / the read policy, map the result."""

from __future__ import annotations

from typing import Any

from models.api import ErrorBody

_ERRORS = {
    401: "missing, unknown or revoked API key",
    403: "the key's role or entity may not do this",
    404: "no such entity (or not visible to this key)",
    409: "stale expected_version, or the entity's state does not allow it",
    413: "request body larger than the limit",
    422: "a field is missing or invalid; the message names it and says what is accepted",
    429: "too many unknown or revoked API keys from this address lately; retry after Retry-After seconds",
    503: "not now: the broker did not acknowledge the write, an earlier change is not applied yet, or the roster "
         "solver is busy; nothing was written, retry after Retry-After seconds",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI documentation of the error responses a route can give. Errors are JSON even on routes whose
    success is another media type (FastAPI would otherwise document them as the route's media type). A route that
    authenticates (401) can also refuse a client that failed authentication too often (429)."""
    if 401 in codes:
        codes = (*codes, 429)
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {code: {"model": ErrorBody, "description": _ERRORS[code], "content": json_body} for code in codes}


READ = errors(401, 403, 404, 422)
WRITE = errors(401, 403, 404, 409, 413, 422, 503)
