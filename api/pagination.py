"""Opaque cursors: base64url JSON (unpadded) of one key and its value.

Ranked lists (deal feed, a founder's investor list, search) page by offset: each page is ranked afresh, so the
cursor holds the offset of the next page under "o". Plain lists (a founder's projects, the registry, saved
searches) page by keyset: the cursor holds the last item shown, as (last change in microseconds since the epoch,
id), under "a", so the next page starts strictly after it whatever was added, changed or removed meanwhile (an
offset would shift by every item that left or moved before it). The alert inbox pages by keyset too, after the
last alert's id under "b" (api/routes/alerts.py)."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Query

from matcher.errors import InvalidRequest

MAX_OFFSET = 1000  # deeper pages cost candidates ~ 3 * (offset + k); nobody reads match 1000
OFFSET_KEY = "o"
AFTER_KEY = "a"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

T = TypeVar("T", int, str)
Item = TypeVar("Item")


class Changed(Protocol):
    """An item of a plain list: it pages in order of its last change, its id breaking ties."""

    @property
    def id(self) -> str: ...

    @property
    def updated_at(self) -> datetime: ...


C = TypeVar("C", bound=Changed)
# the `cursor` parameter of the plain lists' routes
PlainCursor = Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page: the page "
                                                                      "starts after the last item it showed")]


def encode_cursor(value: int | str | list[Any], key: str = OFFSET_KEY) -> str:
    """The cursor holding `value` under `key`: by default an offset cursor."""
    return base64.urlsafe_b64encode(json.dumps({key: value}).encode()).decode().rstrip("=")


def _foreign(cursor: str) -> InvalidRequest:
    return InvalidRequest(f"cursor must be a next_cursor returned by this API; got {cursor[:80]!r}")


def _held(cursor: str) -> dict[str, Any]:
    """What a cursor holds: {} for one that is no base64url JSON object."""
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def cursor_value(cursor: str, key: str, kind: type[T]) -> T:
    """The `kind` value a cursor holds under `key`; InvalidRequest naming the cursor when it holds none (a
    cursor of another list, a bool for an int, or no cursor of ours at all)."""
    value = _held(cursor).get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _foreign(cursor)
    return value


def decode_cursor(cursor: str | None) -> int:
    """The offset a ranked list's cursor encodes (0 without one)."""
    if cursor is None or cursor == "":
        return 0
    offset = cursor_value(cursor, OFFSET_KEY, int)
    if offset < 0 or offset > MAX_OFFSET:
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


def changed_key(item: Changed) -> tuple[int, str]:
    """Where an item stands in a plain list: (last change in microseconds since the epoch, id)."""
    return (item.updated_at - _EPOCH) // _MICROSECOND, item.id


def _after(cursor: str) -> tuple[int, str]:
    """The key of the last item a plain list's cursor says was shown."""
    held = _held(cursor)
    value = held.get(AFTER_KEY)
    if (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and not isinstance(value[0], bool)
            and isinstance(value[1], str)):
        return value[0], value[1]
    said = (f"cursor must be the next_cursor of this list's previous page (leave it out for the first page); "
            f"got {cursor[:80]!r}")
    if OFFSET_KEY in held:  # a cursor from before plain lists paged by keyset
        said += ", an offset cursor, which this list no longer takes: start again from the first page"
    raise InvalidRequest(said)


def plain_page(items: Sequence[C], cursor: str | None, limit: int) -> tuple[list[C], str | None]:
    """The page of a plain (unranked) list after the item `cursor` names, and the next page's cursor (None after
    the last page). `items`: the whole list in order of last change, oldest first (`changed_key`), as the listing
    functions return it.

    The page starts strictly after the cursor's item, wherever that item is now: an item added or changed
    meanwhile comes at the end (one changed after it was shown comes again there, as changed: the list's order
    says it is now the newest change), one removed is simply gone, and none is skipped."""
    start = bisect.bisect_right(items, _after(cursor), key=changed_key) if cursor else 0
    page = list(items[start:start + limit])
    more = start + limit < len(items)
    return page, encode_cursor(list(changed_key(page[-1])), AFTER_KEY) if more else None
