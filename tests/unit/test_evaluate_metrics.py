"""Evaluation metrics against hand-computed values, and the temporal split and the events built from it
leaking nothing of the test window (synthetic frames: no data files needed)."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from matcher.crunchbase import (
    CATEGORY_SECTORS,
    Company,
    CrunchbaseData,
    company_id,
    crunchbase_events,
    investor_id,
    tag_sectors,
)
from matcher.evaluate import Cut, gini, ndcg_at, recall_at, reciprocal_rank, score_rankings, temporal_split
from matcher.view import ReadModel
from models.events import Event, decode_event
from models.taxonomy import SECTORS

# ---- metrics ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 0.5), (4, 0.5), (50, 0.5)])
def test_recall_counts_the_share_of_relevant_items_in_the_top_k(k, expected):
    assert recall_at(["a", "b", "c", "d"], {"b", "x"}, k) == expected


def test_ndcg_with_binary_gain_matches_the_hand_computed_value():
    # hits at ranks 2 and 3: DCG = 1/log2(3) + 1/log2(4); ideal: ranks 1 and 2 = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at(["a", "b", "c"], {"b", "c"}, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.6934, abs=1e-4)


@pytest.mark.parametrize(("ranked", "relevant", "expected"), [
    (["b", "c", "a"], {"b", "c"}, 1.0),  # perfect order
    (["a", "d", "e"], {"b"}, 0.0),  # no hit
    ([f"r{i}" for i in range(10)], {f"r{i}" for i in range(12)}, 1.0),  # more relevant items than k: ideal is k hits
])
def test_ndcg_edge_cases(ranked, relevant, expected):
    assert ndcg_at(ranked, relevant, 10) == pytest.approx(expected)


@pytest.mark.parametrize(("ranked", "expected"), [(["a", "b", "x"], 1 / 3), (["x", "b"], 1.0), (["a", "b"], 0.0)])
def test_reciprocal_rank_is_one_over_the_first_hit(ranked, expected):
    assert reciprocal_rank(ranked, {"x", "y"}) == pytest.approx(expected)


@pytest.mark.parametrize("metric", [lambda r, s: recall_at(r, s, 10), lambda r, s: ndcg_at(r, s, 10)])
def test_a_query_without_positives_is_refused(metric):
    with pytest.raises(ValueError, match="relevant must not be empty"):
        metric(["a"], set())


@pytest.mark.parametrize(("counts", "expected"), [
    ([5, 5, 5, 5], 0.0),  # equal exposure
    ([0, 0, 0, 1], 0.75),  # all on one of four: (n - 1) / n
    ([1, 2, 3, 4], 0.25),  # sum of |xi - xj| over ordered pairs / (2 n^2 mean) = 20 / 80
    ([4, 1, 3, 2], 0.25),  # order does not matter
    ([], 0.0),
    ([0, 0], 0.0),
])
def test_gini_matches_hand_computed_values(counts, expected):
    assert gini(counts) == pytest.approx(expected)


def test_score_rankings_averages_over_queries_and_measures_exposure():
    rankings = {"q1": ["a", "b"], "q2": ["a", "c"]}
    positives = {"q1": {"b"}, "q2": {"z"}}
    report = score_rankings(rankings, positives, catalogue=4)
    assert report["recall@10"] == pytest.approx(0.5)  # 1 and 0
    assert report["mrr"] == pytest.approx(0.25)  # 1/2 and 0
    assert report["catalogue_coverage@10"] == pytest.approx(0.75)  # a, b, c of 4
    assert report["gini@10"] == pytest.approx(gini([2, 1, 1, 0]))


# ---- the split -----------------------------------------------------------------------------------------
T, END = date(2020, 1, 1), date(2021, 1, 1)


def frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    pairs = pd.DataFrame(rows, columns=["company", "investor", "date"])
    pairs["date"] = pd.to_datetime(pairs["date"])
    pairs["amount_usd"] = 1_000_000.0
    pairs["round_type"] = ""
    pairs["stage"] = ""
    return pairs.sort_values(["date", "company", "investor"]).reset_index(drop=True)


PAIRS = frame([
    # history: "big" invests in three companies, "small" in one
    ("h1", "big", "2018-03-01"), ("h2", "big", "2019-02-01"), ("h3", "big", "2019-06-01"),
    ("h1", "small", "2019-07-01"),
    # h3 raises again in the window: not cold start, and not a test positive
    ("h3", "big", "2020-03-01"),
    # cold-start companies: first funded inside the window
    ("n1", "big", "2020-02-01"), ("n1", "small", "2020-02-01"), ("n1", "big", "2020-08-01"),
    ("n2", "small", "2020-05-01"),  # only an investor outside the pool: not evaluable
    ("n3", "newcomer", "2020-06-01"),
    # after the window
    ("late", "big", "2021-03-01"),
])


def test_split_keeps_history_and_test_apart():
    split = temporal_split(PAIRS, Cut(T, END), pool_min=3)
    history = set(zip(split.history["company"], split.history["investor"], strict=True))
    test_pairs = {(c, i) for c, investors in split.positives.items() for i in investors}
    assert not test_pairs & history
    assert not set(split.companies) & set(split.history["company"])
    assert (split.history["date"] < pd.Timestamp(T)).all()
    assert split.pool == ["big"]  # >= 3 distinct history companies
    assert split.positives == {"n1": {"big"}}  # n2/n3 only have investors outside the pool; h3 is not new
    assert "late" not in set(split.window["company"])
    assert split.coverage["window_pairs"] == 5  # n1 x3, n2, n3
    assert split.coverage["window_pairs_in_pool"] == 2
    assert split.coverage["distinct_pairs_in_pool"] == 1
    assert split.investor_positives == {"big": {"n1"}}


def test_pool_threshold_counts_distinct_companies():
    assert temporal_split(PAIRS, Cut(T, END), pool_min=1).pool == ["big", "small"]
    assert temporal_split(PAIRS, Cut(T, END), pool_min=4).pool == []
    with pytest.raises(ValueError, match="pool_min must be >= 1"):
        temporal_split(PAIRS, Cut(T, END), pool_min=0)


def synthetic_data() -> CrunchbaseData:
    companies = {name: Company(name, ("Software", "Mobile"), "San Francisco", "SF Bay", "CA", "USA")
                 for name in set(PAIRS["company"])}
    return CrunchbaseData(PAIRS, companies)


def test_history_events_hold_nothing_from_the_window():
    events = list(crunchbase_events(synthetic_data(), until=T))
    test_ids = {company_id(c) for c in ("n1", "n2", "n3", "late")}
    assert all(isinstance(e, Event) and decode_event(e.to_bytes()) == e for e in events)
    assert not {e.entity_id for e in events if e.type == "ProjectSubmitted"} & test_ids
    feedback = [e for e in events if e.type == "FeedbackGiven"]
    assert len(feedback) == 4 and all(e.occurred_at.date() < T for e in feedback)
    assert not {e.payload.project_id for e in feedback} & test_ids
    big = next(e.payload for e in events if e.type == "InvestorVerified" and e.entity_id == investor_id("big"))
    assert sorted(c.name for c in big.portfolio) == ["h1", "h2", "h3"]  # h3's 2020 round is not in it
    assert investor_id("newcomer") not in {e.entity_id for e in events}


def test_only_the_named_investors_are_verified():
    events = list(crunchbase_events(synthetic_data(), until=T, verify=["big"]))
    verified = {e.entity_id for e in events if e.type == "InvestorVerified"}
    registered = {e.entity_id for e in events if e.type == "InvestorRegistered"}
    assert verified == {investor_id("big")} and registered == {investor_id("big"), investor_id("small")}


def test_imported_companies_are_funded_unless_first_funded_since_open_since():
    def statuses(**kwargs) -> dict[str, str]:
        view = ReadModel("none")
        for e in crunchbase_events(synthetic_data(), **kwargs):
            view.apply(e)
        return {pid: stored.value.status for pid, stored in view.projects.items()}

    every = set(synthetic_data().companies)
    assert statuses() == {company_id(c): "funded" for c in every}
    # h3 raised again in 2020, but was first funded in 2019: it got its financing before that day
    first_funded_2020_on = {"n1", "n2", "n3", "late"}
    assert statuses(open_since=date(2020, 1, 1)) == {
        company_id(c): "open" if c in first_funded_2020_on else "funded" for c in every}
    funded = next(e for e in crunchbase_events(synthetic_data()) if e.type == "ProjectFunded"
                  and e.entity_id == company_id("h3"))
    assert funded.entity_version == 2 and funded.occurred_at.date() == date(2020, 3, 1)  # its last round


def test_converting_twice_gives_identical_events():
    data = synthetic_data()
    assert list(crunchbase_events(data, until=T)) == list(crunchbase_events(data, until=T))


# ---- category table ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tag", "sectors"), [
    ("Biotechnology", ["biomedicine"]), ("E-Commerce", ["ecommerce"]), ("Clean Technology", ["environmental"]),
    ("Semiconductors", ["semiconductors"]), ("FinTech", ["fintech"]), ("biotech", ["biomedicine"]),
    ("Underwater Basket Weaving", ["other"]),
])
def test_category_tags_map_onto_the_sector_taxonomy(tag, sectors):
    assert tag_sectors(tag) == sectors


def test_the_category_table_only_names_taxonomy_sectors():
    assert set(CATEGORY_SECTORS) <= set(SECTORS)
