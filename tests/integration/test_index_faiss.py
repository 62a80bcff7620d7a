"""VectorIndex on the real FAISS HNSW path: recall against exact search, and no stale keys after churn."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.index import VectorIndex

pytestmark = pytest.mark.slow

DIM = 384
N = 20_000
N_QUERIES = 200
EXACT_LIMIT = 1_000  # far below N, so every index here searches with HNSW


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray, noise: float = 0.8) -> np.ndarray:
    """[n, DIM] unit vectors around random `centres` ([c, DIM]); uniform noise alone has no neighbours."""
    rows = centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, DIM)) * (noise / np.sqrt(DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((300, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return {"vectors": clustered(N, rng, centres), "queries": clustered(N_QUERIES, rng, centres)}


@pytest.fixture(scope="module")
def shared(data: dict[str, np.ndarray]) -> VectorIndex:
    """One HNSW index per module for the tests that only read; writers restore their own copy from its state."""
    index = VectorIndex(DIM, exact_limit=EXACT_LIMIT)
    index.upsert_many([f"p{i}" for i in range(N)], data["vectors"])
    index.sync()
    assert index.mode == "hnsw"
    return index


@pytest.fixture(scope="module")
def built(shared: VectorIndex) -> dict[str, np.ndarray]:
    return shared.to_state()


def exact_top(pool: dict[str, np.ndarray], queries: np.ndarray, k: int = 10) -> list[set[str]]:
    keys = list(pool)
    scores = queries @ np.stack([pool[key] for key in keys]).T  # [n_queries, len(pool)]
    return [{keys[i] for i in row} for row in np.argsort(-scores, axis=1)[:, :k]]


def recall_at_10(index: VectorIndex, pool: dict[str, np.ndarray], queries: np.ndarray, **search: object) -> float:
    found = index.search_many(queries, 10, **search)  # type: ignore[arg-type]
    truth = exact_top(pool, queries)
    return float(np.mean([len({key for key, _ in got} & want) / 10 for got, want in zip(found, truth, strict=True)]))


def test_hnsw_recall_at_10_against_exact_search(
    data: dict[str, np.ndarray], shared: VectorIndex, built: dict[str, np.ndarray]
) -> None:
    index = shared
    pool = dict(zip(built["keys"].tolist(), built["vectors"], strict=True))

    assert index.mode == "hnsw"
    assert recall_at_10(index, pool, data["queries"]) >= 0.95
    # One query at a time takes the same path as the batch.
    single = [[key for key, _ in index.search(q, 10)] for q in data["queries"][:20]]
    assert single == [[key for key, _ in row] for row in index.search_many(data["queries"][:20], 10)]


def test_removed_and_overwritten_keys_never_come_back(
    data: dict[str, np.ndarray], built: dict[str, np.ndarray]
) -> None:
    rng = np.random.default_rng(1)
    index = VectorIndex.from_state(built, exact_limit=EXACT_LIMIT, compact_fraction=None)
    pool = dict(zip(built["keys"].tolist(), built["vectors"], strict=True))
    queries = data["queries"]
    # Churn aimed at what the queries find, so stale entries would show up if they leaked.
    hits = list(dict.fromkeys(key for row in index.search_many(queries, 20) for key, _ in row))
    removed, overwritten = hits[: len(hits) // 3], hits[len(hits) // 3 : 2 * len(hits) // 3]
    old = {key: pool[key] for key in overwritten}
    for key in removed:
        assert index.remove(key)
        del pool[key]
    for key in overwritten:
        vector = -pool[key] + 0.1 * rng.standard_normal(DIM).astype(np.float32)  # far from where it was
        index.upsert(key, vector)
        pool[key] = vector / np.linalg.norm(vector)

    results = index.search_many(queries, 10)

    assert index.mode == "hnsw" and index.dead_slots == len(removed) + len(overwritten)
    returned = {key for row in results for key, _ in row}
    assert not returned & set(removed)
    for row, query in zip(results, queries, strict=True):
        assert len({key for key, _ in row}) == len(row) == 10  # no key twice, no padding
        for key, score in row:
            assert score == pytest.approx(float(pool[key] @ query), abs=1e-4)  # scored by its current vector
    assert recall_at_10(index, pool, queries) >= 0.95
    # Each old vector, used as a query, no longer finds its key at the top with similarity ~1.
    for key, vector in old.items():
        top_key, top_score = index.search(vector, 1)[0]
        assert not (top_key == key and top_score > 0.99)


def test_compaction_rebuilds_the_graph_without_dead_slots(
    data: dict[str, np.ndarray], built: dict[str, np.ndarray]
) -> None:
    index = VectorIndex.from_state(built, exact_limit=EXACT_LIMIT, compact_fraction=0.2)
    pool = dict(zip(built["keys"].tolist(), built["vectors"], strict=True))
    removed = [f"p{i}" for i in range(0, N, 4)]  # 25% of the slots
    for key in removed:
        index.remove(key)
        del pool[key]

    recall = recall_at_10(index, pool, data["queries"])  # the first search compacts

    assert index.dead_slots == 0 and index.mode == "hnsw"
    assert recall >= 0.95
    returned = {key for row in index.search_many(data["queries"], 10) for key, _ in row}
    assert not returned & set(removed)
    assert len(index) == len(pool) and index.to_state()["vectors"].shape == (len(pool), DIM)


def _must_not_run(*args: object) -> None:
    raise AssertionError("the allowed filter took the wrong search path")


@pytest.mark.parametrize(
    ("share", "path"), [(0.01, "subset"), (0.15, "graph"), (0.5, "graph")], ids=["1%-exact", "15%-graph", "50%-graph"]
)
def test_allowed_filter_keeps_recall_and_stays_inside_the_filter(
    data: dict[str, np.ndarray],
    shared: VectorIndex,
    built: dict[str, np.ndarray],
    share: float,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = shared
    if path == "graph":
        # At 20k every allowed set is under the absolute limit for exact scoring; lower it to reach the graph.
        monkeypatch.setattr("matcher.index._SUBSET_MIN", 0)
        monkeypatch.setattr(index, "_search_subset", _must_not_run)
    else:
        monkeypatch.setattr(index, "_search_graph", _must_not_run)
    keys = built["keys"].tolist()
    chosen = np.random.default_rng(2).random(len(keys)) < share
    allowed = {key for key, keep in zip(keys, chosen, strict=True) if keep}
    pool = {key: vector for key, vector in zip(keys, built["vectors"], strict=True) if key in allowed}

    results = index.search_many(data["queries"], 10, allowed=allowed)

    assert {key for row in results for key, _ in row} <= allowed
    assert recall_at_10(index, pool, data["queries"], allowed=allowed) >= 0.95


def test_rows_not_yet_in_the_graph_are_searched_exactly(
    data: dict[str, np.ndarray], built: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    index = VectorIndex.from_state(built, exact_limit=EXACT_LIMIT)
    pool = dict(zip(built["keys"].tolist(), built["vectors"], strict=True))
    near = data["vectors"][:2000] + 0.5 * rng.standard_normal((2000, DIM)).astype(np.float32) / np.sqrt(DIM)
    added = {f"n{i}": row / np.linalg.norm(row) for i, row in enumerate(near)}
    added |= {f"q{i}": query for i, query in enumerate(data["queries"])}  # each query's best match
    index.upsert_many(list(added), np.stack(list(added.values())))
    pool |= added
    queries = data["queries"]

    assert index.search_many(queries, 1) == [[(f"q{i}", pytest.approx(1.0, abs=1e-5))] for i in range(len(queries))]
    assert recall_at_10(index, pool, queries) >= 0.95
    monkeypatch.setattr("matcher.index._SUBSET_MIN", 0)  # half the keys allowed: through the graph
    allowed = set(list(pool)[::2])
    assert recall_at_10(index, {k: v for k, v in pool.items() if k in allowed}, queries, allowed=allowed) >= 0.95
    assert index.pending_slots == len(added)  # all of it searched without adding a row to the graph
