"""Walking a ranked list page by page shows each entity once, however large the side (candidates are drawn per
depth; see MatchService._tiers)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

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
