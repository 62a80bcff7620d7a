"""Ranking and MatchService over a read model fed with events (fake encoder; no broker)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from matcher.encoder import investor_text, project_text
from matcher.errors import InvalidRequest, NotFound
from matcher.ranking import CROWDING_WEIGHT, FEATURES, found_terms, reasons, search_words, shared_terms
from matcher.service import Crowd, MatchFilters, MatchService
from matcher.view import SNAPSHOT_FORMAT, ReadModel
from models.entities import PortfolioCompany
from models.events import EntityVector, Event, Feedback
from models.taxonomy import SECTORS
from tests.factories import event, investor, project
from tests.fakes import HashingEncoder

ENC = HashingEncoder()


class World:
    """A read model fed the way the indexer feeds it: entity events, then their vectors."""

    def __init__(self) -> None:
        self.view = ReadModel(ENC.name)
        self.service = MatchService(self.view, ENC)
        self.versions: dict[str, int] = {}

    def _next(self, eid: str) -> int:
        self.versions[eid] = self.versions.get(eid, 0) + 1
        return self.versions[eid]

    def put_project(self, pid: str, event_type: str = "ProjectSubmitted", **fields) -> None:
        p = project(**fields)
        v = self._next(pid)
        self.view.apply(event(event_type, pid, p, v))
        vector = ENC.encode_documents([project_text(p)])[0].tolist()
        self.view.apply_vector("projects", EntityVector(entity_id=pid, entity_version=v, model=ENC.name,
                                                        content_hash="x", vector=vector))

    def put_investor(self, iid: str, event_type: str = "InvestorVerified", **fields) -> None:
        i = investor(**{"verification": "verified", **fields})
        v = self._next(iid)
        self.view.apply(event(event_type, iid, i, v))
        vector = ENC.encode_documents([investor_text(i)])[0].tolist()
        self.view.apply_vector("investors", EntityVector(entity_id=iid, entity_version=v, model=ENC.name,
                                                         content_hash="x", vector=vector))

    def feedback(self, iid: str, pid: str, action: str, reason: str | None = None) -> None:
        self.view.apply(event("FeedbackGiven", iid, Feedback(investor_id=iid, project_id=pid, action=action,
                                                             reason=reason)))


def registry_world() -> World:
    """Three investors: a hardware fund (i-robot), a biotech fund without portfolio (i-bio), a pending angel."""
    w = World()
    w.put_investor("i-robot", name="Robot Fund")
    w.put_investor("i-bio", name="生物医药基金", sectors=["biomedicine"], stages=["a", "b+"],
                   thesis="专注创新药与生物医药平台。Biotech platforms.", ticket_min_cny=10_000_000,
                   ticket_max_cny=50_000_000, cities=["杭州"], portfolio=[])
    w.put_investor("i-pending", name="Pending Angel", verification="pending", kind="individual_angel")
    return w


@pytest.fixture
def world() -> World:
    w = registry_world()
    w.put_project("p-vision")
    w.put_project("p-drug", name="抗体新药", summary="新型双抗药物研发，已完成临床前研究。", sectors=["biomedicine"],
                  stage="a", amount_sought_cny=30_000_000, city="杭州")
    w.put_project("p-shop", name="义乌小商品跨境", summary="Cross-border e-commerce for Yiwu small commodities.",
                  sectors=["ecommerce"], stage="angel", amount_sought_cny=2_000_000, city="义乌")
    return w


def test_feed_ranks_the_fitting_project_first_with_true_reasons(world):
    feed = world.service.recommend_projects("i-robot", k=3)
    assert feed[0].entity_id == "p-vision"
    top = feed[0]
    assert set(top.features) == set(FEATURES)
    inv, proj = world.view.investors["i-robot"].value, world.view.projects["p-vision"].value
    sector_reason = next(r for r in top.reasons if r.code == "sectors")
    for code in set(inv.sectors) & set(proj.sectors):  # every shared sector named, and only those
        assert SECTORS[code][1] in sector_reason.en and SECTORS[code][0] in sector_reason.zh
    for code in set(SECTORS) - (set(inv.sectors) & set(proj.sectors)):
        assert f"{SECTORS[code][1]}," not in sector_reason.en + ","
    assert any(r.code == "ticket" and "¥3,000,000" in r.en for r in top.reasons)


@pytest.mark.parametrize(("recent", "old"), [("p-vision", "p-shop"), ("p-shop", "p-vision")])
def test_profile_weighs_recent_portfolio_companies_more(world, recent, old):
    years = {recent: 2024, old: 2014}
    world.put_investor("i-shift", name="Shift Capital", portfolio=[
        PortfolioCompany(name="Eagle", sectors=["ecommerce"], year=years["p-shop"],
                         description="跨境电商 cross-border e-commerce marketplace for small commodities"),
        PortfolioCompany(name="Falcon", sectors=["ai"], year=years["p-vision"],
                         description="工业视觉质检 industrial vision inspection for factories"),
    ])
    profile = FEATURES.index("profile")
    x = world.service.pair_features([("i-shift", recent), ("i-shift", old)])  # one investor: the deal-feed path
    assert x[0, profile] > x[1, profile] > 0
    # a founder's list computes it per project; the value must not depend on the path
    per_project = world.service.pair_features([("i-shift", recent), ("i-bio", recent)])
    assert per_project[0, profile] == pytest.approx(x[0, profile], rel=1e-5)
    assert per_project[1, profile] == 0.0  # no portfolio, no profile


def test_withdrawn_and_funded_projects_never_appear(world):
    world.put_project("p-vision", event_type="ProjectWithdrawn", status="withdrawn")
    world.put_project("p-drug", event_type="ProjectFunded", status="funded", name="抗体新药", sectors=["biomedicine"])
    ids = {m.entity_id for m in world.service.recommend_projects("i-robot", k=50)}
    assert ids == {"p-shop"}
    assert "p-vision" not in {m.entity_id for m in world.service.search("视觉质检", "projects", k=10)}


def test_search_results_say_which_query_words_they_contain(world):
    found = {m.entity_id: m for m in world.service.search("视觉质检 factories", "projects", k=10)}
    codes = {r.code: r for r in found["p-vision"].reasons}
    assert codes["query_terms"].zh.startswith("包含搜索词：") and "视觉" in codes["query_terms"].en
    for m in found.values():  # each result says what kept it (closeness in meaning: tests/unit/test_search_relevance)
        assert {r.code for r in m.reasons} & {"query_terms", "meaning"}
    assert found_terms(search_words("储能 智能调度"), "工商业储能与智能调度") == ["储能", "智能调度"]  # not 智能 alone
    assert found_terms(search_words("智能"), "工商业储能与智能调度") == ["智能"]  # unless it is all the query says
    assert found_terms(search_words("art car"), "Smart scarf for cars; art") == ["art", "car"]  # whole words, or plural
    assert found_terms(search_words("robots"), "Robots and a robot") == ["robots"]  # not also its singular


def test_unverified_and_withdrawn_investors_never_appear_in_founders_lists(world):
    ids = {m.entity_id for m in world.service.recommend_investors("p-vision", k=50)}
    assert "i-pending" not in ids and "i-robot" in ids
    world.put_investor("i-robot", event_type="InvestorWithdrawn", status="withdrawn")
    assert "i-robot" not in {m.entity_id for m in world.service.recommend_investors("p-vision", k=50)}


def test_verification_makes_an_investor_appear(world):
    assert "i-pending" not in {m.entity_id for m in world.service.recommend_investors("p-vision", k=50)}
    world.put_investor("i-pending", name="Pending Angel", kind="individual_angel")
    assert "i-pending" in {m.entity_id for m in world.service.recommend_investors("p-vision", k=50)}


def test_a_passed_project_never_comes_back_and_a_saved_one_rises(world):
    world.feedback("i-robot", "p-vision", "passed", "too early")
    assert "p-vision" not in {m.entity_id for m in world.service.recommend_projects("i-robot", k=50)}
    before = {m.entity_id: m.score for m in world.service.recommend_projects("i-robot", k=50)}
    world.feedback("i-robot", "p-shop", "saved")
    after = {m.entity_id: m.score for m in world.service.recommend_projects("i-robot", k=50)}
    assert after["p-shop"] > before["p-shop"]


def test_what_an_investor_saved_moves_only_what_the_investor_sees(world):
    svc = world.service

    def seen() -> tuple[dict[str, float], float, float, float]:
        """The founder's list, a founder's alert or roster score, and the investor's own views of the pair."""
        return ({m.entity_id: m.score for m in svc.recommend_investors("p-shop", k=50)},
                svc.score_pairs("i-robot", ["p-shop"])[0].score, svc.explain("i-robot", "p-shop").score,
                next(m.score for m in svc.recommend_projects("i-robot", k=50) if m.entity_id == "p-shop"))

    founders, pairs, explained, feed = seen()
    world.feedback("i-robot", "p-shop", "saved")
    after = seen()
    assert after[:2] == (founders, pairs)
    assert after[2] > explained and after[3] > feed
    unsaved = next(m.score for m in svc.recommend_projects("i-robot", k=50, bookmarks=False) if m.entity_id == "p-shop")
    assert unsaved == pytest.approx(feed)  # what founders' alerts are chosen by


