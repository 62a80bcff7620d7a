"""VectorIndex contract on small data: both search paths (exact numpy, FAISS HNSW) must behave the same."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.index import VectorIndex

DIM = 16
MODES = ["exact", "hnsw"]


def make_index(mode: str, **options: object) -> VectorIndex:
    """An empty index that searches exactly, or one that builds an HNSW graph as soon as it holds anything."""
    return VectorIndex(DIM, exact_limit=0 if mode == "hnsw" else 50_000, **options)  # type: ignore[arg-type]


def make_vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def make_keys(n: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def filled(mode: str, n: int = 60, **options: object) -> tuple[VectorIndex, list[str], np.ndarray]:
    """An index holding n random vectors, graph already built in "hnsw" mode; also its keys and unit rows."""
    index = make_index(mode, **options)
    keys, vectors = make_keys(n), make_vectors(n)
    index.upsert_many(keys, vectors)
    index.sync()
    assert index.mode == (mode if n else "exact")
    return index, keys, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(keys: list[str], unit_rows: np.ndarray, query: np.ndarray, k: int) -> list[str]:
    scores = unit_rows @ (query / np.linalg.norm(query))  # [n]
    return [keys[i] for i in np.argsort(-scores)[:k]]


def result_keys(results: list[tuple[str, float]]) -> list[str]:
    return [key for key, _ in results]


@pytest.mark.parametrize("mode", MODES)
def test_search_matches_brute_force_best_first(mode: str) -> None:
    index, keys, rows = filled(mode)
    query = make_vectors(1, seed=1)[0]

    results = index.search(query, 5)

    assert result_keys(results) == brute_force(keys, rows, query, 5)
    scores = [score for _, score in results]
    assert scores == sorted(scores, reverse=True)
    expected = rows[keys.index(results[0][0])] @ (query / np.linalg.norm(query))
    assert scores[0] == pytest.approx(float(expected), abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_empty_index_returns_no_results(mode: str) -> None:
    index = make_index(mode)
    assert index.search(make_vectors(1)[0], 3) == []
    assert index.search_many(make_vectors(2), 3) == [[], []]
    assert len(index) == 0 and index.keys() == []


@pytest.mark.parametrize("mode", MODES)
def test_k_larger_than_index_returns_every_live_key_once(mode: str) -> None:
    index, keys, rows = filled(mode, n=12)
    index.remove("p3")
    query = make_vectors(1, seed=2)[0]

    results = index.search(query, 100)

    live = [k for k in keys if k != "p3"]
    assert result_keys(results) == brute_force(live, rows[[keys.index(k) for k in live]], query, 100)
    assert len(results) == 11


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_non_positive_or_non_integer_k_is_rejected(k: object) -> None:
    index, _, _ = filled("exact", n=5)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(make_vectors(1)[0], k)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_removed_keys_are_never_returned(mode: str) -> None:
    index, keys, rows = filled(mode)
    query = rows[7]
    removed = result_keys(index.search(query, 5))
    assert removed[0] == "p7"

    for key in removed:
        assert index.remove(key) is True
    results = index.search(query, 10)

    assert not set(removed) & set(result_keys(results))
    live = [k for k in keys if k not in removed]
    assert result_keys(results) == brute_force(live, rows[[keys.index(k) for k in live]], query, 10)
    assert len(index) == len(keys) - 5
    assert "p7" not in index and index.get("p7") is None


@pytest.mark.parametrize("mode", MODES)
def test_removing_an_unknown_or_already_removed_key_is_a_no_op(mode: str) -> None:
    index, keys, _ = filled(mode, n=10)
    assert index.remove("nobody") is False
    assert index.remove("p1") is True
    assert index.remove("p1") is False
    assert len(index) == 9 and set(index.keys()) == set(keys) - {"p1"}


@pytest.mark.parametrize("mode", MODES)
def test_get_many_gives_the_stored_vectors_in_order_and_zero_rows_for_absent_keys(mode: str) -> None:
    index, keys, rows = filled(mode, n=10)
    index.remove("p3")
    index.upsert("p4", -rows[4])
    got = index.get_many(["p4", "p3", "nobody", "p0"])
    assert got.shape == (4, DIM) and got.dtype == np.float32
    np.testing.assert_allclose(got, [-rows[4], np.zeros(DIM), np.zeros(DIM), rows[0]], atol=1e-6)
    assert index.get_many([]).shape == (0, DIM)


@pytest.mark.parametrize("mode", MODES)
def test_upsert_overwrites_the_vector_of_an_existing_key(mode: str) -> None:
    index, keys, rows = filled(mode)
    old, new = rows[4], -rows[4]

    index.upsert("p4", new * 3.0)

    assert len(index) == len(keys)
    np.testing.assert_allclose(index.get("p4"), new, atol=1e-6)
    top_key, top_score = index.search(new, 1)[0]
    assert (top_key, pytest.approx(top_score, abs=1e-5)) == ("p4", 1.0)
    # The old vector is gone: querying with it must not find p4 with its old score, nor p4 twice.
    results = index.search(old, len(keys))
    assert result_keys(results).count("p4") == 1
    assert dict(results)["p4"] == pytest.approx(-1.0, abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_keys_added_after_the_first_search_are_found(mode: str) -> None:
    index, keys, _ = filled(mode, n=30)
    extra = make_vectors(5, seed=9)

    for i, vector in enumerate(extra):
        index.upsert(f"new{i}", vector)

    for i, vector in enumerate(extra):
        assert index.search(vector, 1)[0][0] == f"new{i}"
    assert len(index) == 35


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("allowed", "expected_pool"),
    [
        (["p1", "p2", "p3"], ["p1", "p2", "p3"]),
        (["p1", "ghost", "p2", "p1"], ["p1", "p2"]),  # unknown keys ignored, duplicates collapse
        ({"p5"}, ["p5"]),
        ([], []),
        (["ghost"], []),
        (None, None),  # everything
        ([f"p{i}" for i in range(1, 60)], [f"p{i}" for i in range(1, 60)]),  # large: masked or graph path
    ],
)
def test_allowed_restricts_results_to_known_allowed_keys(
    mode: str, allowed: list[str] | None, expected_pool: list[str] | None
) -> None:
    index, keys, rows = filled(mode)
    query = make_vectors(1, seed=3)[0]

    results = index.search(query, 4, allowed=allowed)

    pool = keys if expected_pool is None else expected_pool
    expected = brute_force(pool, rows[[keys.index(k) for k in pool]], query, 4) if pool else []
    assert result_keys(results) == expected


@pytest.mark.parametrize("mode", MODES)
def test_allowed_excludes_removed_keys(mode: str) -> None:
    index, _, _ = filled(mode)
    index.remove("p2")
    assert result_keys(index.search(make_vectors(1)[0], 5, allowed=["p1", "p2"])) == ["p1"]


def test_allowed_given_as_a_single_string_is_rejected() -> None:
    index, _, _ = filled("exact", n=5)
    with pytest.raises(TypeError, match="collection of keys"):
        index.search(make_vectors(1)[0], 2, allowed="p1")


@pytest.mark.parametrize("mode", MODES)
def test_search_many_equals_one_search_per_query(mode: str) -> None:
    index, _, _ = filled(mode)
    queries = make_vectors(4, seed=5)
    for allowed in (None, ["p1", "p9", "p20"]):
        batched = index.search_many(queries, 3, allowed=allowed)
        single = [index.search(q, 3, allowed=allowed) for q in queries]
        assert [result_keys(r) for r in batched] == [result_keys(r) for r in single]
        # Matrix-matrix and matrix-vector products round differently in the last bits.
        np.testing.assert_allclose(
            [[score for _, score in r] for r in batched], [[score for _, score in r] for r in single], atol=1e-6
        )


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        (np.ones(DIM + 1), rf"shape \({DIM},\); got \({DIM + 1},\)"),
        (np.ones((1, DIM)), rf"shape \({DIM},\); got \(1, {DIM}\)"),
        (np.full(DIM, np.nan), "finite"),
        (np.r_[np.inf, np.ones(DIM - 1)], "finite"),
        (np.zeros(DIM), "all-zero"),
    ],
)
def test_invalid_vectors_are_rejected_with_the_reason(vector: np.ndarray, message: str) -> None:
    index, _, _ = filled("exact", n=5)
    with pytest.raises(ValueError, match=message):
        index.upsert("bad", vector)
    with pytest.raises(ValueError, match=message):
        index.search(vector, 1)
    assert "bad" not in index and len(index) == 5


def test_upsert_many_rejects_mismatched_lengths_and_wrong_dimension() -> None:
    index = make_index("exact")
    with pytest.raises(ValueError, match="2 keys for 3 vectors"):
        index.upsert_many(["a", "b"], make_vectors(3))
    with pytest.raises(ValueError, match=rf"shape \(n, {DIM}\); got \(3, 4\)"):
        index.upsert_many(["a", "b", "c"], np.ones((3, 4)))
    with pytest.raises(TypeError, match="keys must be str"):
        index.upsert(7, make_vectors(1)[0])  # type: ignore[arg-type]
    assert len(index) == 0


@pytest.mark.parametrize("option", [{"dim": 0}, {"exact_limit": -1}, {"ef_search": 0}, {"compact_fraction": 0.0}])
def test_invalid_configuration_is_rejected(option: dict[str, object]) -> None:
    arguments: dict[str, object] = {"dim": DIM, **option}
    with pytest.raises(ValueError, match=next(iter(option))):
        VectorIndex(**arguments)  # type: ignore[arg-type]


def test_vectors_are_stored_normalised() -> None:
    index = make_index("exact")
    index.upsert("a", np.array([3.0, 4.0] + [0.0] * (DIM - 2)))
    np.testing.assert_allclose(index.get("a"), [0.6, 0.8] + [0.0] * (DIM - 2), atol=1e-7)
    assert index.get("a").dtype == np.float32  # type: ignore[union-attr]


def test_upsert_many_keeps_the_last_vector_of_a_repeated_key() -> None:
    index = make_index("exact")
    vectors = make_vectors(3)
    index.upsert_many(["a", "b", "a"], vectors)
    assert len(index) == 2
    np.testing.assert_allclose(index.get("a"), vectors[2] / np.linalg.norm(vectors[2]), atol=1e-6)


def test_growing_past_capacity_keeps_every_vector() -> None:
    index = make_index("exact")
    vectors = make_vectors(300)
    for i, vector in enumerate(vectors):
        index.upsert(f"k{i}", vector)
    stored = np.stack([index.get(f"k{i}") for i in range(300)])  # type: ignore[misc]
    np.testing.assert_allclose(stored, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6)
    assert index.keys() == [f"k{i}" for i in range(300)]


def test_index_switches_to_hnsw_once_slots_exceed_exact_limit() -> None:
    index = VectorIndex(DIM, exact_limit=40)
    keys, vectors = make_keys(40), make_vectors(41)
    index.upsert_many(keys, vectors[:40])
    index.search(vectors[0], 1)
    assert index.mode == "exact"

    index.upsert("p40", vectors[40])
    assert index.search(vectors[40], 1)[0][0] == "p40"
    assert index.mode == "hnsw"


@pytest.mark.parametrize("mode", MODES)
def test_compaction_drops_dead_slots_and_keeps_live_keys(mode: str) -> None:
    index, keys, rows = filled(mode, compact_fraction=0.25)
    removed = keys[::3]  # a third of the slots die, above the 25% threshold
    for key in removed:
        index.remove(key)
    live = [k for k in keys if k not in removed]
    query = make_vectors(1, seed=4)[0]

    results = index.search(query, 8)  # compacts first

    assert index.dead_slots == 0  # the threshold was crossed, so this search compacted
    assert index.mode == mode
    assert result_keys(results) == brute_force(live, rows[[keys.index(k) for k in live]], query, 8)
    assert index.keys() == live
    for key in live:
        np.testing.assert_allclose(index.get(key), rows[keys.index(key)], atol=1e-6)


def test_compaction_waits_for_the_threshold() -> None:
    index, keys, _ = filled("exact", compact_fraction=0.5)
    for key in keys[:10]:
        index.remove(key)
    index.sync()
    assert index.dead_slots == 10
    index.compact()
    assert index.dead_slots == 0 and len(index) == len(keys) - 10


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


@pytest.mark.parametrize("allowed", ["none", "few", "many"])
def test_rows_not_yet_in_the_graph_are_scored_exactly(allowed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows appended since the graph was synced are scored exactly and merged with the graph's results: new
    keys, removed keys on both sides, and updated keys whose old slot is in the graph and new slot pending."""
    if allowed == "many":
        monkeypatch.setattr("matcher.index._SUBSET_MIN", 0)  # the allowed set goes through the graph
    index, keys, rows = filled("hnsw", compact_fraction=None)
    model = dict(zip(keys, rows, strict=True))
    new_keys, new_rows = make_keys(20, prefix="n"), make_vectors(20, seed=7)
    index.upsert_many(new_keys, new_rows)
    model.update(zip(new_keys, unit(new_rows), strict=True))
    for key in ("p3", "n4"):
        index.remove(key)
        del model[key]
    for seed, key in enumerate(("p5", "p8"), start=11):
        vector = make_vectors(1, seed=seed)[0]
        index.upsert(key, vector)
        model[key] = unit(vector)
    queries = np.vstack([make_vectors(4, seed=13), rows[5], model["p5"]])  # p5's old and new vectors
    pool = None if allowed == "none" else keys[::2] + new_keys[::3] + ["p3", "n4", "p5", "ghost"]
    live = sorted(model) if pool is None else sorted(set(pool) & set(model))

    for k in (5, 100):  # 100: more than are live, so every allowed key comes back once
        expected = [brute_force(live, np.array([model[key] for key in live]), q, k) for q in queries]
        assert [result_keys(r) for r in index.search_many(queries, k, allowed=pool)] == expected
        assert [result_keys(index.search(q, k, allowed=pool)) for q in queries] == expected
    for key, score in index.search(queries[0], 100, allowed=pool):
        assert score == pytest.approx(float(model[key] @ unit(queries[0])), abs=1e-5)
    assert index.pending_slots == 22  # searching did not add the 20 new and 2 updated slots to the graph


