"""The character n-gram index: search order and scores against a brute-force cosine, through upserts, removals
and compaction."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from matcher import sparse
from matcher.sparse import SparseTextIndex, _best_first, cross_products, stack_rows, terms, words
from models.text import fold

TEXTS = {
    "vision": "工业视觉质检 industrial vision inspection",
    "battery": "储能电池回收 battery recycling",
    "shop": "跨境电商 cross-border e-commerce",
    "robot": "仓储机器人视觉导航 warehouse robot vision",
    "drug": "双抗药物 bispecific antibody",
}


def weighed(index: SparseTextIndex, key: str) -> np.ndarray:
    """[F] the key's tf-idf row, weighed from its stored term counts alone (not from the main matrix or delta)."""
    return index._weigh(index._rows[key]).toarray()[0]


def brute_force(index: SparseTextIndex, query: str, keys: list[str]) -> list[tuple[str, float]]:
    """Every key with a positive cosine, best first (ties by key), from the stored rows one by one."""
    q = index.query_vector(query).toarray()[0]
    scored = [(key, float(weighed(index, key) @ q)) for key in keys]
    return sorted(((k, s) for k, s in scored if s > 0), key=lambda kv: (-kv[1], kv[0]))


def searched(index: SparseTextIndex, query: str) -> list[tuple[str, float]]:
    return sorted(index.search(index.query_vector(query)), key=lambda kv: (-round(kv[1], 5), kv[0]))


@pytest.fixture
def index() -> SparseTextIndex:
    idx = SparseTextIndex(min_compact=3)  # compacts after a few changes, so main rows, delta and tombstones mix
    for key, text in TEXTS.items():
        idx.upsert(key, text)
    return idx


def assert_matches_brute_force(index: SparseTextIndex, query: str, live: list[str]) -> None:
    expected, got = brute_force(index, query, live), searched(index, query)
    assert [k for k, _ in got] == [k for k, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-5)
    scores = [s for _, s in index.search(index.query_vector(query))]
    assert scores == sorted(scores, reverse=True)  # best first


def test_search_is_the_brute_force_cosine_best_first(index):
    for query in ("视觉 vision", "battery 电池", "antibody", "nothing shared here: zzz"):
        assert_matches_brute_force(index, query, list(TEXTS))
    assert next(index.search(index.query_vector("视觉质检 inspection")))[0] == "vision"


def test_search_sees_upserts_and_removals_before_and_after_compaction(index):
    index.compact()
    index.upsert("vision", "冷链物流 cold-chain logistics")  # the main row goes stale, the delta holds the new one
    index.remove("battery")
    index.upsert("drone", "农业无人机 agricultural drone vision")
    live = ["vision", "shop", "robot", "drug", "drone"]
    assert_matches_brute_force(index, "vision 视觉", live)
    assert "battery" not in dict(index.search(index.query_vector("battery recycling")))
    assert next(index.search(index.query_vector("cold-chain logistics")))[0] == "vision"
    index.compact()
    assert_matches_brute_force(index, "vision 视觉", live)


def test_a_search_leaves_out_terms_most_rows_use_unless_the_query_has_no_others(monkeypatch):
    monkeypatch.setattr(sparse, "_COMMON_TERM_MIN_ROWS", 0)  # the rule's floor, so that 40 rows show it
    index = SparseTextIndex(min_compact=None)
    for n in range(40):  # "robot" in 3 rows of 40 (under a tenth), "startup" in all
        index.upsert(f"s-{n}", f"startup {n}" + (" robot" if n < 3 else ""))
    index.compact()
    index.upsert("s-new", "startup")  # the delta follows the same rule
    index.upsert("r-new", "robot startup")
    assert {k for k, _ in index.search(index.query_vector("robot startup"))} == {"s-0", "s-1", "s-2", "r-new"}
    assert len(list(index.search(index.query_vector("startup")))) == 42  # nothing else to go by: every row
    # scoring is untouched: the rows' similarities still count every term
    assert index.similarity(index.query_vector("startup"), ["s-5"])[0] > 0


def test_similarities_are_the_brute_force_cosines_of_every_live_row(index):
    index.compact()
    index.upsert("vision", "冷链物流 cold-chain logistics vision")  # a stale main row and its delta replacement
    index.remove("battery")  # a tombstone: not a column
    index.upsert("drone", "农业无人机 agricultural drone vision")  # delta only
    live = ["vision", "shop", "robot", "drug", "drone"]
    queries = ["vision 视觉", "battery recycling", "drone 无人机 vision", "shop"]
    sims = index.similarities(stack_rows([index.query_vector(q) for q in queries]))  # [4, 5]
    assert sims.shape == (len(queries), len(live))
    for q, row in zip(queries, sims, strict=True):
        expected = dict(brute_force(index, q, live))  # positive cosines only
        assert expected and sorted(row[row > 0].tolist()) == pytest.approx(sorted(expected.values()), rel=1e-5)