def test_an_investment_reported_twice_counts_once_in_the_investors_activity_and_capacity(world):
    def activity_and_capacity() -> tuple[float, float]:
        features = world.service.explain("i-bio", "p-drug").features
        return features["activity"], features["capacity"]

    world.feedback("i-bio", "p-drug", "invested")
    once = activity_and_capacity()
    for _ in range(5):  # a double click, or a client retrying
        world.feedback("i-bio", "p-drug", "invested")
    assert activity_and_capacity() == once and world.view.feedback.invested_count["i-bio"] == 1
    world.feedback("i-bio", "p-vision", "invested")
    assert activity_and_capacity()[0] > once[0]

    def robot_capacity() -> float:
        return world.service.explain("i-robot", "p-vision").features["capacity"]

    world.feedback("i-robot", "p-shop", "meeting_requested")
    asked = robot_capacity()
    world.feedback("i-robot", "p-shop", "meeting_requested")  # asked twice: one deal against the capacity
    assert robot_capacity() == asked > 0


@pytest.mark.parametrize(("filters", "check"), [
    (MatchFilters(sectors=frozenset({"ecommerce"})), lambda p: "ecommerce" in p.sectors),
    (MatchFilters(stages=frozenset({"a"})), lambda p: p.stage == "a"),
    (MatchFilters(cities=frozenset({"杭州"})), lambda p: p.city == "杭州"),
    (MatchFilters(ticket_max_cny=5_000_000), lambda p: p.amount_sought_cny <= 5_000_000),
])
def test_feed_filters_hold(world, filters, check):
    feed = world.service.recommend_projects("i-robot", k=50, filters=filters)
    assert feed
    assert all(check(world.view.projects[m.entity_id].value) for m in feed)