class PausingLock:
    """Stands in for an index's lock. When the thread named "sync" lets go of it completely while some but not
    all of `rows` pending slots are in the graph, it stops there until `resume` is set. `halted` is set when
    that thread stops there or returns; `paused` says which."""

    def __init__(self, index: VectorIndex, rows: int) -> None:
        self.index, self.rows, self.lock, self.depth = index, rows, threading.RLock(), 0
        self.paused, self.halted, self.resume = False, threading.Event(), threading.Event()

    def __enter__(self) -> None:
        self.lock.acquire()
        self.depth += threading.current_thread().name == "sync"

    def __exit__(self, *exc: object) -> None:
        syncing = threading.current_thread().name == "sync"
        self.depth -= syncing
        pending = self.index.pending_slots
        self.lock.release()
        if syncing and self.depth == 0 and 0 < pending < self.rows and not self.paused:
            self.paused = True
            self.halted.set()
            self.resume.wait()

    def sync(self) -> None:
        try:
            self.index.sync()
        finally:
            self.halted.set()


def test_a_search_during_a_sync_runs_between_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("matcher.index._ADD_CHUNK", 10)
    index, keys, rows = filled("hnsw")
    new_keys, new_rows = make_keys(50, prefix="n"), make_vectors(50, seed=7)
    index.upsert_many(new_keys, new_rows)
    lock = PausingLock(index, rows=50)
    index._lock = lock  # type: ignore[assignment]
    syncer = threading.Thread(target=lock.sync, name="sync")
    syncer.start()
    try:
        assert lock.halted.wait(timeout=60)
        assert lock.paused, "sync() never let go of the lock with rows still to add"
        pending = index.pending_slots

        results = index.search_many(new_rows[:5], 3)  # the sync thread is stopped inside sync()

        all_rows = np.vstack([rows, unit(new_rows)])
        assert [result_keys(r) for r in results] == [brute_force(keys + new_keys, all_rows, q, 3) for q in new_rows[:5]]
        assert index.pending_slots == pending > 0  # the search did not add them either
    finally:
        lock.resume.set()
        syncer.join()
    assert index.pending_slots == 0


