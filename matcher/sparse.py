"""Character n-gram TF-IDF: matches Chinese without word segmentation, and exact terms in any language.

Stored like a small LSM tree so that an upsert costs O(its own text), not O(corpus): a main CSR matrix
built at compaction (with the IDF frozen then), a delta of rows upserted since, and tombstones for main
rows that were replaced or removed. Compaction runs when the delta or the tombstones pass a fraction of
the main matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

N_FEATURES = 2**20
_DENSE_QUERY_MIN_NNZ = 50_000  # above this, dot_rows scatters the query densely (4 MB) instead of searching


def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(analyzer="char_wb", ngram_range=(2, 3), n_features=N_FEATURES,
                             alternate_sign=False, norm=None, lowercase=True, dtype=np.float32)


class SparseTextIndex:
    def __init__(self, compact_fraction: float = 0.1, min_compact: int = 256) -> None:
        self._vec = _vectorizer()
        self._rows: dict[str, sp.csr_matrix] = {}  # key -> [1, F] sublinear term counts
        self._df = np.zeros(N_FEATURES, dtype=np.int32)
        self._idf = np.ones(N_FEATURES, dtype=np.float32)
        # [F, n_main]: tf-idf rows, l2-normalised, stored transposed so that a query only walks the
        # posting lists of its own terms (cost grows with those lists, not with the corpus)
        self._main_t = sp.csr_matrix((N_FEATURES, 0), dtype=np.float32)
        self._main_keys: list[str] = []
        self._main_pos: dict[str, int] = {}
        self._dead: set[str] = set()  # keys whose main row is stale
        self._delta: dict[str, sp.csr_matrix] = {}  # key -> [1, F] tf-idf row with the frozen idf
        self._compact_fraction = compact_fraction
        self._min_compact = min_compact

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def term_counts(self, text: str) -> sp.csr_matrix:
        counts = self._vec.transform([text]).tocsr()
        counts.data = 1.0 + np.log(counts.data)  # sublinear tf: long texts do not win by repetition
        return counts

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        # O(nnz): scipy's broadcast multiply by the dense [F] idf costs O(F) per row
        row = counts.copy()
        row.data = row.data * self._idf[row.indices]
        norm = np.sqrt(np.dot(row.data, row.data))
        if norm > 0:
            row.data /= norm
        return row

    def query_vector(self, text: str) -> sp.csr_matrix:
        """[1, F] tf-idf vector of free text, comparable with the stored rows."""
        return self._weigh(self.term_counts(text))

    def row(self, key: str) -> sp.csr_matrix | None:
        counts = self._rows.get(key)
        return None if counts is None else self._weigh(counts)

    def upsert(self, key: str, text: str) -> None:
        self.remove(key)
        counts = self.term_counts(text)
        self._rows[key] = counts
        self._df[counts.indices] += 1
        self._delta[key] = self._weigh(counts)
        self._maybe_compact()

    def remove(self, key: str) -> None:
        counts = self._rows.pop(key, None)
        if counts is None:
            return
        self._df[counts.indices] -= 1
        self._delta.pop(key, None)
        if key in self._main_pos:
            self._dead.add(key)
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        limit = max(self._min_compact, self._compact_fraction * len(self._main_keys))
        if len(self._delta) + len(self._dead) > limit:
            self.compact()

    def compact(self) -> None:
        n = len(self._rows)
        self._idf = (np.log((1.0 + n) / (1.0 + self._df)) + 1.0).astype(np.float32)
        self._main_keys = list(self._rows)
        self._main_pos = {k: i for i, k in enumerate(self._main_keys)}
        if self._main_keys:
            counts = sp.vstack([self._rows[k] for k in self._main_keys]).tocsr()
            weighted = counts.multiply(self._idf).tocsr()
            norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
            norms[norms == 0] = 1.0
            self._main_t = sp.diags(1.0 / norms).dot(weighted).T.tocsr().astype(np.float32)
        else:
            self._main_t = sp.csr_matrix((N_FEATURES, 0), dtype=np.float32)
        self._dead.clear()
        self._delta.clear()

    def scores(self, query: sp.csr_matrix) -> dict[str, float]:
        """Cosine similarity of `query` [1, F] with every live row that shares a term with it."""
        out: dict[str, float] = {}
        if self._main_t.shape[1]:
            sims = (query @ self._main_t).tocoo()  # [1, n_main], only rows sharing a term
            for i, s in zip(sims.col, sims.data, strict=True):
                key = self._main_keys[i]
                if key not in self._dead:
                    out[key] = float(s)
        for key, row in self._delta.items():
            s = float(row.dot(query.T).sum())
            if s > 0:
                out[key] = s
        return out

    def search(self, query: sp.csr_matrix, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        scored = self.scores(query)
        if allowed is not None:
            scored = {key: s for key, s in scored.items() if key in allowed}
        return sorted(scored.items(), key=lambda kv: -kv[1])[:k]

    def similarity(self, query: sp.csr_matrix, keys: list[str]) -> np.ndarray:
        """[len(keys)] cosine similarities; 0 for unknown keys."""
        out = np.zeros(len(keys), dtype=np.float32)
        for j, key in enumerate(keys):
            row = self.row(key)
            if row is not None:
                out[j] = float(dot_rows(row, query)[0])
        return out


def dot_rows(rows: sp.csr_matrix, query: sp.csr_matrix) -> np.ndarray:
    """Inner products of each row of `rows` [n, F] with the row `query` [1, F], as float32 [n].

    Costs O(nnz of rows): `rows @ query.T` would first turn the [F, 1] transpose into CSR, an O(F) = O(2**20)
    allocation per call. Small batches look the query's terms up by binary search; large ones (a few hundred
    investors' portfolios) scatter the query into a dense [F] vector once and gather from it.
    """
    out = np.zeros(rows.shape[0], dtype=np.float32)
    if query.nnz == 0 or rows.nnz == 0:
        return out
    if rows.nnz >= _DENSE_QUERY_MIN_NNZ:
        dense = np.zeros(rows.shape[1], dtype=np.float32)  # [F]
        dense[query.indices] = query.data
        products = rows.data * dense[rows.indices]  # [nnz_rows]
    else:
        if not query.has_sorted_indices:
            query = query.sorted_indices()
        q_idx, q_val = query.indices, query.data
        pos = np.minimum(np.searchsorted(q_idx, rows.indices), len(q_idx) - 1)  # [nnz_rows]
        products = np.where(q_idx[pos] == rows.indices, rows.data * q_val[pos], 0.0)
    sums = np.concatenate(([0.0], np.cumsum(products, dtype=np.float64)))  # [nnz_rows + 1]
    out[:] = sums[rows.indptr[1:]] - sums[rows.indptr[:-1]]
    return out