def test_k_larger_than_the_index_and_paging(world):
    everything = world.service.recommend_projects("i-robot", k=200)
    assert len(everything) == 3
    pages = world.service.recommend_projects("i-robot", k=2) + world.service.recommend_projects("i-robot", k=2,
                                                                                                 offset=2)
    assert [m.entity_id for m in pages] == [m.entity_id for m in everything]


def test_empty_index_and_unknown_ids():
    w = World()
    w.put_investor("i-1")
    assert w.service.recommend_projects("i-1", k=5) == []
    assert w.service.search("anything", "projects") == []
    with pytest.raises(NotFound):
        w.service.recommend_investors("p-missing")
    with pytest.raises(InvalidRequest, match="side must be one of"):
        w.service.search("x", "founders")
    with pytest.raises(InvalidRequest, match="k must be between"):
        w.service.recommend_projects("i-1", k=0)


def test_reciprocal_score_penalises_a_ticket_the_investor_cannot_write(world):
    world.put_project("p-big", name="视觉质检 VisionQC 2", amount_sought_cny=900_000_000)
    feed = {m.entity_id: m for m in world.service.recommend_projects("i-robot", k=10)}
    assert feed["p-big"].score < feed["p-vision"].score
    assert any(r.code == "ticket_mismatch" for r in feed["p-big"].reasons)


def test_the_ticket_reason_says_when_an_ask_needs_co_investors(world):
    inv = world.view.investors["i-robot"].value
    asks = {"p-in": inv.ticket_max_cny, "p-syndicate": 2 * inv.ticket_max_cny, "p-over": 4 * inv.ticket_max_cny}
    for pid, ask in asks.items():
        world.put_project(pid, name="视觉质检 VisionQC " + pid, amount_sought_cny=ask)
    explained = {pid: world.service.explain("i-robot", pid).reasons for pid in asks}
    codes = {pid: {r.code for r in reasons} & {"ticket", "ticket_syndicate", "ticket_mismatch"}
             for pid, reasons in explained.items()}
    assert codes == {"p-in": {"ticket"}, "p-syndicate": {"ticket_syndicate"}, "p-over": {"ticket_mismatch"}}
    syndicate = next(r for r in explained["p-syndicate"] if r.code == "ticket_syndicate")
    assert "with co-investors" in syndicate.en and "合投" in syndicate.zh


def test_exposure_lowers_an_investor_flooded_with_intro_requests(world):
    from models.events import Intro

    world.put_investor("i-robot2", name="Robot Fund Two", organization="other")
    base = {m.entity_id: m.score for m in world.service.recommend_investors("p-vision", k=10)}
    for n in range(6):
        world.view.apply(event("IntroRequested", f"x-{n}", Intro(project_id=f"p-{n}", investor_id="i-robot",
                                                                requested_by="founder")))
    after = {m.entity_id: m.score for m in world.service.recommend_investors("p-vision", k=10)}
    assert after["i-robot"] < base["i-robot"]
    assert after["i-robot2"] == pytest.approx(base["i-robot2"])


def test_capacity_counts_the_deals_of_the_last_30_days_whatever_order_their_events_came_in(world):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    world.put_investor("i-busy", name="Busy Fund", capacity_per_month=10)
    # an import replays history out of time order; 30 days ago exactly is outside the window
    for days_ago, action in ((45, "invested"), (3, "meeting_requested"), (30, "invested"), (29, "invested"),
                             (400, "meeting_requested"), (0, "invested")):
        world.view.apply(Event(type="FeedbackGiven", entity_id="i-busy", entity_version=1, actor="test",
                               occurred_at=now - timedelta(days=days_ago),
                               payload=Feedback(investor_id="i-busy", project_id=f"p-{days_ago}", action=action)))
    assert world.view.deals_in_last_30_days("i-busy", now) == 3
    assert world.view.deals_in_last_30_days("i-busy", now + timedelta(days=31)) == 0
    assert world.view.deals_in_last_30_days("i-bio", now) == 0
    explained = MatchService(world.view, ENC, clock=lambda: now).explain("i-busy", "p-vision")
    assert explained.features["capacity"] == pytest.approx(1 - 3 / 10)


