"""The read model's vector index: unit float32 vectors keyed by string ids, searched by inner product (cosine).

Storage is a growable slot matrix, so an upsert or a remove costs O(dim) rather than O(n): a remove marks its
slot dead (a tombstone) and dead slots are dropped by `compact()`. Up to `exact_limit` slots every search is
exact (brute force); above it a FAISS HNSW graph over the slots answers queries, with dead slots excluded by an
`IDSelectorBitmap`. HNSW cannot overwrite or delete a node, so in HNSW mode an upsert of a key that is already
in the graph tombstones its old slot and appends a new one.

Measured on the 2-core development machine, 384-dim vectors around 2000 random unit centres (bench.query),
one query at a time, HNSW M=32, efConstruction=40:
- exact search: ~6-9 ms at 100k, ~80 ms at 1M (numpy, idle machine);
- HNSW recall@10 at efSearch 64 / 128 / 256: 0.99+ at 100k; 0.93 / 0.97 / 0.98 at 300k; 0.74 / 0.83 / 0.89
  at 1M (0.92 at 1024), p50 under 1 ms up to efSearch 256. At 1M the graph, not the beam, is the limit:
  likely because 500 points per cluster with isotropic noise leave the top ten nearly tied. efSearch is 128 for
  margin up to a few hundred thousand vectors; 1M needs a better graph (a larger efConstruction, several
  times the build, which took 365-520 s at 1M on the shared machine) or an IVF index (recall 1.0 at nprobe 8
  on the same data, which suits IVF's cells perfectly; training plus adding took 360 s);
- with a live-slot bitmap, HNSW recall is unchanged down to ~50% of nodes selected and drops quickly below
  ~20% (FAISS does not widen the search to find `efSearch` selected nodes); oversampling instead of the
  bitmap was no faster, so tombstones use the bitmap and small `allowed` sets are scored exactly;
- a single query runs on the calling thread only: multi-threaded BLAS/OpenMP for one query is at best ~2x
  faster on an idle machine and 10-20x slower on a busy one (threads wait for each other's time slices).
  `search_many` does use all threads.

Writes happen on the event consumer and reads on API threads, so every public method holds one lock. `sync()`
brings the search structures up to date; the indexer calls it after applying each batch
(`consumers.indexer.Indexer.sync_indexes`). It adds the rows appended since the graph last caught up
`_ADD_CHUNK` (64) at a time and lets go of the lock between chunks, so a search waits for one chunk at most
(~15 ms at 60k vectors); compaction and the first graph build are rare and hold the lock throughout. In HNSW
mode a search does not add rows itself: it searches the graph and scores the slots not yet in it exactly, then
merges the two. It calls `sync()` first only when compaction is due or more than `_PENDING_LIMIT` (8k) slots
are pending, which happens only when nobody else syncs. In exact mode a search calls `sync()` first, so the
first search past `exact_limit` builds the graph if the indexer has not: the build holds the lock whichever
thread runs it, so searching exactly until the indexer builds it would spare only the searches that arrive
between a batch and the indexer's sync.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
SlotArray = npt.NDArray[np.int64]

# In HNSW mode an `allowed` set smaller than max(_SUBSET_MIN, _SUBSET_FRACTION * live) is scored exactly:
# filtered HNSW loses recall when few nodes are selected, and exact scoring of m rows costs ~0.1 us per row
# (faiss.fvec_inner_products_by_idx, ~3x faster than gathering the rows with numpy and multiplying).
_SUBSET_MIN = 20_000
_SUBSET_FRACTION = 0.10
# `sync` adds pending rows to the graph this many at a time, taking the lock per chunk, so a search waits for
# at most one chunk. Measured at 60k (bench.index_sync's data, one thread, 2048 rows per size, load ~1.5-2 on
# two cores): per chunk of 16 / 32 / 64 / 128 / 256 / 1024 rows, p50 3-4 / 6-7 / 12-15 / 24-32 / 48-66 /
# 190-290 ms; the cost per row (170-280 us) did not depend on the chunk size beyond that noise. One thread:
# with two, the same chunks took 1.8-4.7x as long per row at that load.
_ADD_CHUNK = 64
# In HNSW mode a search scores the slots not yet in the graph exactly, and syncs first (adding them all, lock
# held) only when there are more than this many. Measured at 60k as above, one query, p50 with 0 / 1k / 4k /
# 8k / 16k / 32k pending: 0.7 / 0.9 / 1.4 / 1.5 / 2.3 / 3.2 ms. 8k keeps a search under ~1 ms extra, is 8x the
# indexer's largest batch, and makes a process that never syncs pay ~1.6 s (at ~0.2 ms a row) per 8k new rows.
_PENDING_LIMIT = 8_192
# Queries per block in exact search, so a [block, n] score matrix stays near 64 MB.
_SCORE_BLOCK_ELEMENTS = 1 << 24


class VectorIndex:
    """Unit vectors keyed by string id; exact search up to `exact_limit` slots, FAISS HNSW above it.

    Args:
        dim: vector dimension.
        exact_limit: largest number of slots (live and dead) searched exactly; 0 always uses HNSW.
        m: HNSW neighbours per node (FAISS `M`).
        ef_construction: HNSW build-time beam width.
        ef_search: HNSW query beam width (raised to `k`, and scaled up when a filter selects fewer nodes).
        compact_fraction: compact at the next `sync()` once dead slots exceed this fraction of all slots;
            None only compacts on an explicit `compact()`. In HNSW mode compaction rebuilds the graph, which
            takes about as long as the first build (minutes at 1M vectors on two cores).
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_limit: int = 50_000,
        m: int = 32,
        ef_construction: int = 40,
        ef_search: int = 128,
        compact_fraction: float | None = 0.2,
    ) -> None:
        _require_int("dim", dim, minimum=1)
        _require_int("exact_limit", exact_limit, minimum=0)
        _require_int("m", m, minimum=2)
        _require_int("ef_construction", ef_construction, minimum=1)
        _require_int("ef_search", ef_search, minimum=1)
        if compact_fraction is not None and not 0 < compact_fraction <= 1:
            raise ValueError(f"compact_fraction must be in (0, 1] or None; got {compact_fraction!r}")
        self.dim = dim
        self.exact_limit = exact_limit
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.compact_fraction = compact_fraction

        self._lock = threading.RLock()
        self._vecs: FloatArray = np.zeros((0, dim), np.float32)  # [capacity, dim], rows [0, n_slots) used
        self._live = np.zeros(0, bool)  # [capacity]
        # The same flags packed little-endian, as FAISS's IDSelectorBitmap reads them: [capacity // 8]
        self._live_bits = np.zeros(0, np.uint8)
        self._slot_keys: list[str | None] = []  # [n_slots], None for a dead slot
        self._slot_of: dict[str, int] = {}  # live keys only
        self._dead = 0
        self._hnsw: Any = None  # faiss.IndexHNSWFlat over slots [0, ntotal), FAISS id = slot

    # ---- reads ---------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, live={len(self)}, dead={self._dead}, mode={self.mode!r})"

    @property
    def mode(self) -> Literal["exact", "hnsw"]:
        """Which search path the index is on: "hnsw" once the graph has been built by `sync()`."""
        return "exact" if self._hnsw is None else "hnsw"

    @property
    def dead_slots(self) -> int:
        """Tombstoned slots awaiting compaction (a gauge worth exporting)."""
        return self._dead

    @property
    def pending_slots(self) -> int:
        """Slots not yet added to the HNSW graph (0 in exact mode); searches score them exactly until `sync()`."""
        hnsw = self._hnsw  # read once: another thread may compact meanwhile
        return 0 if hnsw is None else len(self._slot_keys) - hnsw.ntotal

    def keys(self) -> list[str]:
        """Live keys, in slot order."""
        with self._lock:
            return [k for k in self._slot_keys if k is not None]

    def get(self, key: str) -> FloatArray | None:
        """The stored (normalised) vector for `key`, shape [dim], or None if absent."""
        with self._lock:
            slot = self._slot_of.get(key)
            return None if slot is None else self._vecs[slot].copy()

    def get_many(self, keys: list[str]) -> FloatArray:
        """[len(keys), dim] the stored (normalised) vectors, zero rows for absent keys (so a cosine with one is 0)."""
        with self._lock:
            slots = np.array([self._slot_of.get(key, -1) for key in keys], dtype=np.int64)
            out = np.zeros((len(keys), self.dim), np.float32)
            found = slots >= 0
            out[found] = self._vecs[slots[found]]
            return out

    # ---- writes --------------------------------------------------------------------------------------

    def upsert(self, key: str, vector: npt.ArrayLike) -> None:
        """Insert or replace the vector for `key`; it is stored normalised. O(dim) amortised.

        Args:
            key: the entity id.
            vector: [dim] finite, not all zeros.
        """
        _require_key(key)
        row = self._unit_rows(self._one_vector(vector, "vector")[None, :], "vector")[0]  # [dim]
        with self._lock:
            self._put(key, row)

    def upsert_many(self, keys: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Upsert many vectors at once; a key repeated in `keys` keeps its last vector.

        Args:
            keys: [n] entity ids.
            vectors: [n, dim] finite, no all-zero row.
        """
        keys = list(keys)
        for key in keys:
            _require_key(key)
        rows = self._unit_rows(vectors, "vectors")  # [n, dim]
        if len(keys) != len(rows):
            raise ValueError(f"got {len(keys)} keys for {len(rows)} vectors")
        with self._lock:
            if len(set(keys)) == len(keys) and not any(k in self._slot_of for k in keys):
                start = len(self._slot_keys)
                self._reserve(start + len(keys))
                self._vecs[start : start + len(keys)] = rows
                self._live[start : start + len(keys)] = True
                self._repack_bits(start, start + len(keys))
                self._slot_keys.extend(keys)
                self._slot_of.update(zip(keys, range(start, start + len(keys)), strict=True))
            else:
                for key, row in zip(keys, rows, strict=True):
                    self._put(key, row)

    def remove(self, key: str) -> bool:
        """Remove `key` (a tombstone, O(1)); returns False if it was not present, so replays are harmless."""
        with self._lock:
            slot = self._slot_of.pop(key, None)
            if slot is None:
                return False
            self._kill(slot)
            return True

    # ---- maintenance ---------------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the search structures up to date. The indexer calls it after each batch; `search` calls it
        first in exact mode, when compaction is due, or with more than `_PENDING_LIMIT` slots pending.

        Compacts if dead slots exceed `compact_fraction`, builds the HNSW graph when the slots first exceed
        `exact_limit`, and otherwise adds the rows appended since the graph last caught up, `_ADD_CHUNK` at a
        time with the lock released between chunks, so searches run in between (they score the rows not yet
        added exactly). Compaction and the first build hold the lock throughout: searches wait for them.
        """
        with self._lock:
            n_slots = len(self._slot_keys)
            if self._compaction_due():
                self.compact()
                return
            if self._hnsw is None:
                if n_slots > self.exact_limit and self._dead:
                    self.compact()  # build the graph from live rows only
                elif n_slots > self.exact_limit:
                    self._build_hnsw()
                return
        while self._add_pending():
            pass

    def _add_pending(self) -> bool:
        """Add up to `_ADD_CHUNK` pending rows to the graph, under the lock; False if there were none."""
        with self._lock:
            if self._hnsw is None:
                return False
            start = self._hnsw.ntotal
            stop = min(len(self._slot_keys), start + _ADD_CHUNK)
            if start >= stop:
                return False
            with _one_omp_thread():
                self._hnsw.add(self._vecs[start:stop])  # [stop - start, dim]
            return True

    def compact(self) -> None:
        """Drop dead slots now, renumbering live ones; rebuilds the HNSW graph if live keys exceed `exact_limit`."""
        with self._lock:
            keep = np.flatnonzero(self._live[: len(self._slot_keys)])  # [live] slot numbers
            keys = [self._slot_keys[s] for s in keep.tolist()]
            capacity = _round8(max(64, len(keep) + len(keep) // 4))
            vecs = np.empty((capacity, self.dim), np.float32)
            vecs[: len(keep)] = self._vecs[keep]
            self._hnsw = None  # free the old graph before building the new one
            self._vecs = vecs
            self._live = np.zeros(capacity, bool)
            self._live[: len(keep)] = True
            self._live_bits = np.packbits(self._live, bitorder="little")
            self._slot_keys = list(keys)
            self._slot_of = {key: slot for slot, key in enumerate(keys) if key is not None}
            self._dead = 0
            if len(keep) > self.exact_limit:
                self._build_hnsw()

    # ---- search --------------------------------------------------------------------------------------

    def search(self, query: npt.ArrayLike, k: int, allowed: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The `k` keys most similar to `query`, best first, as (key, cosine similarity).

        Args:
            query: [dim] finite, not all zeros (normalised here).
            k: positive; fewer results come back when fewer keys are live or allowed (or, with a filter in
                HNSW mode, when the graph search reaches fewer of them).
            allowed: restrict results to these keys (unknown ones are ignored); None means all.
        """
        return self.search_many(self._one_vector(query, "query")[None, :], k, allowed)[0]

    def search_many(
        self, queries: npt.ArrayLike, k: int, allowed: Iterable[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """`search` for each row of `queries` ([n_queries, dim]); one result list per query."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0:
            raise ValueError(f"k must be a positive integer; got {k!r}")
        if isinstance(allowed, str):
            raise TypeError("allowed must be a collection of keys, not a single string")
        qs = self._unit_rows(queries, "queries")  # [n_queries, dim]
        with self._lock:
            if self._hnsw is None or self._compaction_due() or self.pending_slots > _PENDING_LIMIT:
                self.sync()
            candidates = None if allowed is None else self._slots_for(allowed)  # [m] sorted live slots
            selected = len(self) if candidates is None else len(candidates)
            if selected == 0 or len(qs) == 0:
                return [[] for _ in range(len(qs))]
            k = min(int(k), selected)
            if self._hnsw is not None:
                scores, slots = self._search_hnsw(qs, k, candidates)
            elif candidates is None:
                scores, slots = self._search_all(qs, k, None)
            elif 2 * len(candidates) < len(self._slot_keys):  # a subset costs a bit more per row than all rows
                scores, slots = self._search_subset(qs, k, candidates)
            else:
                scores, slots = self._search_all(qs, k, candidates)
            return [
                [
                    (self._slot_keys[slot], score)  # type: ignore[misc]  # live slots always have a key
                    for score, slot in zip(row_scores, row_slots, strict=True)
                    if slot >= 0 and score != -math.inf
                ]
                for row_scores, row_slots in zip(scores.tolist(), slots.tolist(), strict=True)
            ]

    def _search_all(self, qs: FloatArray, k: int, candidates: SlotArray | None) -> tuple[FloatArray, SlotArray]:
        """Exact search over every slot, masking dead (or not allowed) ones. Returns scores, slots: [nq, k]."""
        n_slots = len(self._slot_keys)
        rows = self._vecs[:n_slots]  # [n_slots, dim]
        excluded: npt.NDArray[np.bool_] | None = None
        if candidates is not None:
            excluded = np.ones(n_slots, bool)
            excluded[candidates] = False
        elif self._dead:
            excluded = ~self._live[:n_slots]
        if len(qs) == 1:
            # One query stays on this thread: multi-threaded BLAS is ~2x faster on an idle machine but waits
            # for descheduled threads on a busy one (10k rows: 0.7 ms single-threaded vs 12-16 ms p50 with
            # two threads at load 6 on two cores). FAISS's loop matches single-threaded numpy here.
            scores = np.empty((1, n_slots), np.float32)  # [1, n_slots]
            faiss.fvec_inner_products_ny(  # type: ignore[attr-defined]  # absent from faiss's bundled stubs
                faiss.swig_ptr(scores), faiss.swig_ptr(qs), faiss.swig_ptr(rows), self.dim, n_slots
            )
            return _top_k(_masked(scores, excluded), k)
        block = max(1, _SCORE_BLOCK_ELEMENTS // n_slots)
        out = [
            _top_k(_masked(qs[i : i + block] @ rows.T, excluded), k)  # scores: [block, n_slots]
            for i in range(0, len(qs), block)
        ]
        return np.concatenate([s for s, _ in out]), np.concatenate([i for _, i in out])

    def _search_subset(self, qs: FloatArray, k: int, candidates: SlotArray) -> tuple[FloatArray, SlotArray]:
        """Exact search over the given live slots ([m]). Returns scores, slots: [nq, k]."""
        if len(qs) == 1:
            scores = np.empty((1, len(candidates)), np.float32)  # [1, m]
            with _one_omp_thread():  # the call forks an OpenMP team even for one query
                faiss.fvec_inner_products_by_idx(  # type: ignore[attr-defined]  # absent from faiss's bundled stubs
                    faiss.swig_ptr(scores),
                    faiss.swig_ptr(qs),
                    faiss.swig_ptr(self._vecs),
                    faiss.swig_ptr(candidates),
                    self.dim,
                    1,
                    len(candidates),
                )
        else:
            scores = qs @ self._vecs[candidates].T  # [nq, m]
        top_scores, top = _top_k(scores, k)
        return top_scores, candidates[top]

    def _search_hnsw(self, qs: FloatArray, k: int, candidates: SlotArray | None) -> tuple[FloatArray, SlotArray]:
        """Search in HNSW mode: the graph over slots [0, ntotal) and exact scores for the pending slots
        [ntotal, n_slots), merged; a small `candidates` set ([m] sorted live slots) is scored exactly. Returns
        scores, slots: [nq, k], slot -1 = padding (score -FLT_MAX, below every cosine)."""
        ntotal = self._hnsw.ntotal
        if candidates is not None and len(candidates) < max(_SUBSET_MIN, _SUBSET_FRACTION * len(self)):
            return self._search_subset(qs, k, candidates)
        if candidates is None:
            pending = ntotal + np.flatnonzero(self._live[ntotal : len(self._slot_keys)])  # live slots only
            n_graph = len(self) - len(pending)
        else:
            n_graph = int(np.searchsorted(candidates, ntotal))
            candidates, pending = candidates[:n_graph], candidates[n_graph:]
        parts = []
        if n_graph:
            parts.append(self._search_graph(qs, min(k, n_graph), candidates, n_graph))
        if len(pending):
            parts.append(self._search_subset(qs, min(k, len(pending)), pending))
        if len(parts) == 1:
            return parts[0]
        scores = np.concatenate([s for s, _ in parts], axis=1)  # [nq, k_graph + k_pending]
        top_scores, cols = _top_k(scores, k)
        return top_scores, np.take_along_axis(np.concatenate([i for _, i in parts], axis=1), cols, axis=1)

    def _search_graph(
        self, qs: FloatArray, k: int, candidates: SlotArray | None, n_selected: int
    ) -> tuple[FloatArray, SlotArray]:
        """HNSW search restricted to live (or allowed, [m] slots < ntotal) slots, `n_selected` of them in the
        graph. Returns scores, slots: [nq, k], slot -1 = padding."""
        ntotal = self._hnsw.ntotal
        if candidates is not None:
            selected = np.zeros(_round8(ntotal), bool)
            selected[candidates] = True
            bits: npt.NDArray[np.uint8] | None = np.packbits(selected, bitorder="little")
        else:
            bits = self._live_bits if self._dead else None
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # absent from faiss's bundled stubs
        # FAISS keeps only selected nodes in its result beam but stops after efSearch steps' worth of
        # candidates, so widen the beam by the inverse of the selected fraction.
        params.efSearch = min(ntotal, math.ceil(max(self.ef_search, k) * ntotal / n_selected))
        if bits is not None:
            selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
            params.sel = selector  # `selector` and `bits` stay referenced until search returns
        if len(qs) == 1:
            with _one_omp_thread():
                scores, slots = self._hnsw.search(qs, k, params=params)
        else:
            scores, slots = self._hnsw.search(qs, k, params=params)  # parallel over queries
        return scores, slots

    # ---- snapshots -----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, np.ndarray]:
        """Live rows only, for `numpy.savez`: {"vectors": [live, dim] float32, "keys": [live] str}."""
        with self._lock:
            keep = np.flatnonzero(self._live[: len(self._slot_keys)])
            keys = [self._slot_keys[s] for s in keep.tolist()]
            return {"vectors": self._vecs[keep], "keys": np.array(keys, dtype=np.str_)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], **options: Any) -> VectorIndex:
        """Rebuild an index from `to_state()` output (or its `numpy.load`); `options` go to the constructor.

        Builds the HNSW graph now if the keys exceed `exact_limit`, so the first query does not pay for it.
        """
        vectors = np.asarray(state["vectors"], dtype=np.float32)
        keys = [str(key) for key in np.asarray(state["keys"]).tolist()]
        if vectors.ndim != 2:
            raise ValueError(f"state vectors must be [n, dim]; got shape {vectors.shape}")
        if len(set(keys)) != len(keys):
            raise ValueError("state keys contain duplicates")
        index = cls(vectors.shape[1], **options)
        index.upsert_many(keys, vectors)
        index.sync()
        return index

    # ---- internals (callers hold the lock) -----------------------------------------------------------

    def _compaction_due(self) -> bool:
        return self.compact_fraction is not None and self._dead > self.compact_fraction * len(self._slot_keys)

    def _put(self, key: str, row: FloatArray) -> None:
        slot = self._slot_of.get(key)
        if slot is not None and (self._hnsw is None or slot >= self._hnsw.ntotal):
            self._vecs[slot] = row  # not in the graph (yet): overwrite in place
            return
        if slot is not None:
            self._kill(slot)
        slot = len(self._slot_keys)
        self._reserve(slot + 1)
        self._vecs[slot] = row
        self._live[slot] = True
        self._repack_bits(slot, slot + 1)
        self._slot_keys.append(key)
        self._slot_of[key] = slot

    def _kill(self, slot: int) -> None:
        self._slot_of.pop(self._slot_keys[slot], None)  # type: ignore[arg-type]
        self._slot_keys[slot] = None
        self._live[slot] = False
        self._repack_bits(slot, slot + 1)
        self._dead += 1

    def _reserve(self, needed: int) -> None:
        capacity = len(self._vecs)
        if needed <= capacity:
            return
        capacity = _round8(max(64, 2 * capacity, needed + needed // 4))
        vecs = np.empty((capacity, self.dim), np.float32)
        n_slots = len(self._slot_keys)
        vecs[:n_slots] = self._vecs[:n_slots]
        live = np.zeros(capacity, bool)
        live[:n_slots] = self._live[:n_slots]
        self._vecs, self._live = vecs, live
        self._live_bits = np.packbits(live, bitorder="little")

    def _repack_bits(self, start: int, stop: int) -> None:
        lo, hi = start >> 3, (stop + 7) >> 3  # the bytes holding slots [start, stop)
        self._live_bits[lo:hi] = np.packbits(self._live[lo * 8 : hi * 8], bitorder="little")

    def _build_hnsw(self) -> None:
        index = faiss.IndexHNSWFlat(self.dim, self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.add(self._vecs[: len(self._slot_keys)])
        self._hnsw = index

    def _slots_for(self, allowed: Iterable[str]) -> SlotArray:
        get = self._slot_of.get
        slots = np.fromiter((s for s in map(get, allowed) if s is not None), np.int64)
        # Sorted (rows are then read in memory order) and deduplicated. Not np.unique: numpy 2.4 took
        # 320 ms for 200k ids where sorting and comparing neighbours takes 4 ms.
        slots.sort()
        return slots[np.r_[True, slots[1:] != slots[:-1]]] if len(slots) else slots

    def _one_vector(self, vector: npt.ArrayLike, name: str) -> FloatArray:
        arr = np.asarray(vector, dtype=np.float32)
        if arr.shape != (self.dim,):
            raise ValueError(f"{name} must have shape ({self.dim},); got {arr.shape}")
        return arr

    def _unit_rows(self, vectors: npt.ArrayLike, name: str) -> FloatArray:
        """Validated, normalised copy of `vectors`: [n, dim] float32."""
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}); got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite; got NaN or infinity")
        norms = np.linalg.norm(arr, axis=1, keepdims=True)  # [n, 1]
        if (norms == 0).any():
            raise ValueError(f"{name} must not contain an all-zero vector (it has no direction)")
        return np.ascontiguousarray(arr / norms, dtype=np.float32)


def _top_k(scores: FloatArray, k: int) -> tuple[FloatArray, SlotArray]:
    """Best `k` columns per row of `scores` ([nq, n], k <= n), best first: scores and columns, [nq, k]."""
    if k < scores.shape[1]:
        cols = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    top = np.take_along_axis(scores, cols, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(cols, order, axis=1).astype(np.int64)


def _masked(scores: FloatArray, excluded: npt.NDArray[np.bool_] | None) -> FloatArray:
    """`scores` ([nq, n]) with excluded columns ([n]) set to -inf, in place."""
    if excluded is not None:
        scores[:, excluded] = -np.inf
    return scores


@contextmanager
def _one_omp_thread() -> Iterator[None]:
    """Run FAISS on the calling thread only. The OpenMP thread count is per calling thread, so other
    threads (a consumer building the graph, say) keep theirs."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _round8(n: int) -> int:
    return (n + 7) // 8 * 8


def _require_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _require_key(key: object) -> None:
    if not isinstance(key, str):
        raise TypeError(f"keys must be str; got {type(key).__name__}")
