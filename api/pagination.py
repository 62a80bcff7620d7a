"""Opaque cursors: base64url JSON around the offset of the next page."""

from __future__ import annotations

import base64
import binascii
import json

from matcher.errors import InvalidRequest

MAX_OFFSET = 1000  # deeper pages cost candidates ~ 3 * (offset + k); nobody reads match 1000


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, max_offset: int | None = MAX_OFFSET) -> int:
    """The offset a cursor encodes; `max_offset` None for plain lists, which have no ranking cost per page."""
    if cursor is None or cursor == "":
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = data["o"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidRequest(f"cursor must be a next_cursor returned by this API; got {cursor[:80]!r}") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0 \
            or (max_offset is not None and offset > max_offset):
        raise InvalidRequest(f"cursor must be a next_cursor returned by this API; got {cursor[:80]!r}")
    return offset


def next_cursor(offset: int, page_len: int, k: int) -> str | None:
    """A cursor for the page after this one, or None when this page was the last (or the depth limit)."""
    if page_len < k or offset + k > MAX_OFFSET:
        return None
    return encode_cursor(offset + k)
