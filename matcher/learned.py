"""A ranker learned from what investors did, over the same features as the default ranker.

    python -m matcher.learned train --data ../shared/data/crunchbase --cut validation|test --out model.joblib
        [--model logistic|gbm] [--window-days 365] [--max-queries N] [--pool-min 3]

The service uses it when `Settings.ranker_model_path` names a saved model (see `bootstrap.load_ranker`).

Training pairs come from feedback: invested and meeting_requested are positives; passes are negatives, and
more negatives are sampled for every project and investor that has a positive from the candidates the service
itself generates and ranks: a uniform sample of them, plus a few of its best-ranked non-positives (the hard
negatives). Features are
computed by `MatchService.pair_features`, exactly as ranking computes them. `train_from_feedback` does this
for any stream of `FeedbackGiven` events over a read model (live feedback); the `train` command feeds it the
Crunchbase history the way the evaluation does, but one window earlier, so it never sees the cut's window:
the read model holds the investments before `cut - window`, the companies first funded in
[cut - window, cut) enter as new projects, and their investments are the feedback.

Scores are probabilities in [0, 1]. Contributions: for the logistic model, coefficient x feature value
(logit units: they add up to the logit minus the intercept); for gradient boosting, how much the score drops
when that one feature is replaced by its training mean.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from matcher.ranking import FEATURES, DefaultRanker
from matcher.service import MatchService
from matcher.view import ReadModel
from models.events import Event, Feedback

MODEL_FORMAT = 1
POSITIVE = frozenset({"invested", "meeting_requested"})
NEGATIVE = frozenset({"passed"})
KINDS = ("logistic", "gbm")


def log(message: str) -> None:
    print(f"[learned] {message}", file=sys.stderr, flush=True)


class LearnedRanker:
    """Implements the `Ranker` protocol with a fitted scikit-learn classifier over `FEATURES`."""

    name = "learned"

    def __init__(self, model: Any, kind: str, baseline: np.ndarray, meta: dict[str, Any] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        if baseline.shape != (len(FEATURES),):
            raise ValueError(f"baseline must have shape ({len(FEATURES)},); got {baseline.shape}")
        self.model, self.kind, self.baseline = model, kind, baseline.astype(np.float32)
        self.meta = meta or {}

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x)[:, 1]  # [n]

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: [n, len(FEATURES)] -> (scores [n] in [0, 1], contributions [n, len(FEATURES)])."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(FEATURES):
            raise ValueError(f"x must have shape (n, {len(FEATURES)}); got {x.shape}")
        if len(x) == 0:
            return np.zeros(0, np.float32), np.zeros((0, len(FEATURES)), np.float32)
        if self.kind == "logistic":
            coef = self.model.coef_[0].astype(np.float32)  # [F]
            contrib = x * coef  # [n, F]
            logit = contrib.sum(axis=1) + float(self.model.intercept_[0])
            return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32), contrib
        scores = self._proba(x)
        n, f = x.shape
        knocked = np.repeat(x[None, :, :], f, axis=0)  # [F, n, F]: feature j replaced by its mean in block j
        for j in range(f):
            knocked[j, :, j] = self.baseline[j]
        without = self._proba(knocked.reshape(f * n, f)).reshape(f, n).T  # [n, F]
        return scores.astype(np.float32), (scores[:, None] - without).astype(np.float32)

    def weights(self) -> dict[str, float] | None:
        """Feature -> logistic coefficient (None for gradient boosting)."""
        if self.kind != "logistic":
            return None
        return {f: round(float(c), 4) for f, c in zip(FEATURES, self.model.coef_[0], strict=True)}

    def save(self, path: Path | str) -> None:
        import joblib

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"format": MODEL_FORMAT, "features": list(FEATURES), "kind": self.kind, "model": self.model,
                     "baseline": self.baseline, "meta": self.meta}, path)

    @classmethod
    def load(cls, path: Path | str) -> LearnedRanker:
        """Load a model written by `save` (a joblib pickle: only ever load files this service wrote)."""
        import joblib

        state = joblib.load(Path(path))
        if not isinstance(state, dict) or state.get("format") != MODEL_FORMAT:
            raise ValueError(f"{path} is not a LearnedRanker model of format {MODEL_FORMAT}")
        if tuple(state["features"]) != FEATURES:
            raise ValueError(f"{path} was trained on features {state['features']}; this service ranks with "
                             f"{list(FEATURES)}: retrain it")
        return cls(state["model"], state["kind"], np.asarray(state["baseline"]), state.get("meta"))


# ---- training data ------------------------------------------------------------------------------------
@dataclass
class TrainingSet:
    x: np.ndarray  # [n, F]
    y: np.ndarray  # [n] 1 positive, 0 negative
    queries: np.ndarray  # [n] which query (project or investor) the pair was sampled for
    counts: dict[str, int] = field(default_factory=dict)


def _eligible_investors(view: ReadModel) -> list[str]:
    return sorted(iid for iid, i in view.investors.items() if i.value.in_market)


def _open_projects(view: ReadModel) -> list[str]:
    return sorted(pid for pid, p in view.projects.items() if p.value.status == "open")


def training_set(feedback: Iterable[Event], view: ReadModel, service: MatchService | None = None,
                 depth: int = 50, hard: int = 5, sampled: int = 60, random: int = 0,
                 max_queries: int | None = None, seed: int = 0, progress: bool = True) -> TrainingSet:
    """Labelled feature rows from `FeedbackGiven` events over `view`.

    Every project with a positive is a founder-side query and every investor with a positive an investor-side
    query. The model re-ranks the service's candidates, so it learns from exactly what it will have to order:
    the candidates the service generates for a page of `depth` (`investor_candidates` / `project_candidates`)
    give the positives they contain and `sampled` negatives drawn uniformly from them; the `hard` non-positives
    the service ranks highest are added, and `random` uniformly random eligible ones. Positives the candidates
    never reach are left out: next to negatives drawn from the candidates (which are selected for similarity and
    activity) they would teach the model that looking like a good candidate is bad. Pairs whose investor or
    project the view does not know are skipped; `service` defaults to the default ranker over `view`.
    """
    from tqdm import tqdm

    if depth < 1:
        raise ValueError(f"depth must be >= 1; got {depth}")
    service = service or MatchService(view, ranker=DefaultRanker())
    rng = np.random.default_rng(seed)
    labels: dict[tuple[str, str], int] = {}  # (investor, project) -> 1 positive, 0 explicit negative
    for event in feedback:
        fb = event.payload
        if not isinstance(fb, Feedback) or fb.investor_id not in view.investors or fb.project_id not in view.projects:
            continue
        if fb.action in POSITIVE:
            labels[(fb.investor_id, fb.project_id)] = 1
        elif fb.action in NEGATIVE:
            labels.setdefault((fb.investor_id, fb.project_id), 0)
        elif fb.action == "unpassed" and labels.get((fb.investor_id, fb.project_id)) == 0:
            del labels[(fb.investor_id, fb.project_id)]  # the pass was taken back: no longer a negative
    by_project: dict[str, set[str]] = defaultdict(set)
    by_investor: dict[str, set[str]] = defaultdict(set)
    for (iid, pid), label in labels.items():
        if label:
            by_project[pid].add(iid)
            by_investor[iid].add(pid)
    investors, projects = _eligible_investors(view), _open_projects(view)
    queries = [("investors", pid, by_project[pid]) for pid in sorted(by_project)]
    queries += [("projects", iid, by_investor[iid]) for iid in sorted(by_investor)]
    if max_queries is not None and len(queries) > max_queries:
        queries = [queries[j] for j in sorted(rng.choice(len(queries), size=max_queries, replace=False))]

    rows: list[tuple[str, str, int, int]] = []  # investor, project, label, query number
    unreached = 0  # positives outside the candidates
    for q, (side, anchor, pos) in enumerate(tqdm(queries, desc="sampling negatives", unit="query",
                                                 file=sys.stderr, disable=not progress, mininterval=2.0)):
        if side == "investors":
            candidates = service.investor_candidates(anchor, depth)
            top = [m.entity_id for m in service.recommend_investors(anchor, k=min(200, hard + len(pos)))]
            pool = investors
        else:
            candidates = service.project_candidates(anchor, depth)
            top = [m.entity_id for m in service.recommend_projects(anchor, k=min(200, hard + len(pos)))]
            pool = projects
        reached = [e for e in candidates if e in pos]
        unreached += len(pos) - len(reached)
        chosen = [e for e in top if e not in pos][:hard]
        rest = [e for e in candidates if e not in pos and e not in chosen]
        if rest:
            chosen += [rest[j] for j in sorted(rng.choice(len(rest), size=min(sampled, len(rest)), replace=False))]
        if random and pool:
            drawn = [pool[j] for j in rng.choice(len(pool), size=min(len(pool), random + len(pos) + len(chosen)),
                                                 replace=False)]
            chosen += [e for e in drawn if e not in pos and e not in chosen][:random]
        for other in reached + chosen:
            iid, pid = (other, anchor) if side == "investors" else (anchor, other)
            rows.append((iid, pid, labels.get((iid, pid), 0), q))
    explicit = [(iid, pid) for (iid, pid), label in labels.items() if label == 0]
    rows += [(iid, pid, 0, -1) for iid, pid in explicit]
    x = service.pair_features([(iid, pid) for iid, pid, _, _ in rows])  # [n, F]
    y = np.array([label for _, _, label, _ in rows], dtype=np.int8)
    counts = {"queries": len(queries), "pairs": len(rows), "positives": int(y.sum()),
              "positives_not_in_candidates": unreached, "explicit_negatives": len(explicit)}
    return TrainingSet(x, y, np.array([q for *_, q in rows]), counts)


def fit(ts: TrainingSet, kind: str = "logistic", c: float = 1.0, seed: int = 0,
        meta: dict[str, Any] | None = None) -> LearnedRanker:
    """Fit a classifier on `ts`; logistic regression or (kind='gbm') histogram gradient boosting."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if len(set(ts.y.tolist())) < 2:
        raise ValueError("training needs both positive and negative pairs; got only one class")
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        model: Any = LogisticRegression(C=c, max_iter=2000)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                               l2_regularization=1.0, random_state=seed)
    model.fit(ts.x, ts.y)
    baseline = ts.x.mean(axis=0)
    return LearnedRanker(model, kind, baseline, {**(meta or {}), **ts.counts, "kind": kind, "C": c})


