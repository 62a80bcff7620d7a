"""Character n-gram and word TF-IDF: matches Chinese without word segmentation, and exact terms in any language.

Stored like a small LSM tree so that an upsert costs O(its own text), not O(corpus): a main CSR matrix
built at compaction (with the IDF frozen then), a delta of rows upserted since, and tombstones for main
rows that were replaced or removed. Compaction runs when the delta or the tombstones pass a fraction of
the main matrix; a live read model builds the new main matrix without holding its lock (`Compaction`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from models.text import fold

N_FEATURES = 2**20
_DENSE_QUERY_MIN_NNZ = 50_000  # above this, dot_rows scatters the query densely (4 MB) instead of searching
# A search skips the query's terms that more than this share of the rows use (and at least _COMMON_TERM_MIN_ROWS),
# unless the query has no other terms: as Lucene's common-terms query does with its cutoff frequency. Such terms
# weigh little (low IDF) but their posting lists are most of a search's work. Searches only gather candidates,
# which are then scored on every term. On the Crunchbase validation cut (15k projects) a deal feed took 15 ms
# instead of 21, and recall held (R@10 company -> investors 0.246 -> 0.245, investor -> companies 0.149 -> 0.151).
_COMMON_TERM_FRACTION = 0.1
_COMMON_TERM_MIN_ROWS = 1000
# An index compacted off the lock (`SparseTextIndex.compacted_off_lock`) still compacts at once, under the caller's
# lock, when its changes pass this many times the usual limit: its owner has fallen behind (or is replaying).
_OFF_LOCK_HARD_FACTOR = 2
_STACK_CHUNK = 2048  # blocks joined by one np.concatenate (see stack_rows)


_char_ngrams = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 3), lowercase=True).build_analyzer()
_WORD = re.compile(r"(?u)\b\w\w+\b")


def terms(text: str) -> list[str]:
    """Character 2-3-grams (Chinese without segmentation, word parts, typos) and whole words, marked "w:" so
    they never equal an n-gram: a shared word ('usa', 'saas') then counts for more than shared letters. On the
    Crunchbase validation cut the words lifted both directions (R@10 0.219 -> 0.223 and 0.106 -> 0.108).
    Of the `fold`ed text."""
    text = fold(text)
    return _char_ngrams(text) + ["w:" + w for w in _WORD.findall(text.lower())]


CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")  # Chinese characters (with Ext. A, compatibility)


def words(text: str) -> list[str]:
    """Whole words, and Chinese as character bigrams (the usual unit of a Chinese word, no segmenter needed).
    For comparing projects with portfolios: character n-grams there match word parts and common endings, and on
    the Crunchbase validation cut words alone ranked better (see `Portfolio`). Of the `fold`ed text."""
    text = fold(text).lower()
    out = _WORD.findall(CJK_RUN.sub(" ", text))
    for run in CJK_RUN.findall(text):
        out += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    return out


class SparseTextIndex:
    """`analyzer` turns a text into its terms. `idf_from`: weigh terms by another index's IDF (the one it had at
    this index's last compaction), for texts compared with that index's corpus rather than with each other;
    this index then compacts whenever that one has. `min_compact`: see `maybe_compact`; None for a bulk load,
    which calls `compact()` itself at the end."""

    def __init__(self, compact_fraction: float = 0.1, min_compact: int | None = 256,
                 analyzer: Callable[[str], list[str]] = terms, idf_from: SparseTextIndex | None = None) -> None:
        self._vec = HashingVectorizer(analyzer=analyzer, n_features=N_FEATURES, alternate_sign=False, norm=None,
                                      dtype=np.float32)
        self.generation: int = 0  # how many times this index has compacted (its IDF may change each time)
        self.revision: int = 0  # changes whenever a row or a weight does: upserts, removals, compactions
        self._idf_from = idf_from
        # idf_from's generation that this index's weights come from (both start with all-ones IDF)
        self._idf_generation = idf_from.generation if idf_from is not None else 0
        self._rows: dict[str, sp.csr_matrix] = {}  # key -> [1, F] sublinear term counts
        # document frequencies, for this index's own IDF (none kept when it takes another's)
        self._df = np.zeros(N_FEATURES if idf_from is None else 0, dtype=np.int32)
        self._idf = np.ones(N_FEATURES, dtype=np.float32)
        # [n_main, F]: tf-idf rows, l2-normalised (rows of known keys are read in one slice), and the same
        # transposed, [F, n_main], so that a query only walks the posting lists of its own terms (cost grows with
        # those lists, not with the corpus)
        self._main = sp.csr_matrix((0, N_FEATURES), dtype=np.float32)
        self._main_t = sp.csr_matrix((N_FEATURES, 0), dtype=np.float32)
        self._main_keys: list[str] = []
        self._main_pos: dict[str, int] = {}
        self._dead = np.zeros(0, dtype=bool)  # [n_main] main rows that are stale (replaced or removed)
        self._delta: dict[str, sp.csr_matrix] = {}  # key -> [1, F] tf-idf row with the frozen idf
        self._delta_rows: tuple[list[str], sp.csr_matrix] | None = None  # the delta stacked, built on demand
        self._compact_fraction = compact_fraction
        self._min_compact = min_compact
        # True when the owner compacts this index off its lock when `compaction_due()` (`plan_compaction`, then
        # `Compaction.build` without the lock, then `install`); changes then compact it at once only when far past due
        self.compacted_off_lock = False
        self._changed_since_plan: set[str] | None = None  # keys upserted or removed since the pending plan

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
        """[1, F] tf-idf row of `key`; None when it is not indexed."""
        if key not in self._rows:
            return None
        if key in self._delta:
            return self._delta[key]
        pos = self._main_pos[key]
        return self._main[pos:pos + 1]  # a slice: scipy's fancy indexing costs ~10x more for one row

    def rows(self, keys: list[str]) -> tuple[sp.csr_matrix, list[int]]:
        """The tf-idf rows of the indexed ones among `keys`, stacked [n_known, F] in their order, and their
        positions in `keys`. Current main rows come from one slice of the main matrix; the others (upserted
        since the last compaction) from the delta."""
        known = [j for j, key in enumerate(keys) if key in self._rows]
        in_delta = [j for j in known if keys[j] in self._delta]
        if not in_delta:  # the usual case: one slice, already in order
            return self._main[[self._main_pos[keys[j]] for j in known]], known
        in_main = [j for j in known if keys[j] not in self._delta]
        blocks = [self._main[[self._main_pos[keys[j]] for j in in_main]]]
        blocks += [self._delta[keys[j]] for j in in_delta]
        stacked = stack_rows(blocks)  # [n_known, F]: main rows, then delta rows
        slot = {j: i for i, j in enumerate(in_main + in_delta)}
        return stacked[[slot[j] for j in known]], known

    def upsert(self, key: str, text: str) -> None:
        counts = self.term_counts(text)
        stored = self._rows.get(key)
        if (stored is not None and np.array_equal(stored.indices, counts.indices)
                and np.array_equal(stored.data, counts.data)):
            return  # the same terms: nothing changes (every investor event re-indexes its unchanged portfolio)
        self.remove(key)
        self.revision += 1
        self._note_change(key)
        self._rows[key] = counts
        if self._idf_from is None:
            self._df[counts.indices] += 1
        self._delta[key] = self._weigh(counts)
        self._delta_rows = None
        self.maybe_compact()

    def remove(self, key: str) -> None:
        counts = self._rows.pop(key, None)
        if counts is None:
            return
        self.revision += 1
        self._note_change(key)
        if self._idf_from is None:
            self._df[counts.indices] -= 1
        if self._delta.pop(key, None) is not None:
            self._delta_rows = None
        pos = self._main_pos.get(key)
        if pos is not None:
            self._dead[pos] = True
        self.maybe_compact()

    def _note_change(self, key: str) -> None:
        if self._changed_since_plan is not None:
            self._changed_since_plan.add(key)

    def maybe_compact(self) -> None:
        """Compact when `compaction_due()`; an index compacted off the lock only when its changes pass
        `_OFF_LOCK_HARD_FACTOR` times the limit (its owner compacts it before that)."""
        if self._min_compact is None:
            return
        if self.compacted_off_lock:
            if self._changes() > _OFF_LOCK_HARD_FACTOR * self._limit():
                self.compact()
        elif self.compaction_due():
            self.compact()

    def compaction_due(self) -> bool:
        """The rows changed since the last compaction pass a fraction of the main rows and `min_compact`, or, while
        the main rows are fewer than that, their own number: a small index (a pilot with a few dozen projects) then
        compacts each time it doubles, and has an IDF too. Or the index whose IDF this one uses has compacted."""
        if self._min_compact is None:
            return False
        stale = self._idf_from is not None and self._idf_generation != self._idf_from.generation
        return stale or self._changes() > self._limit()

    def _changes(self) -> int:
        return len(self._delta) + int(np.count_nonzero(self._dead))

    def _limit(self) -> float:
        n_main = len(self._main_keys)
        return max(self._compact_fraction * n_main, min(self._min_compact or 0, n_main))

    def compact(self) -> None:
        self.install(self.plan_compaction().build())

    def plan_compaction(self) -> Compaction:
        """What the next main matrix is made of: the rows and the IDF as they are now (cheap: no matrix is built).
        Changes made until `install` are noted and stay in the delta then."""
        self._changed_since_plan = set()
        # two lists rather than 100k (key, row) tuples: tuples are tracked by the garbage collector, and that many
        # new ones can set off a full collection (~0.9 s at 100k projects) right here, under the lock
        keys, rows = list(self._rows), list(self._rows.values())
        if self._idf_from is None:
            return Compaction(self.generation, keys, rows, df=self._df.copy(), idf=None, idf_generation=0)
        return Compaction(self.generation, keys, rows, df=None, idf=self._idf_from._idf,
                          idf_generation=self._idf_from.generation)

    def install(self, built: BuiltMain) -> bool:
        """Make `built` the main matrix; the rows changed since its plan stay in the delta (re-weighed by the new
        IDF) and their main rows become tombstones. False, and nothing changes, when the index has compacted since
        the plan (the built matrix is older than the main one)."""
        plan = built.plan
        if plan.generation != self.generation:
            return False
        changed, self._changed_since_plan = self._changed_since_plan or set(), None
        self._idf, self._idf_generation = built.idf, plan.idf_generation
        self.generation += 1
        self.revision += 1
        self._main_keys, self._main_pos, self._main, self._main_t = built.keys, built.pos, built.main, built.main_t
        self._dead = np.zeros(len(self._main_keys), dtype=bool)
        self._delta = {key: self._weigh(self._rows[key]) for key in changed if key in self._rows}
        for key in changed:
            pos = self._main_pos.get(key)
            if pos is not None:
                self._dead[pos] = True
        self._delta_rows = None
        return True

    def search(self, query: sp.csr_matrix) -> Iterator[tuple[str, float]]:
        """(key, cosine) of every live row sharing a term with `query` [1, F], best first (ties: main rows,
        then delta rows, each in index order), lazily: callers stop once they have enough, so only the best
        few hundred are usually sorted and turned into keys. Terms that more than `_COMMON_TERM_FRACTION` of
        the rows use are left out of the query when it has others (see `_without_common_terms`)."""
        query = self._without_common_terms(query)
        main = np.zeros(len(self._main_keys), dtype=np.float32)  # [n_main]
        if len(main) and query.nnz:
            postings = self._main_t[query.indices]  # [q_terms, n_main]: the posting lists of the query's terms
            main = np.asarray(postings.T @ query.data, dtype=np.float32)  # [n_main]
            main[self._dead] = 0.0
        delta_keys: list[str] = []
        delta = np.zeros(0, dtype=np.float32)  # [n_delta]
        if self._delta:
            delta_keys, rows = self._stacked_delta()
            delta = dot_rows(rows, query)
        sims = np.concatenate([main, delta])  # [n_main + n_delta]
        n_main = len(main)
        for j in _best_first(sims):
            yield (self._main_keys[j] if j < n_main else delta_keys[j - n_main]), float(sims[j])

    def _without_common_terms(self, query: sp.csr_matrix) -> sp.csr_matrix:
        """`query` [1, F] without the terms that more than `_COMMON_TERM_FRACTION` of the main rows use, unless it
        has no other terms."""
        indptr = self._main_t.indptr
        lengths = indptr[query.indices + 1] - indptr[query.indices]  # [q_terms] posting list lengths
        rare = lengths <= max(_COMMON_TERM_FRACTION * len(self._main_keys), _COMMON_TERM_MIN_ROWS)
        if rare.all() or not rare.any():
            return query
        return sp.csr_matrix((query.data[rare], query.indices[rare], [0, int(rare.sum())]), shape=query.shape)

    def similarities(self, queries: sp.csr_matrix) -> np.ndarray:
        """[m, n_live] cosines of each query row of `queries` [m, F] with every live row (main rows, then delta)."""
        main = np.zeros((queries.shape[0], 0), dtype=np.float32)
        if self._main_keys:
            main = (queries @ self._main_t).toarray()[:, ~self._dead]  # [m, n_main_live]
        if not self._delta:
            return main
        delta = (queries @ self._stacked_delta()[1].T).toarray()  # [m, n_delta]
        return np.hstack([main, delta])

    def _stacked_delta(self) -> tuple[list[str], sp.csr_matrix]:
        """The delta's keys and rows stacked [n_delta, F], kept until the delta changes."""
        if self._delta_rows is None:
            self._delta_rows = (list(self._delta), stack_rows(list(self._delta.values())))
        return self._delta_rows

    def similarity(self, query: sp.csr_matrix, keys: list[str]) -> np.ndarray:
        """[len(keys)] cosine similarities; 0 for unknown keys."""
        out = np.zeros(len(keys), dtype=np.float32)
        found, known = self.rows(keys)
        out[known] = dot_rows(found, query)
        return out