def test_views_change_nothing_and_leave_no_trace_in_the_read_model(world):
    before = world.view.digest(), len(world.view.seen_feedback)
    for n in range(50):  # clients send one per project shown; the read model must not grow with them
        viewed = Feedback(investor_id="i-robot", project_id=f"p-{n}", action="viewed")
        assert world.view.apply(event("FeedbackGiven", "i-robot", viewed)) is False
    assert (world.view.digest(), len(world.view.seen_feedback)) == before
    world.feedback("i-robot", "p-vision", "saved")
    assert len(world.view.seen_feedback) == before[1] + 1  # other feedback is still de-duplicated by id


def test_a_city_written_in_english_matches_the_same_city_in_chinese():
    w = World()
    w.put_investor("i-hz", cities=["Hangzhou"])
    w.put_project("p-hz", city="杭州市")
    w.put_project("p-nb", city="宁波", name="另一个项目")
    feed = {m.entity_id: m for m in w.service.recommend_projects("i-hz", k=5)}
    assert feed["p-hz"].features["city"] == 1.0 and feed["p-nb"].features["city"] == 0.0
    assert any(r.code == "city" for r in feed["p-hz"].reasons)
    only_hz = w.service.recommend_projects("i-hz", k=5, filters=MatchFilters(cities=frozenset({"hangzhou"})))
    assert [m.entity_id for m in only_hz] == ["p-hz"]


def test_an_investor_writing_traditional_chinese_is_matched_with_simplified_projects():
    w = World()
    w.put_investor("i-tw", cities=["廣州"], sectors=["new_energy"], thesis="投資工商業儲能櫃與虛擬電廠。", portfolio=[])
    w.put_project("p-storage", city="广州市", sectors=["new_energy"], name="绿储能源",
                  summary="为中小制造企业提供工商业储能柜，参与虚拟电厂调峰。")
    w.put_project("p-solar", city="宁波", sectors=["new_energy"], name="光伏清洗机器人",
                  summary="屋顶光伏板自动清洗机器人。")
    feed = w.service.recommend_projects("i-tw", k=5)
    assert [m.entity_id for m in feed] == ["p-storage", "p-solar"]
    assert feed[0].features["city"] == 1.0 and feed[0].features["sparse"] > feed[1].features["sparse"]
    assert "工商业储能柜" in next(r.zh for r in feed[0].reasons if r.code == "terms")


def test_a_feed_finds_projects_like_the_portfolio_even_when_the_thesis_is_about_others():
    view = ReadModel("none")
    service = MatchService(view)  # no vectors: keyword candidates only
    thesis = "Industrial machine vision inspection for factories in Ningbo. 工业视觉质检。"
    view.apply(event("InvestorVerified", "i-1", investor(thesis=thesis, verification="verified", portfolio=[
        PortfolioCompany(name="Leafwing", sectors=["agriculture"], description="tea garden drones for pest control")])))
    for n in range(500):  # more than the candidate step lets through: it has to choose
        view.apply(event("ProjectSubmitted", f"p-{n}", project(name=f"Vision {n}", summary=thesis, traction="")))
    view.apply(event("ProjectSubmitted", "p-tea", project(
        name="Cha Fly", summary="Drones spraying tea gardens against pests.", sectors=["agriculture"], traction="")))
    by_thesis = [pid for pid, _ in view.project_text.search(view.investor_text.row("i-1"))]
    assert "p-tea" not in by_thesis[:service.candidates * 3]  # the thesis alone would not bring it in
    assert "p-tea" in service.project_candidates("i-1", 10)
    assert "portfolio" in {r.code for r in service.explain("i-1", "p-tea").reasons}  # "nearest: Leafwing"


def test_a_feed_is_crowded_by_investors_whose_portfolios_fit_a_project_better():
    w = World()
    cold = PortfolioCompany(name="Frostline", sectors=["logistics"], description="cold chain logistics trucks")
    robot = PortfolioCompany(name="Gridbot", sectors=["logistics"], description="warehouse robot vision picking")
    w.put_investor("i-me", name="Two Bets", portfolio=[cold, robot])
    same = {"sectors": ["logistics"], "stage": "seed", "city": "宁波", "traction": ""}
    w.put_project("p-cold", name="Coldway", summary="cold chain logistics trucks", **same)
    w.put_project("p-robot", name="Pickbot", summary="warehouse robot vision picking", **same)

    def feed() -> dict[str, object]:
        return {m.entity_id: m for m in w.service.recommend_projects("i-me", k=2)}

    alone = feed()
    assert list(alone) == ["p-robot", "p-cold"]
    assert alone["p-cold"].contributions["crowding"] == alone["p-robot"].contributions["crowding"] == 0.0
    assert "standing" in {r.code for r in alone["p-robot"].reasons}  # nobody fits it better
    # three verified funds that only did robot vision (and a pending one, which does not count) fit p-robot better
    for n in range(3):
        w.put_investor(f"i-robot-{n}", name=f"Robot Fund {n}", portfolio=[robot])
    w.put_investor("i-pending", name="Pending Robot Angel", verification="pending", portfolio=[robot])
    np.testing.assert_array_equal(w.service.better_fits("i-me", ["p-cold", "p-robot", "p-unknown"]), [0, 3, 0])
    crowded = feed()
    fit = w.service.explain("i-me", "p-robot").score  # the pair's own fit is not crowded
    assert crowded["p-robot"].score == pytest.approx(fit * 4 ** -CROWDING_WEIGHT)
    assert crowded["p-robot"].contributions["crowding"] == pytest.approx(crowded["p-robot"].score - fit)
    assert crowded["p-robot"].score == pytest.approx(sum(crowded["p-robot"].contributions.values()), abs=1e-6)
    assert "Only 3 other verified investors' portfolios fit it better" in [r.en for r in crowded["p-robot"].reasons]
    assert [m.entity_id for m in w.service.recommend_projects("i-me", k=2)][0] == "p-cold"
    # an investor without a portfolio has nothing to be crowded on
    w.put_investor("i-new", name="New Angel", portfolio=[])
    assert w.service.better_fits("i-new", ["p-robot"]) is None
    assert all("crowding" not in m.contributions for m in w.service.recommend_projects("i-new", k=2))