def train_from_feedback(feedback: Iterable[Event], view: ReadModel, kind: str = "logistic",
                        service: MatchService | None = None, **options: Any) -> LearnedRanker:
    """Learn a ranker from live `FeedbackGiven` events over the read model that serves them."""
    fit_options = {k: options.pop(k) for k in ("c", "seed", "meta") if k in options}
    return fit(training_set(feedback, view, service, **options), kind, **fit_options)


# ---- the Crunchbase command ---------------------------------------------------------------------------
def crunchbase_training(data: Any, cut_name: str, window_days: int = 365, pool_min: int = 3,
                        progress: bool = True) -> tuple[ReadModel, list[Event], datetime]:
    """The pseudo-cold-start training problem one window before `cut_name`'s cut: a read model of the
    history before `start - window`, the companies first funded in [start - window, start) submitted as new
    projects, and their investments in that window as feedback events. Nothing on or after the cut is read."""
    from matcher.crunchbase import group_by, investment_event
    from matcher.evaluate import CUTS, Cut, build_view, temporal_split

    cut = CUTS[cut_name]
    start = cut.start - timedelta(days=window_days)
    inner = Cut(start, cut.start)
    split = temporal_split(data.pairs, inner, pool_min)
    view = build_view(data, split, None, progress=progress)
    wanted = set(split.positives)
    pool = set(split.pool)
    window = [d for d in data.deals if d.company in wanted and d.investor in pool and start <= d.day < cut.start]
    events = [investment_event(d) for deals in group_by(window, "company").values() for d in deals]
    return view, events, datetime(start.year, start.month, start.day, tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m matcher.learned", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on Crunchbase history before a cut")
    train.add_argument("--data", type=Path, required=True)
    train.add_argument("--cut", choices=["validation", "test"], required=True)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--model", choices=KINDS, default="logistic")
    train.add_argument("--c", type=float, default=1.0, help="inverse regularisation of the logistic model")
    train.add_argument("--window-days", type=int, default=365)
    train.add_argument("--pool-min", type=int, default=3)
    train.add_argument("--hard", type=int, default=5, help="best-ranked negatives per query")
    train.add_argument("--sampled", type=int, default=60, help="negatives drawn from the service's candidates")
    train.add_argument("--random", type=int, default=0, help="random eligible negatives per query")
    train.add_argument("--max-queries", type=int, default=None, help="a seeded sample of training queries")
    train.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.max_queries is not None and args.max_queries < 10:
        parser.error(f"--max-queries must be >= 10 (fewer gives no positives and negatives to learn from); "
                     f"got {args.max_queries}")

    from matcher.crunchbase import load_crunchbase

    t0 = time.perf_counter()
    try:
        data = load_crunchbase(args.data)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    view, events, now = crunchbase_training(data, args.cut, args.window_days, args.pool_min)
    log(f"{len(events)} investments in the training window ending {now.date() + timedelta(days=args.window_days)}")
    service = MatchService(view, ranker=DefaultRanker(), clock=lambda: now)
    ts = training_set(events, view, service, hard=args.hard, sampled=args.sampled, random=args.random,
                      max_queries=args.max_queries, seed=args.seed)
    meta = {"trained_on": f"crunchbase {args.cut} cut, window {args.window_days} days before "
                          f"{date.isoformat(now.date() + timedelta(days=args.window_days))}",
            "pool_min": args.pool_min, "hard": args.hard, "sampled": args.sampled, "random": args.random}
    ranker = fit(ts, args.model, args.c, args.seed, meta)
    ranker.save(args.out)
    log(f"wrote {args.out} in {time.perf_counter() - t0:.0f}s")
    print(json.dumps({"out": str(args.out), **ranker.meta, "weights": ranker.weights()}, default=str))


if __name__ == "__main__":
    main()