@dataclass(frozen=True)
class Compaction:
    """A planned compaction: the rows and what to weigh them by. `build` only reads these (the index replaces rows
    and IDF arrays, never changes them), so it runs without the read model's lock."""

    generation: int  # the index's generation when planned
    keys: list[str]
    rows: list[sp.csr_matrix]  # [1, F] each, the keys' sublinear term counts
    df: np.ndarray | None  # [F] document frequencies, for an index with an IDF of its own (computed in `build`)
    idf: np.ndarray | None  # [F] the other index's IDF, for an index weighed by that
    idf_generation: int  # that index's generation

    def build(self) -> BuiltMain:
        if self.df is not None:
            idf = (np.log((1.0 + len(self.keys)) / (1.0 + self.df)) + 1.0).astype(np.float32)
        else:
            assert self.idf is not None  # one of the two is set
            idf = self.idf
        keys = self.keys
        if not keys:
            return BuiltMain(self, idf, keys, {}, sp.csr_matrix((0, N_FEATURES), dtype=np.float32),
                             sp.csr_matrix((N_FEATURES, 0), dtype=np.float32))
        counts = stack_rows(self.rows)  # [n_main, F]
        weights = counts.data * idf[counts.indices]  # O(nnz), as in _weigh
        per_row = np.diff(counts.indptr)
        norms = np.ones(len(per_row), dtype=np.float32)
        has_terms = per_row > 0  # reduceat over the rows with terms: each sums up to the next one's start
        if has_terms.any():
            norms[has_terms] = np.sqrt(np.add.reduceat(weights * weights, counts.indptr[:-1][has_terms]))
        norms[norms == 0] = 1.0
        weights /= np.repeat(norms, per_row)
        main = sp.csr_matrix((weights, counts.indices, counts.indptr), shape=counts.shape)
        return BuiltMain(self, idf, keys, {k: i for i, k in enumerate(keys)}, main, main.T.tocsr())


