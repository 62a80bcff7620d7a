"""MatchService: ranked, explained matches in both directions over the read model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import scipy.sparse as sp

from matcher.encoder import Encoder
from matcher.errors import InvalidRequest, NotFound
from matcher.ranking import FEATURES, DefaultRanker, PairContext, Ranker, Reason, features, reasons
from matcher.view import ReadModel
from models.entities import Investor, Project
from models.taxonomy import SECTORS, STAGES, city_key


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


@dataclass(frozen=True)
class Match:
    entity_id: str
    score: float
    features: dict[str, float]
    contributions: dict[str, float]
    reasons: list[Reason] = field(default_factory=list)


class MatchService:
    def __init__(self, view: ReadModel, encoder: Encoder | None = None, ranker: Ranker | None = None,
                 candidates: int = 100) -> None:
        self.view = view
        self.encoder = encoder
        self.ranker: Ranker = ranker or DefaultRanker()
        self.candidates = candidates
        self._portfolio_cache: dict[str, tuple[int, sp.csr_matrix, list[str]]] = {}

    # ---- public -----------------------------------------------------------------------------------
    def recommend_projects(self, investor_id: str, k: int = 10, filters: MatchFilters = NO_FILTERS,
                           offset: int = 0) -> list[Match]:
        """Open projects for an investor's deal feed, best first; passed and invested ones never appear."""
        _check_page(k, offset)
        with self.view.lock:
            self._investor(investor_id)
            vec = self.view.vector("investors", investor_id)
            row = self.view.investor_text.row(investor_id)

            def eligible(pid: str) -> bool:
                p = self.view.projects.get(pid)
                return (p is not None and p.value.status == "open" and filters.accepts_project(p.value)
                        and not self.view.feedback.excluded(investor_id, pid))

            ids = self._candidates("projects", vec, row, eligible, k + offset)
            return self._rank([(investor_id, pid) for pid in ids], filters.min_score, "projects")[offset:offset + k]

    def recommend_investors(self, project_id: str, k: int = 10, filters: MatchFilters = NO_FILTERS,
                            offset: int = 0) -> list[Match]:
        """Verified, active investors for a founder's project, best first."""
        _check_page(k, offset)
        with self.view.lock:
            self._project(project_id)
            vec = self.view.vector("projects", project_id)
            row = self.view.project_text.row(project_id)

            def eligible(iid: str) -> bool:
                i = self.view.investors.get(iid)
                return (i is not None and i.value.status == "active" and i.value.verification == "verified"
                        and filters.accepts_investor(i.value) and not self.view.feedback.excluded(iid, project_id))

            ids = self._candidates("investors", vec, row, eligible, k + offset)
            return self._rank([(iid, project_id) for iid in ids], filters.min_score, "investors")[offset:offset + k]

    def search(self, text: str, side: str, k: int = 10, filters: MatchFilters = NO_FILTERS,
               offset: int = 0) -> list[Match]:
        """Free-text search (Chinese, English or mixed) over open projects or verified investors."""
        _check_page(k, offset)
        if side not in ("projects", "investors"):
            raise InvalidRequest(f"side must be one of projects, investors; got {side!r}")
        if not text.strip():
            raise InvalidRequest("q must not be empty")
        vec = self.encoder.encode_queries([text])[0] if self.encoder is not None else None
        with self.view.lock:
            sparse_index = self.view.project_text if side == "projects" else self.view.investor_text
            row = sparse_index.query_vector(text)
            if side == "projects":
                def eligible(eid: str) -> bool:
                    p = self.view.projects.get(eid)
                    return p is not None and p.value.status == "open" and filters.accepts_project(p.value)
            else:
                def eligible(eid: str) -> bool:
                    i = self.view.investors.get(eid)
                    return (i is not None and i.value.status == "active" and i.value.verification == "verified"
                            and filters.accepts_investor(i.value))
            ids = self._candidates(side, vec, row, eligible, k + offset)
            index = self.view.project_index if side == "projects" else self.view.investor_index
            dense = np.zeros(len(ids), dtype=np.float32)
            if vec is not None and index is not None:
                for j, eid in enumerate(ids):
                    v = index.get(eid)
                    dense[j] = 0.0 if v is None else float(v @ vec)
            sparse = sparse_index.similarity(row, ids)
            score = 0.6 * np.clip(dense, 0, 1) + 0.4 * sparse
            order = np.argsort(-score, kind="stable")
            out = []
            for j in order[offset:offset + k]:
                contrib = {"dense": float(0.6 * max(0.0, dense[j])), "sparse": float(0.4 * sparse[j])}
                out.append(Match(ids[j], float(score[j]), {"dense": float(dense[j]), "sparse": float(sparse[j])},
                                 contrib, []))
            return [m for m in out if m.score >= filters.min_score]

    def score_pairs(self, investor_id: str, project_ids: list[str]) -> list[Match]:
        """Scores of one investor with each given project, unfiltered (rosters, schedules)."""
        with self.view.lock:
            self._investor(investor_id)
            pairs = [(investor_id, pid) for pid in project_ids if pid in self.view.projects]
            return self._rank(pairs, min_score=-np.inf, return_side="projects")

    def explain(self, investor_id: str, project_id: str) -> Match:
        with self.view.lock:
            self._investor(investor_id)
            self._project(project_id)
            return self._rank([(investor_id, project_id)], min_score=-1.0, return_side="projects")[0]

    # ---- internals --------------------------------------------------------------------------------
    def _investor(self, investor_id: str) -> Investor:
        found = self.view.investors.get(investor_id)
        if found is None:
            raise NotFound("investor", investor_id)
        return found.value

    def _project(self, project_id: str) -> Project:
        found = self.view.projects.get(project_id)
        if found is None:
            raise NotFound("project", project_id)
        return found.value

    def _candidates(self, side: str, vec: np.ndarray | None, row: sp.csr_matrix | None, eligible, need: int
                    ) -> list[str]:
        """Eligible ids from the dense index and the sparse index (each oversampled); when the filters
        are too strict for oversampling to find enough, every entity of the side is checked."""
        store = self.view.projects if side == "projects" else self.view.investors
        index = self.view.project_index if side == "projects" else self.view.investor_index
        sparse_index = self.view.project_text if side == "projects" else self.view.investor_text
        want = max(self.candidates, 3 * need)
        if len(store) <= 4 * want:  # small side: score everything eligible
            return [eid for eid in store if eligible(eid)]
        found: dict[str, None] = {}
        if vec is not None and index is not None:
            for eid, _ in index.search(vec, 4 * want):
                if eligible(eid):
                    found[eid] = None
                    if len(found) >= want:
                        break
        if row is not None:
            n_sparse = 0
            for eid, _ in sparse_index.search(row, 4 * want):
                if eligible(eid):
                    found[eid] = None
                    n_sparse += 1
                    if n_sparse >= want:
                        break
        if len(found) < need:
            allowed = {eid for eid in store if eligible(eid)}
            if vec is not None and index is not None:
                found.update((eid, None) for eid, _ in index.search(vec, want, allowed=allowed))
            if len(found) < need:
                found.update((eid, None) for eid in list(allowed)[:want])
        return list(found)

    def _portfolio(self, investor_id: str, investor: Investor, version: int) -> tuple[sp.csr_matrix, list[str]]:
        cached = self._portfolio_cache.get(investor_id)
        if cached is None or cached[0] != version:
            texts = [f"{c.name} {c.description} " + " ".join(f"{SECTORS[s][0]} {SECTORS[s][1]}" for s in c.sectors)
                     for c in investor.portfolio]
            rows = (sp.vstack([self.view.project_text.query_vector(t) for t in texts]).tocsr() if texts
                    else sp.csr_matrix((0, 1)))
            cached = (version, rows, [c.name for c in investor.portfolio])
            self._portfolio_cache[investor_id] = cached
        return cached[1], cached[2]

    def context(self, investor_id: str, project_id: str, now: datetime, pending: dict[str, int]) -> PairContext:
        view = self.view
        inv = view.investors[investor_id]
        iv, pv = view.vector("investors", investor_id), view.vector("projects", project_id)
        dense = float(iv @ pv) if iv is not None and pv is not None else 0.0
        irow, prow = view.investor_text.row(investor_id), view.project_text.row(project_id)
        sparse = float(irow.dot(prow.T).sum()) if irow is not None and prow is not None else 0.0
        portfolio, nearest = 0.0, None
        port_rows, names = self._portfolio(investor_id, inv.value, inv.version)
        if prow is not None and names:
            sims = np.asarray(port_rows.dot(prow.T).todense()).ravel()  # [n_portfolio]
            best = int(np.argmax(sims))
            portfolio, nearest = float(sims[best]), names[best]
        fb = view.feedback
        pair = (investor_id, project_id)
        return PairContext(
            dense=dense, sparse=sparse, portfolio=portfolio, nearest_portfolio=nearest,
            deals_last_30_days=view.deals_in_last_30_days(investor_id, now),
            invested_count=fb.invested_count.get(investor_id, 0),
            pending_intros=pending.get(investor_id, 0), saved=pair in fb.saved,
        )

    def _rank(self, pairs: list[tuple[str, str]], min_score: float, return_side: str) -> list[Match]:
        """Score (investor, project) pairs and return them best first, with reasons."""
        if not pairs:
            return []
        now = datetime.now(UTC)
        pending = self.view.pending_intros()
        contexts = [self.context(i, p, now, pending) for i, p in pairs]
        entities = [(self.view.investors[i].value, self.view.projects[p].value) for i, p in pairs]
        x = np.stack([features(inv, proj, ctx) for (inv, proj), ctx in zip(entities, contexts, strict=True)])
        scores, contrib = self.ranker.score(x)  # [n], [n, F]
        order = np.argsort(-scores, kind="stable")
        out = []
        for j in order:
            if scores[j] < min_score:
                break
            inv, proj = entities[j]
            counterpart = pairs[j][1] if return_side == "projects" else pairs[j][0]
            out.append(Match(counterpart, float(scores[j]), dict(zip(FEATURES, map(float, x[j]), strict=True)),
                             dict(zip(FEATURES, map(float, contrib[j]), strict=True)),
                             reasons(inv, proj, contexts[j])))
        return out


def _check_page(k: int, offset: int) -> None:
    if not 1 <= k <= 200:
        raise InvalidRequest(f"k must be between 1 and 200; got {k}")
    if offset < 0:
        raise InvalidRequest(f"offset must be >= 0; got {offset}")