@pytest.mark.parametrize("n", [0, 1, 40, 64, 65, 3000])
def test_a_crowd_sketch_counts_exactly_up_to_its_exact_part_and_within_a_quarter_beyond(n):
    sims = np.random.default_rng(n).random((3, n)).astype(np.float32)  # three projects' similarities
    crowds = Crowd.of_rows(sims)
    assert len(crowds) == 3 and all(len(c.sims) <= Crowd.EXACT + 40 for c in crowds)  # ~100 numbers each
    for thresholds in ([-1.0, 2.0, 0.0], *[[t, t / 2, 1 - t] for t in np.linspace(0, 1, 97)], *sims[:, :50].T):
        got = Crowd.above(crowds, np.array(thresholds, dtype=np.float32))
        for row, threshold, counted in zip(sims, thresholds, got, strict=True):
            true = int((row > threshold).sum())
            if true <= Crowd.EXACT:
                assert counted == true
            else:
                assert 0.8 * true <= counted <= true


def test_a_feeds_crowd_sketches_are_cached_until_a_portfolio_or_the_project_changes():
    w = World()
    w.put_investor("i-a", portfolio=[PortfolioCompany(name="A", sectors=["ai"], description="vision robots")])
    w.put_investor("i-b", portfolio=[PortfolioCompany(name="B", sectors=["ai"], description="vision robots")])
    w.put_project("p-1", summary="vision robots")
    assert w.service.better_fits("i-a", ["p-1"]).tolist() == [0]  # i-b fits it exactly as well, not better
    first = w.service._crowd_cache["p-1"]
    w.service.better_fits("i-b", ["p-1"])
    assert w.service._crowd_cache["p-1"] is first  # the same sketch serves every investor's feed
    w.put_investor("i-c", portfolio=[PortfolioCompany(name="C", sectors=["ai"], description="vision robots p-1")])
    assert w.service._crowd_cache["p-1"] is first  # not read since
    w.put_project("p-2", summary="vision robots for farms")
    w.service.better_fits("i-a", ["p-1", "p-2"])
    assert w.service._crowd_cache["p-1"] is not first  # a portfolio changed: recomputed
    second = w.service._crowd_cache["p-1"]
    w.put_project("p-1", event_type="ProjectUpdated", summary="vision robots for warehouses")
    w.service.better_fits("i-a", ["p-1"])
    assert w.service._crowd_cache["p-1"] is not second  # the project changed
    w.put_investor("i-b", portfolio=[PortfolioCompany(name="B", sectors=["ai"], description="vision drones")])
    w.service.better_fits("i-a", ["p-1"])
    assert set(w.service._crowd_cache) == {"p-1"}  # stale sketches (p-2's) are dropped, not kept


def test_a_view_restored_from_its_snapshot_scores_pairs_as_the_live_one_did(world, tmp_path):
    world.put_investor("i-shift", name="Shift Capital", portfolio=[
        PortfolioCompany(name="Falcon", sectors=["ai"], description="工业视觉质检 industrial vision inspection")])
    world.view.compact_text()  # the live view's indexes as a restart would leave them
    pairs = [(i, p) for i in ("i-robot", "i-bio", "i-shift") for p in ("p-vision", "p-drug", "p-shop")]
    live = world.service.pair_features(pairs)
    world.view.save(tmp_path / "view.pkl")
    restored = MatchService(ReadModel.load(tmp_path / "view.pkl", ENC.name), ENC)
    np.testing.assert_allclose(restored.pair_features(pairs), live, rtol=1e-5, atol=1e-6)
    assert live[:, FEATURES.index("profile")].max() > 0


def test_intro_counts_follow_each_intros_latest_status_through_redelivery_stale_events_and_snapshots(world, tmp_path):
    from models.events import Intro

    view = world.view

    def intro(iid: str, pid: str, version: int, status: str) -> Event:
        return event(f"Intro{status.capitalize()}", f"x-{iid}-{pid}",
                     Intro(project_id=pid, investor_id=iid, requested_by="founder", status=status), version)

    for pid in ("p-vision", "p-drug", "p-shop"):
        view.apply(intro("i-robot", pid, 1, "requested"))
    accepted = intro("i-robot", "p-vision", 2, "accepted")
    assert view.apply(accepted) and not view.apply(accepted)  # a redelivery changes nothing
    assert not view.apply(intro("i-robot", "p-vision", 1, "requested"))  # nor does an older version
    view.apply(intro("i-robot", "p-drug", 2, "withdrawn"))
    assert view.pending_intros() == {"i-robot": 1}  # p-shop only
    assert view.accepted_intro("i-robot", "p-vision") and not view.accepted_intro("i-robot", "p-drug")
    assert view.accepted_intro_projects("i-robot") == ["p-vision"] and view.accepted_intro_projects("i-bio") == []
    view.save(tmp_path / "view.pkl")
    restored = ReadModel.load(tmp_path / "view.pkl", ENC.name)
    assert restored.pending_intros() == {"i-robot": 1} and restored.accepted_intro("i-robot", "p-vision")