def test_the_revision_changes_with_every_upsert_removal_and_compaction(index):
    seen = [index.revision]
    for change in (lambda: index.upsert("new", "新的 text"), lambda: index.remove("new"), index.compact):
        change()
        seen.append(index.revision)
    assert len(set(seen)) == len(seen)
    index.remove("not there")
    index.upsert("vision", TEXTS["vision"])  # the same text again
    assert index.revision == seen[-1]


@pytest.mark.parametrize("empty_at", [[0], [2], [5], [0, 1, 5, 6]])
def test_compacted_rows_are_each_rows_own_weighing_with_texts_without_terms_anywhere(empty_at):
    texts = list(TEXTS.items())
    for n, at in enumerate(empty_at):
        texts.insert(at, (f"empty-{n}", "   " if n % 2 else ""))
    index = SparseTextIndex(min_compact=None)
    for key, text in texts:
        index.upsert(key, text)
    index.compact()
    keys = [k for k, _ in texts]
    found, known = index.rows(keys)
    assert known == list(range(len(keys)))
    np.testing.assert_allclose(found.toarray(), [weighed(index, k) for k in keys], rtol=1e-5, atol=1e-7)
    norms = np.sqrt(found.multiply(found).sum(axis=1)).A1
    np.testing.assert_allclose(norms, [0.0 if k.startswith("empty") else 1.0 for k in keys], rtol=1e-5)


def test_rows_come_back_in_the_order_asked_from_main_and_delta_alike(index):
    index.compact()
    index.upsert("shop", "跨境电商 B2B wholesale")  # now in the delta, its main row stale
    index.upsert("drone", "农业无人机 agricultural drone")  # only in the delta
    keys = ["drone", "unknown", "vision", "shop", "drug"]
    found, known = index.rows(keys)
    assert known == [0, 2, 3, 4]
    np.testing.assert_allclose(found.toarray(), [weighed(index, keys[j]) for j in known], rtol=1e-5, atol=1e-7)
    assert index.row("unknown") is None
    sims = index.similarity(index.query_vector("agricultural drone"), keys)
    assert sims[1] == 0.0 and sims[0] == sims.max() > 0.5  # unknown keys score 0


@pytest.mark.parametrize("first", [1, 2, 3, 100])
def test_best_first_sorts_band_by_band_like_one_full_sort(first):
    rng = np.random.default_rng(first)
    scores = rng.choice([0.0, 0.1, 0.2, 0.5, 0.7, 0.9], size=200).astype(np.float32)  # many ties, some zeros
    expected = [j for j in np.lexsort((np.arange(200), -scores)).tolist() if scores[j] > 0]
    assert list(_best_first(scores, first)) == expected


def test_terms_are_character_ngrams_and_marked_whole_words():
    found = terms("工业视觉 SaaS, USA")
    assert {"工业", "视觉", " sa", "saa", "usa"} <= set(found)  # n-grams, lower-cased
    assert [t for t in found if t.startswith("w:")] == ["w:工业视觉", "w:saas", "w:usa"]


def test_a_shared_word_outranks_the_same_letters_inside_other_words():
    index = SparseTextIndex()
    index.upsert("word", "cold-chain logistics startup in the usa")
    index.upsert("letters", "usage-based billing for casual users")  # 'usa' and 'sa' only inside other words
    index.compact()
    # with n-grams alone "letters" ranks first (0.172 vs 0.171): the whole word decides
    ranked = [key for key, _ in index.search(index.query_vector("usa saas"))]
    assert ranked == ["word", "letters"]


def test_words_are_whole_words_and_chinese_character_bigrams():
    assert words("Cold-chain SaaS 工业视觉, 云 USA sector_ai") == [
        "cold", "chain", "saas", "usa", "sector_ai", "工业", "业视", "视觉", "云"]


def test_traditional_chinese_and_full_width_letters_have_the_terms_of_simplified_and_ascii_ones():
    assert fold("臺北的資料庫 ＡＩ軟體") == "台北的资料库 AI软体"  # characters only: Taiwan's words stay its own
    assert fold("核心程序 智慧养老") == "核心程序 智慧养老"  # a simplified text stays as it is
    assert terms("儲能電池 ＡＩ") == terms("储能电池 AI")
    assert words("區塊鏈 雲端") == words("区块链 云端")
    index = SparseTextIndex()
    index.upsert("tw", "為餐廳提供雲端點餐系統")
    index.upsert("other", "为餐厅提供冷链配送")
    index.compact()
    assert [key for key, _ in index.search(index.query_vector("云端点餐"))][0] == "tw"