@dataclass(frozen=True)
class BuiltMain:
    """A compaction's IDF, its main matrix [n_main, F] of l2-normalised tf-idf rows, and that transposed."""

    plan: Compaction
    idf: np.ndarray  # [F]
    keys: list[str]
    pos: dict[str, int]
    main: sp.csr_matrix
    main_t: sp.csr_matrix


def stack_rows(blocks: list[sp.csr_matrix]) -> sp.csr_matrix:
    """The rows of CSR blocks [n_i, F], stacked [sum n_i, F]. `sp.vstack` takes ~2 s for 100k single rows (it
    checks and converts each block); joining their arrays takes a quarter of that. Many blocks are joined a chunk
    at a time: one `np.concatenate` of 100k arrays holds the GIL for ~0.2 s, which request threads would wait for
    while a compaction builds beside them."""
    if not blocks:
        return sp.csr_matrix((0, N_FEATURES), dtype=np.float32)
    if len(blocks) > _STACK_CHUNK:
        return stack_rows([stack_rows(blocks[i:i + _STACK_CHUNK]) for i in range(0, len(blocks), _STACK_CHUNK)])
    offsets = np.cumsum([0] + [b.data.size for b in blocks[:-1]]).tolist()  # where each block's entries start
    indptr = np.concatenate([[0]] + [b.indptr[1:] + offset for b, offset in zip(blocks, offsets, strict=True)])
    return sp.csr_matrix((np.concatenate([b.data for b in blocks]), np.concatenate([b.indices for b in blocks]),
                          indptr), shape=(len(indptr) - 1, blocks[0].shape[1]))