def test_each_partys_projects_and_intros_are_listed_from_its_own_index_through_changes_and_snapshots(world, tmp_path):
    from api.policy import own_intros, own_projects
    from matcher.commands import Principal
    from models.events import Intro

    def intro(nid: str, iid: str, pid: str, version: int, status: str) -> Event:
        return event(f"Intro{status.capitalize()}", nid,
                     Intro(project_id=pid, investor_id=iid, requested_by="founder", status=status), version)

    view = world.view
    world.put_project("p-a", owner="f-ann")
    world.put_project("p-b", owner="f-ann")
    world.put_project("p-c", owner="f-bob")
    world.put_project("p-b", event_type="ProjectUpdated", owner="f-bob")  # moved: only a crafted event does that
    world.put_project("p-imported", owner=None)  # no founder account: nobody's to list
    view.apply(intro("n-1", "i-robot", "p-a", 1, "requested"))
    view.apply(intro("n-2", "i-bio", "p-b", 1, "requested"))
    view.apply(intro("n-3", "i-robot", "p-c", 1, "requested"))
    view.apply(intro("n-1", "i-robot", "p-a", 2, "accepted"))  # a status change keeps it where it was

    view.save(tmp_path / "view.pkl")
    for model in (view, ReadModel.load(tmp_path / "view.pkl", ENC.name)):
        def listed(role: str, who: str, of=own_intros, model=model) -> list[str]:
            return sorted(x.id for x in of(model, Principal("k", role, who)))

        assert listed("founder", "f-ann", own_projects) == ["p-a"]
        assert listed("founder", "f-bob", own_projects) == ["p-b", "p-c"]
        assert listed("founder", "f-ann") == ["n-1"] and listed("founder", "f-bob") == ["n-2", "n-3"]
        assert listed("investor", "i-robot") == ["n-1", "n-3"] and listed("investor", "i-nobody") == []
        assert "p-imported" in model.projects and "p-imported" in listed("admin", "", own_projects)
        assert len(listed("admin", "")) == 3


def test_only_recommendable_investors_portfolios_weigh_the_portfolio_words(world):
    # the pending angel's portfolio stays out of the corpus; verification brings it in, withdrawal takes it out
    assert "i-robot" in world.view.portfolio_words and "i-pending" not in world.view.portfolio_words
    world.put_investor("i-pending", name="Pending Angel", kind="individual_angel")  # now verified
    assert "i-pending" in world.view.portfolio_words
    world.put_investor("i-pending", event_type="InvestorWithdrawn", status="withdrawn")
    assert "i-pending" not in world.view.portfolio_words
    # its own portfolio still counts when it is scored
    assert world.service.explain("i-pending", "p-vision").features["portfolio"] > 0


@pytest.mark.parametrize("damage", ["torn", "foreign", "other_encoder"])
def test_an_unreadable_snapshot_is_ignored_and_the_log_replayed(world, tmp_path, damage):
    path = tmp_path / "view.pkl"
    world.view.save(path)
    if damage == "torn":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # raises pickle.UnpicklingError
    elif damage == "foreign":
        path.write_bytes(pickle.dumps({"format": SNAPSHOT_FORMAT, "encoder_name": ENC.name}))  # fields missing
    view = ReadModel.load_or_new(path, "other-encoder" if damage == "other_encoder" else ENC.name)
    assert not view.projects and not view.offsets  # empty: the caller replays the log from the start


class _CallOnLoad:
    """Pickles as a call of `target(*args)` at load time: what a tampered snapshot would hold."""

    def __init__(self, target, *args) -> None:
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


def test_a_snapshot_that_names_anything_but_snapshot_data_is_refused_before_it_runs(world, tmp_path):
    import os

    from matcher import crunchbase, encoder
    from models.settings import Settings

    path, ran = tmp_path / "view.pkl", tmp_path / "ran"
    header = {"format": SNAPSHOT_FORMAT, "encoder_name": ENC.name}
    tampered = [
        pickle.dumps({**header, "projects": _CallOnLoad(os.system, f"touch {ran}")}),  # a shell command
        pickle.dumps({**header, "projects": _CallOnLoad(crunchbase.load_crunchbase, str(tmp_path))}),  # a function
        b"cmatcher.learned\nLearnedRanker.load\n.",  # a class's method, by its dotted path
        # classes that do more than store what they are given: they read a path, the environment
        pickle.dumps({**header, "projects": _CallOnLoad(encoder.SentenceTransformerEncoder, str(tmp_path))}),
        pickle.dumps({**header, "projects": _CallOnLoad(Settings)}),
        b"cmatcher.crunchbase\nPath\n.",  # a class a module of ours imports from elsewhere
    ]
    for data in tampered:
        path.write_bytes(data)
        with pytest.raises(pickle.UnpicklingError, match="a snapshot holds no"):
            ReadModel.load(path, ENC.name)
        assert not ReadModel.load_or_new(path, ENC.name).projects  # the log is replayed instead
    assert not ran.exists()
    world.view.save(path)  # what the service writes loads as before
    assert ReadModel.load(path, ENC.name).digest() == world.view.digest()


