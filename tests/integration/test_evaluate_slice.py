"""The evaluation end to end on a slice of the Crunchbase history: the service's own read model and
recommendations, every baseline, the JSON report and the plot, in well under a minute."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from matcher.evaluate import METRICS, TASK_A, TASK_B, main

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crunchbase"
METHODS_A = {"service", "random", "popularity", "category", "tfidf_tags", "tfidf_tags_location"}
METHODS_B = METHODS_A - {"popularity"}  # cold-start companies have no popularity


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[dict, Path, float]:
    if not (DATA / "investments_2013snapshot_pairs.csv.gz").is_file():
        pytest.skip(f"the Crunchbase files are not at {DATA} (they are never copied into the repository)")
    out = tmp_path_factory.mktemp("eval")
    start = time.monotonic()
    main(["--data", str(DATA), "--cut", "validation", "--limit-queries", "50", "--data-fraction", "0.2",
          "--json", str(out / "report.json"), "--plot", str(out / "report.png")])
    return json.loads((out / "report.json").read_text()), out, time.monotonic() - start


def test_the_slice_runs_in_under_a_minute(report):
    assert report[2] < 60


def test_the_report_has_every_method_and_metric_for_both_tasks(report):
    data, _, _ = report
    assert data["cut"] == "validation" and data["pool_min"] == 3 and data["data_fraction"] == 0.2
    for task, methods in ((TASK_A, METHODS_A), (TASK_B, METHODS_B)):
        section = data["tasks"][task]
        assert set(section["methods"]) == methods
        assert 0 < section["queries"] <= 50 and section["queries_total"] >= section["queries"]
        assert section["coverage"]["window_pairs_in_pool"] <= section["coverage"]["window_pairs"]
        for scores in section["methods"].values():
            assert set(METRICS) <= set(scores)
            assert all(0.0 <= scores[m] <= 1.0 for m in METRICS)
            assert scores["recall@50"] >= scores["recall@10"]
        assert section["timing"]["service"]["mean_ms"] > 0
    assert set(data["exposure_gini"]) == METHODS_A
    # popularity shows the same ten investors to everyone: the most concentrated exposure there is
    assert data["exposure_gini"]["popularity"] > data["exposure_gini"]["random"]
    assert data["exposure_gini"]["popularity"] >= data["exposure_gini"]["service"]


def test_the_service_beats_random_on_the_slice(report):
    methods = report[0]["tasks"][TASK_A]["methods"]
    assert methods["service"]["recall@50"] > methods["random"]["recall@50"]


def test_the_plot_is_a_png(report):
    assert (report[1] / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_alert_policies_on_the_slice_trade_volume_for_precision(tmp_path):
    main(["--data", str(DATA), "--cut", "validation", "--alerts", "--data-fraction", "0.1",
          "--json", str(tmp_path / "alerts.json"), "--plot", str(tmp_path / "alerts.png")])
    data = json.loads((tmp_path / "alerts.json").read_text())
    assert data["projects"] > 0 and data["investors"] > 0
    policy = {(p["min_score"], p["max_recipients"]): p for p in data["policies"]}
    for (min_score, cap), p in policy.items():
        assert p["alerts_per_project"] <= cap and 0 <= p["precision"] <= 1 and 0 <= p["recall"] <= 1
        assert p["per_investor_month"]["max"] >= p["per_investor_month"]["p90"] >= 0
        if (min_score, cap * 2) in policy:  # a wider cap sends at least as many alerts and finds at least as much
            wider = policy[(min_score, cap * 2)]
            assert wider["alerts_per_project"] >= p["alerts_per_project"] and wider["recall"] >= p["recall"]
    assert (tmp_path / "alerts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