def test_a_search_syncs_first_once_too_many_rows_are_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("matcher.index._PENDING_LIMIT", 10)
    index, _, _ = filled("hnsw")
    extra = make_vectors(11, seed=8)
    index.upsert_many(make_keys(10, prefix="n"), extra[:10])

    assert index.search(extra[3], 1)[0][0] == "n3"
    assert index.pending_slots == 10  # at the limit: scored exactly, left for sync()

    index.upsert("n10", extra[10])
    assert index.search(extra[10], 1)[0][0] == "n10"
    assert index.pending_slots == 0


@pytest.mark.parametrize("mode", MODES)
def test_snapshot_round_trip_through_savez_keeps_live_keys_only(mode: str, tmp_path) -> None:
    index, keys, rows = filled(mode)
    index.remove("p0")
    index.upsert("p1", -rows[1])
    state = index.to_state()
    assert state["vectors"].shape == (len(keys) - 1, DIM)
    assert "p0" not in state["keys"].tolist()

    np.savez(tmp_path / "index.npz", **state)
    with np.load(tmp_path / "index.npz") as saved:
        restored = VectorIndex.from_state(saved, exact_limit=0 if mode == "hnsw" else 50_000)

    assert restored.mode == mode
    assert sorted(restored.keys()) == sorted(index.keys())
    np.testing.assert_allclose(restored.get("p1"), -rows[1], atol=1e-6)
    queries = make_vectors(3, seed=6)
    assert [result_keys(r) for r in restored.search_many(queries, 5)] == [
        result_keys(r) for r in index.search_many(queries, 5)
    ]


