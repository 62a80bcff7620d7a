"""Walking a list page by page: a ranked list shows each entity once, however large the side (candidates are drawn
per depth; see MatchService._tiers); a plain list skips nothing while it changes between pages (keyset cursors)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from api.pagination import plain_page
from bench.http import build_view
from matcher.service import MatchService


@pytest.fixture(scope="module")
def service() -> MatchService:
    # well past the ~400 projects where a page of 10 stops scoring the whole side
    view, _ = build_view(1500, 40, 0, np.random.default_rng(1))
    return MatchService(view)


def walk(page: Callable[[int, int], list], k: int, until: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < until:
        got = [m.entity_id for m in page(k, len(ids))]
        ids += got
        if len(got) < k:
            break
    return ids


@pytest.mark.parametrize("k", [10, 7])
def test_a_deal_feed_walked_page_by_page_repeats_nothing_and_starts_with_the_first_page(service, k):
    feed = walk(lambda k, offset: service.recommend_projects("i-3", k, offset=offset), k, 300)
    assert len(feed) >= 300 and len(set(feed)) == len(feed)
    assert feed[:k] == [m.entity_id for m in service.recommend_projects("i-3", k)]


def test_search_and_a_founders_list_walked_page_by_page_repeat_nothing(service):
    found = walk(lambda k, offset: service.search("carbon 储能", "projects", k, offset=offset), 10, 300)
    assert len(found) >= 300 and len(set(found)) == len(found)
    investors = walk(lambda k, offset: service.recommend_investors("p-7", k, offset=offset), 3, 40)
    assert len(investors) == 40 and len(set(investors)) == 40


# ---- plain lists: keyset cursors ------------------------------------------------------------------------
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    id: str
    updated_at: datetime
    version: int = 1


class Listing:
    """A plain list as the listing functions return it (oldest change first, id breaking ties), changed between
    pages as the read model would be: each change stamped later than the last."""

    def __init__(self, n: int) -> None:
        self.clock = T0
        self.items = {f"x-{k:02d}": Item(f"x-{k:02d}", self.tick()) for k in range(n)}

    def tick(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock

    def now(self) -> list[Item]:
        return sorted(self.items.values(), key=lambda v: (v.updated_at, v.id))

    def add(self, item_id: str) -> None:
        self.items[item_id] = Item(item_id, self.tick())

    def edit(self, item_id: str) -> None:
        v = self.items[item_id]
        self.items[item_id] = replace(v, updated_at=self.tick(), version=v.version + 1)


def walk_plain(listing: Listing, limit: int, between: Callable[[list[tuple[str, int]]], None]
               ) -> list[tuple[str, int]]:
    """(id, version) of every item shown, page after page; `between(shown so far)` changes the list between pages."""
    shown: list[tuple[str, int]] = []
    page, cursor = plain_page(listing.now(), None, limit)
    while True:
        shown += [(v.id, v.version) for v in page]
        if cursor is None:
            return shown
        between(shown)
        page, cursor = plain_page(listing.now(), cursor, limit)


def test_a_plain_list_changed_between_pages_skips_nothing_and_shows_again_only_what_changed_after_it_was_shown():
    listing = Listing(12)

    def between(shown: list[tuple[str, int]]) -> None:
        if len(shown) == 3:  # x-00..x-02 shown
            listing.items.pop("x-00")  # removed after it was shown
            listing.items.pop("x-02")  # the cursor's own item: the next page still starts after it
            listing.items.pop("x-05")  # removed before it was reached: never shown
            listing.add("x-new")  # added: at the end
            listing.edit("x-07")  # changed before it was reached: shown once, changed
            listing.edit("x-01")  # changed after it was shown: shown again, changed, at the end
        if len(shown) == 6:
            listing.edit("x-03")  # shown on this page, changed at once

    shown = walk_plain(listing, 3, between)
    ids = [i for i, _ in shown]
    assert ids == ["x-00", "x-01", "x-02", "x-03", "x-04", "x-06", "x-08", "x-09", "x-10", "x-11", "x-new", "x-07",
                   "x-01", "x-03"]
    assert len(set(shown)) == len(shown)  # no item twice as it was
    assert {i for i in ids if ids.count(i) > 1} == {"x-01", "x-03"}
    assert shown[-2:] == [("x-01", 2), ("x-03", 2)] and ("x-07", 2) in shown and ("x-07", 1) not in shown


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_items_changed_at_one_instant_page_by_id_and_a_page_ending_the_list_has_no_next_cursor(limit):
    items = [Item(f"x-{k}", T0) for k in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = plain_page(items, cursor, limit)
        seen += [v.id for v in page]
        pages += 1
        if cursor is None:
            break
    assert seen == [v.id for v in items] and pages == -(-7 // limit)


def test_a_plain_list_walked_while_the_registrar_verifies_each_page_shows_every_pending_profile():
    # the registrar's queue (verification=pending): what a page shows is verified, so it leaves the list
    listing = Listing(9)

    def verify(shown: list[tuple[str, int]]) -> None:
        for item_id, _ in shown[-2:]:
            listing.items.pop(item_id)
        listing.add(f"x-new{len(shown)}")  # and new profiles keep arriving

    shown = walk_plain(listing, 2, verify)
    assert [i for i, _ in shown][:9] == [f"x-{k:02d}" for k in range(9)] and len(set(shown)) == len(shown)