def _best_first(scores: np.ndarray, first: int = 256) -> Iterator[int]:
    """Indices of the positive `scores`, highest first (ties by index), sorted band by band: the best `first`
    (with any ties of the last one), then four times as many, and so on."""
    remaining = np.flatnonzero(scores > 0)
    k = first
    while len(remaining):
        values = scores[remaining]
        if k < len(remaining):
            kth = np.partition(values, len(values) - k)[len(values) - k]  # the k-th highest
            in_band = values >= kth
        else:
            in_band = np.ones(len(remaining), dtype=bool)
        band = remaining[in_band]
        yield from band[np.lexsort((band, -scores[band]))].tolist()
        remaining = remaining[~in_band]
        k *= 4


def cross_products(rows: sp.csr_matrix, others: sp.csr_matrix) -> np.ndarray:
    """[n, m] inner products of each row of `rows` [n, F] with each row of `others` [m, F], as float32.

    `rows @ others.T` would first turn the [F, m] transpose into CSR, an O(F) = O(2**20) allocation per call: 1.25 ms
    for a feed's 150 candidates against 8 portfolio companies. Here `rows` is renumbered onto the c terms that
    `others` use and multiplied with `others` as a dense [c, m]: 0.17 ms.
    """
    n, m = rows.shape[0], others.shape[0]
    terms_used = np.unique(others.indices)  # [c] sorted
    if not len(terms_used) or rows.nnz == 0:
        return np.zeros((n, m), dtype=np.float32)
    pos = np.minimum(np.searchsorted(terms_used, rows.indices), len(terms_used) - 1)  # [nnz_rows]
    hit = terms_used[pos] == rows.indices
    kept_before = np.concatenate(([0], np.cumsum(hit)))  # [nnz_rows + 1]: hits before each entry
    mine = sp.csr_matrix((rows.data[hit], pos[hit], kept_before[rows.indptr]), shape=(n, len(terms_used)))
    theirs = np.zeros((len(terms_used), m), dtype=np.float32)  # [c, m]
    theirs[np.searchsorted(terms_used, others.indices), np.repeat(np.arange(m), np.diff(others.indptr))] = others.data
    return np.asarray(mine @ theirs, dtype=np.float32)


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