def test_shared_terms_leave_out_words_of_deals_and_pitches():
    thesis = "We lead Pre-A rounds of RMB 2-5 million in companies with two paying pilots and real revenue."
    text = "OncoMab: our lead candidate enters two pilot hospitals; revenue from licensing, RMB 3 million raised"
    assert shared_terms(thesis, text) == []
    assert shared_terms(thesis + " Oncology.", text + " Oncology antibodies.") == ["oncology"]


def test_shared_terms_read_chinese_as_the_keyword_index_does():
    assert shared_terms("投资工业视觉与 robotics", "工业视觉质检 robotics arms") == ["robotics", "工业视觉"]
    # rarer characters (CJK Extension A, here 䶮) stay inside the run, as the keyword index reads them
    assert shared_terms("研究䶮䶮材料", "䶮䶮材料公司") == ["䶮䶮材料"]


# From the demo data (scripts/demo_data.json), where the explanations showed fragments and filler: the theses of
# i-001, i-005, i-006 and i-015, project p-001 (绿储能源) in its three parts, and projects p-024 and p-007 (the
# latter shortened) as `reasons` joins them.
THESIS_I001 = ("曾任电商平台技术总监，现在用个人资金做早期投资。关注用大模型和数据能力解决中小企业经营痛点的"
               "企业服务项目，例如智能客服、财税、合同管理、营销自动化。偏好有产品经理背景的创始团队，"
               "最好能在杭州当面交流。")
THESIS_I005 = ("由温州、台州一批制造业企业家组成的天使投资团体。看好传统产业转型升级：鞋服、五金、汽配、"
               "模具等行业的数字化改造和自动化设备，以及面向海外市场的消费品品牌。成员可以提供工厂场景、"
               "销售渠道和供应链资源。")
THESIS_I006 = ("科技支行专营科创企业信贷，提供人才贷、知识产权质押贷款和科创积分贷，单户授信一百万至一千万元。"
               "要求企业有稳定营收或已获得股权融资，优先支持高新技术企业和专精特新企业，行业以智能制造、"
               "新材料、新能源为主。")
THESIS_I015 = ("聚焦智能制造与机器人：工业机器人、协作机器人、机器视觉、智能物流装备和工业软件。"
               "投资阶段为Pre-A轮至A轮，单笔五百万至两千万元，可对接宁波、台州的制造业龙头企业做场景验证。")
P001 = {"name": "绿储能源",
        "summary": "为浙江中小制造企业提供工商业储能柜及运维服务。利用峰谷电价差在夜间充电、白天放电，"
                   "帮助工厂降低用电成本百分之十五以上，并在限电时保障关键产线供电。核心团队来自长兴本地"
                   "电池龙头企业，掌握电池管理系统和热管理设计。",
        "traction": "已在长兴、德清落地12个工商业项目，累计装机8兆瓦时，2024年营收2100万元。"}
P001_TEXT = f"{P001['name']} {P001['summary']} {P001['traction']}"  # as `reasons` reads a project
P024_TEXT = ("糖友管家 面向二型糖尿病患者的线上慢病管理服务。连续血糖仪数据自动上传，营养师和内分泌医生在"
             "互联网医院随访，及时调整饮食、运动和用药方案。 付费会员9000人，会员糖化血红蛋白平均下降0.8个"
             "百分点，已与一家商业保险公司合作。")
P007_TEXT = ("店小二智能客服 为淘宝、天猫和抖音小店商家提供基于大模型的智能客服。机器人能读懂商品详情和售后"
             "规则，自动回复买家咨询、处理退换货，复杂问题再转人工。 付费商家超过800家。")


@pytest.mark.parametrize(("thesis", "text", "expected"), [
    # these showed 能源为, 企业, 提供, 万元: 能源为 ran from the project's name (绿储能源) into its summary (为浙江…)
    (THESIS_I006, P001_TEXT, ["营收", "制造", "能源"]),
    (THESIS_I005, P001_TEXT, ["制造"]),  # 提供工, 制造, 企业: 提供工 from 提供工厂 / 提供工商业
    (THESIS_I015, P001_TEXT, ["龙头企业", "制造"]),  # 龙头企业, 制造, 万元
    (THESIS_I001, P024_TEXT, []),  # 数据, 服务, 管理, 自动: all filler
    (THESIS_I001, P007_TEXT, ["智能客服", "大模型"]),  # 智能客服, 大模型, 自动
], ids=["i-006 p-001", "i-005 p-001", "i-015 p-001", "i-001 p-024", "i-001 p-007"])
def test_shared_terms_of_the_demo_data_are_whole_words_without_filler(thesis, text, expected):
    terms = shared_terms(thesis, text)
    assert terms == expected
    assert not {"能源为", "提供工", "企业", "提供", "万元", "项目", "团队", "服务"} & set(terms)


