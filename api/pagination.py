"""Opaque cursors: base64url JSON (unpadded) of one key and its value. Offset cursors hold the offset of the
next page under "o"; keyset cursors (the alert inbox) hold the last item of the previous page under their own
key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TypeVar

from matcher.errors import InvalidRequest

MAX_OFFSET = 1000  # deeper pages cost candidates ~ 3 * (offset + k); nobody reads match 1000
OFFSET_KEY = "o"

T = TypeVar("T", int, str)
Item = TypeVar("Item")


def encode_cursor(value: int | str, key: str = OFFSET_KEY) -> str:
    """The cursor holding `value` under `key`: by default an offset cursor."""
    return base64.urlsafe_b64encode(json.dumps({key: value}).encode()).decode().rstrip("=")


def _foreign(cursor: str) -> InvalidRequest:
    return InvalidRequest(f"cursor must be a next_cursor returned by this API; got {cursor[:80]!r}")


def cursor_value(cursor: str, key: str, kind: type[T]) -> T:
    """The `kind` value a cursor holds under `key`; InvalidRequest naming the cursor when it holds none (a
    cursor of another list, a bool for an int, or no cursor of ours at all)."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))[key]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise _foreign(cursor) from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _foreign(cursor)
    return value


def decode_cursor(cursor: str | None, max_offset: int | None = MAX_OFFSET) -> int:
    """The offset a cursor encodes; `max_offset` None for plain lists, which have no ranking cost per page."""
    if cursor is None or cursor == "":
        return 0
    offset = cursor_value(cursor, OFFSET_KEY, int)
    if offset < 0 or (max_offset is not None and offset > max_offset):
        raise _foreign(cursor)
    return offset


def ranked_page(found: list[Item], offset: int, k: int) -> tuple[list[Item], str | None]:
    """The page of `k` at `offset` of a ranked list, and the next page's cursor, from `found`: what the list had
    from `offset` when k + 1 were asked for (`Page.asked`)."""
    return found[:k], next_cursor(offset, k, len(found))


def next_cursor(offset: int, k: int, found: int) -> str | None:
    """A cursor for the page of `k` after the one at `offset`, or None when that page was the last (or the depth
    limit). `found`: how many items there were from `offset` when k + 1 were asked for, one more than a page, so that
    a page that ends the list exactly is known to be the last."""
    if found <= k or offset + k > MAX_OFFSET:
        return None
    return encode_cursor(offset + k)


def plain_page(items: list[Item], cursor: str | None, limit: int) -> tuple[list[Item], str | None]:
    """The page of a plain list (unranked: no depth limit) that `cursor` points at, and the next page's cursor (None
    after the last page)."""
    offset = decode_cursor(cursor, max_offset=None)  # a plain list: no ranking cost per page
    more = offset + limit < len(items)
    return items[offset:offset + limit], encode_cursor(offset + limit) if more else None