def test_an_index_weighed_by_another_ones_idf_follows_it_after_it_compacts():
    portfolios = SparseTextIndex(analyzer=words)
    projects = SparseTextIndex(analyzer=words, idf_from=portfolios)
    for key, text in {"a": "robotics usa", "b": "fintech usa", "c": "biotech usa"}.items():
        portfolios.upsert(key, text)
    portfolios.compact()  # every portfolio says "usa", only one "robotics"
    projects.upsert("p", "robotics usa")
    column = {w: projects.term_counts(w).indices[0] for w in ("robotics", "usa")}

    def ratio() -> float:
        row = projects.row("p")
        return float(row[0, column["robotics"]] / row[0, column["usa"]])

    rare = ratio()
    assert rare > 1.5
    for key in ("d", "e", "f"):  # now most portfolios say "robotics" too
        portfolios.upsert(key, "robotics")
    portfolios.compact()
    projects.maybe_compact()
    assert ratio() < rare
    # stored rows and new queries are weighed alike, by the portfolios' current IDF
    np.testing.assert_allclose(projects.row("p").toarray(), projects.query_vector("robotics usa").toarray(),
                               rtol=1e-6)


def test_a_small_index_has_an_idf_and_a_bulk_one_waits_for_compact():
    small, bulk = SparseTextIndex(), SparseTextIndex(min_compact=None)
    for index in (small, bulk):
        for key, text in TEXTS.items():
            index.upsert(key, text)
    assert small._idf.max() > 1.0  # compacted as it grew, far below min_compact rows
    assert bulk._idf.max() == 1.0 and bulk.generation == 0
    small.compact(), bulk.compact()
    np.testing.assert_allclose(bulk._idf, small._idf)


def test_changes_made_while_a_compaction_builds_stay_in_the_delta_as_if_it_had_compacted_when_planned():
    live, reference = SparseTextIndex(min_compact=None), SparseTextIndex(min_compact=None)
    for index in (live, reference):
        for key, text in TEXTS.items():
            index.upsert(key, text)
    plan = live.plan_compaction()
    reference.compact()  # the same rows and IDF as the plan
    for index in (live, reference):  # what the indexer applies while the plan builds
        index.upsert("vision", "工业视觉 vision line two")
        index.remove("shop")
        index.upsert("swap", "电池 battery swap")
    assert live.install(plan.build())
    assert sorted(live._rows) == sorted(reference._rows)
    for key in reference._rows:
        np.testing.assert_allclose(live.row(key).toarray(), reference.row(key).toarray(), rtol=1e-6)
    for query in ("视觉 vision", "battery 电池", "跨境电商", "line two"):
        assert searched(live, query) == searched(reference, query)
        assert_matches_brute_force(live, query, sorted(live._rows))


def test_a_compaction_planned_before_the_last_one_is_not_installed():
    index = SparseTextIndex(min_compact=None)
    for key, text in TEXTS.items():
        index.upsert(key, text)
    plan = index.plan_compaction()
    index.compact()  # e.g. an index compacted off the lock, far past due and so compacted at once meanwhile
    index.upsert("swap", "电池 battery swap")
    generation = index.generation
    assert not index.install(plan.build())
    assert index.generation == generation and next(index.search(index.query_vector("swap")))[0] == "swap"


def test_an_index_compacted_off_the_lock_is_due_past_its_limit_and_compacts_by_itself_only_past_twice_that():
    index = SparseTextIndex(min_compact=10)
    for n in range(20):
        index.upsert(f"k{n}", f"text number {n} w{n}")
    index.compact()  # 20 main rows: the limit is 10 changes
    index.compacted_off_lock = True
    generation = index.generation
    for n in range(20):  # new keys: one delta row each (a replaced main row would also leave a tombstone)
        index.upsert(f"new{n}", f"new text {n} n{n}")
        assert index.compaction_due() == (n + 1 > 10)
    assert index.generation == generation  # 20 changes: due, left to its owner
    index.upsert("new20", "one more")
    assert index.generation == generation + 1 and not index.compaction_due()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cross_products_are_the_matrix_product_with_the_transpose(seed):
    rng = np.random.default_rng(seed)
    rows = sp.random(30, 2**20, density=2e-5, format="csr", dtype=np.float32, random_state=seed)
    others = sp.random(5, 2**20, density=2e-5, format="csr", dtype=np.float32, random_state=seed + 10)
    others = sp.vstack([others, rows[int(rng.integers(0, 30))], sp.csr_matrix((1, 2**20), dtype=np.float32)]).tocsr()
    expected = (rows @ others.T).toarray()  # [30, 7]; one row of `others` shares every term of a row, one has none
    assert np.allclose(cross_products(rows, others), expected, atol=1e-6)
    assert cross_products(rows[:0], others).shape == (0, 7)
    assert not cross_products(rows, others[-1:]).any()