@pytest.mark.parametrize(("thesis", "text", "expected"), [
    ("看好新能源汽车产业链", "新能源重卡换电站运营", ["新能源"]),
    ("关注储能、光伏", "为中小制造企业提供工商业储能柜及运维服务", ["储能"]),
    ("行业以新能源为主", "绿储能源 为中小制造企业提供储能柜", ["能源"]),  # not 能源为: two phrases of the text
    ("关注储能电站", "储能，电站运维", ["储能", "电站"]),  # not 储能电站 across the comma
    ("成员可以提供工厂场景", "为中小制造企业提供工商业储能柜", []),  # not 提供工
    ("服务宁波地区的大学生创业项目", "已在长兴落地12个工商业项目", []),  # not 业项目
    ("最快3天放款", "夜间充电、白天放电", []),  # not 天放
    ("协作机器人", "协作机械臂", ["协作"]),  # not 协作机
    ("我们在线教育方向很活跃", "面向县城学生的在线教育平台", ["在线教育"]),  # 在 here is no function word
    ("关注大数据风控", "基于大数据的小微信用评估", ["大数据"]),  # a generic word (数据) inside a longer term
    ("投资碳管理软件", "园区碳管理SaaS", ["碳管理"]),
    ("医疗器械与康复器械", "康复医疗器械", ["医疗器械", "康复"]),  # not also 器械, a part of 医疗器械
    ("单笔三百万至两千万元，偏好有临床资源的团队", "团队有三家医院临床资源，融资两千万元", ["临床资源"]),
], ids=["compound", "word", "one-phrase", "comma", "verb+fragment", "fragment+generic", "fragment", "word-part",
        "zai-in-word", "generic-in-phrase", "phrase", "nested", "numbers"])
def test_shared_terms_keep_chinese_words_and_phrases_and_drop_fragments_and_filler(thesis, text, expected):
    assert shared_terms(thesis, text) == expected


@pytest.mark.parametrize(("thesis", "text", "expected"), [
    ("专做义乌电商卖家的 working capital loans. We use Amazon、速卖通 and TikTok Shop 店铺流水",
     "义乌 sellers on Amazon and TikTok Shop, 店铺 analytics", ["amazon", "tiktok", "shop", "义乌"]),
    ("B2B fintech: payments, supply-chain finance, credit scoring for small businesses",
     "Supply-chain finance and credit for small auto-parts makers", ["supply-chain", "finance", "credit", "small"]),
    ("钱塘远景资本合伙人, covering the energy transition. 我们关注储能、光伏 and EMS software",
     "Energy storage: 工商业储能 for factories, with our own EMS", ["energy", "ems", "储能"]),
    ("Silver economy 银发经济 fund: 智慧养老、康复 robotics", "社区智慧养老 with rehabilitation robotics",
     ["robotics", "智慧养老"]),
], ids=["mixed-shop", "english", "mixed-energy", "mixed-care"])
def test_shared_terms_of_english_and_mixed_texts_are_as_before(thesis, text, expected):
    assert shared_terms(thesis, text) == expected


def test_shared_terms_of_long_repetitive_texts_stay_short_and_read_only_the_texts_beginning():
    # explanations run for every ranked pair under the read model's lock: a term is at most 16 characters, and only
    # the first 1500 characters of each text are read (a shared word after them is not found)
    terms = shared_terms("智能制造" * 1000, "智能制造" * 1000)
    assert terms and all(len(t) <= 16 for t in terms)
    assert shared_terms("储能" + "。" * 2000 + "氢能源", "氢能源和储能") == ["储能"]


def test_the_thesis_terms_reason_names_the_shared_words():
    found = {r.code: r for r in reasons(investor(thesis=THESIS_I006), project(**P001), None, 0.0)}
    assert found["terms"].en == "Thesis terms matched: 营收, 制造, 能源"
    assert found["terms"].zh == "投资方向关键词匹配：营收、制造、能源"


def test_the_read_model_builds_its_due_keyword_compactions_while_other_threads_take_its_lock(monkeypatch):
    import threading

    from matcher import sparse

    view = ReadModel(ENC.name)
    view.compact_off_lock()
    for n in range(3):  # the first compacts at once (an empty index); then 2 changes against 1 main row: due
        view.apply(event("ProjectSubmitted", f"p-{n}", project(name=f"项目 {n}", summary=f"视觉质检 line {n}")))
    assert view.project_text.compaction_due() and view.project_words.compaction_due()
    taken: list[bool] = []
    build = sparse.Compaction.build

    def build_while_a_request_comes(plan):
        def request() -> None:
            taken.append(view.lock.acquire(timeout=5))
            view.lock.release()
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
        return build(plan)

    monkeypatch.setattr(sparse.Compaction, "build", build_while_a_request_comes)
    view.compact_text_indexes()
    assert taken and all(taken)
    assert not any(index.compaction_due() for index in view.text_indexes())
    assert next(view.project_text.search(view.project_text.query_vector("line 2")))[0] == "p-2"