def test_from_state_rejects_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="duplicates"):
        VectorIndex.from_state({"vectors": make_vectors(2), "keys": np.array(["a", "a"])})


def test_from_state_of_an_empty_index_keeps_the_dimension() -> None:
    restored = VectorIndex.from_state(make_index("exact").to_state())
    assert restored.dim == DIM and len(restored) == 0


operations = st.lists(
    st.tuples(st.sampled_from(["upsert", "remove"]), st.integers(0, 11), st.integers(0, 2**31 - 1)),
    max_size=40,
)


@pytest.mark.parametrize("mode", MODES)
@settings(max_examples=40, deadline=None, database=None)
@given(ops=operations)
def test_any_sequence_of_writes_matches_a_dict_model(mode: str, ops: list[tuple[str, int, int]]) -> None:
    index = make_index(mode, compact_fraction=0.3)
    model: dict[str, np.ndarray] = {}
    for i, (op, key_number, seed) in enumerate(ops):
        key = f"k{key_number}"
        if op == "upsert":
            vector = make_vectors(1, seed=seed * 12 + key_number)[0]  # distinct keys never share a vector
            index.upsert(key, vector)
            model[key] = vector / np.linalg.norm(vector)
        else:
            assert index.remove(key) is (model.pop(key, None) is not None)
        if i % 7 == 0:
            index.sync()  # interleave graph builds and compactions with the writes

    query = make_vectors(1, seed=123)[0]
    keys = sorted(model)
    expected = brute_force(keys, np.array([model[k] for k in keys]), query, 5) if keys else []
    assert result_keys(index.search(query, 5)) == expected
    assert sorted(index.keys()) == keys
