"""The bilingual demo data: valid, complete, fictional, and mixed in language as intended."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from models.entities import Investor, Project
from models.taxonomy import INVESTOR_KINDS
from scripts import run_demo
from scripts.demo_data import (
    DEMO_PATH,
    DemoData,
    investor_free_text,
    language_of,
    load_demo,
    load_demo_data,
    project_free_text,
)

JUDGMENTS = Path(__file__).resolve().parents[2] / "bench" / "bilingual_judgments.json"


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return load_demo_data()


def raw() -> dict:
    return json.loads(DEMO_PATH.read_text(encoding="utf-8"))


def test_demo_loads_as_validated_entities() -> None:
    projects, investors, to_verify, to_reject = load_demo()
    assert all(isinstance(p, Project) for p in projects.values())
    assert all(isinstance(i, Investor) for i in investors.values())
    assert to_verify | to_reject <= set(investors)


def test_demo_has_60_projects_and_25_investors_with_sequential_ids(demo: DemoData) -> None:
    assert sorted(demo.projects) == [f"p-{n:03d}" for n in range(1, 61)]
    assert sorted(demo.investors) == [f"i-{n:03d}" for n in range(1, 26)]


def test_ids_are_unique_in_the_file() -> None:
    data = raw()
    ids = [r["id"] for r in data["projects"] + data["investors"]]
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_loader_rejects_a_duplicated_id(tmp_path: Path) -> None:
    data = raw()
    data["projects"][1]["id"] = data["projects"][0]["id"]
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate id 'p-001'"):
        load_demo(path)


def test_loader_names_the_record_that_fails_validation(tmp_path: Path) -> None:
    data = raw()
    data["projects"][4]["stage"] = "series z"
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match=r"(?s)p-005.*stage must be one of"):
        load_demo(path)


def test_most_investors_are_verified_three_stay_pending_and_one_is_rejected(demo: DemoData) -> None:
    pending = set(demo.investors) - demo.to_verify - demo.to_reject
    assert (len(demo.to_verify), len(pending), len(demo.to_reject)) == (21, 3, 1)
    assert not demo.to_verify & demo.to_reject
    assert all(demo.rejection_reasons[i] for i in demo.to_reject)


def test_every_record_is_written_in_the_language_it_declares(demo: DemoData) -> None:
    detected = {pid: language_of(project_free_text(p)) for pid, p in demo.projects.items()}
    detected |= {iid: language_of(investor_free_text(i)) for iid, i in demo.investors.items()}
    assert {k: v for k, v in detected.items() if v != demo.languages[k]} == {}


@pytest.mark.parametrize("side", ["p-", "i-"])
def test_language_mix_is_about_40_percent_chinese_30_english_30_mixed(demo: DemoData, side: str) -> None:
    langs = [lang for eid, lang in demo.languages.items() if eid.startswith(side)]
    shares = {lang: n / len(langs) for lang, n in Counter(langs).items()}
    assert shares["zh"] == pytest.approx(0.4, abs=0.05)
    assert shares["en"] == pytest.approx(0.3, abs=0.05)
    assert shares["mixed"] == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize(("text", "expected"), [
    ("为中小制造企业提供工商业储能柜", "zh"),
    ("基于大模型的智能客服，为淘宝和抖音商家自动回复买家咨询、处理退换货，也支持AI质检", "zh"),
    ("Battery-swapping cabinets for delivery riders", "en"),
    ("Battery-swapping cabinets for delivery riders in 杭州 and 宁波", "en"),
    ("工业园区 rooftop solar plus storage, 我们的控制器根据电价和天气预报自动调度光伏和储能", "mixed"),
])
def test_language_of_tells_chinese_english_and_mixed_apart(text: str, expected: str) -> None:
    assert language_of(text) == expected


def test_demo_covers_every_investor_kind_and_many_zhejiang_cities(demo: DemoData) -> None:
    assert {i.kind for i in demo.investors.values()} == set(INVESTOR_KINDS)
    assert len({p.city for p in demo.projects.values()}) >= 10
    assert len({p.founder_background for p in demo.projects.values()}) == 4
    assert len({p.stage for p in demo.projects.values()}) >= 5


def test_some_investors_share_an_organization(demo: DemoData) -> None:
    orgs = Counter(i.organization for i in demo.investors.values() if i.organization)
    assert max(orgs.values()) >= 2


def test_amounts_and_tickets_are_in_realistic_ranges(demo: DemoData) -> None:
    assert all(300_000 <= p.amount_sought_cny <= 30_000_000 for p in demo.projects.values())
    investors = demo.investors.values()
    assert min(i.ticket_min_cny for i in investors if i.kind == "individual_angel") == 100_000
    assert max(i.ticket_max_cny for i in investors if i.kind == "vc_fund") >= 10_000_000
    assert max(i.ticket_max_cny for i in investors if i.kind == "microcredit") <= 1_000_000


def test_every_investor_has_one_to_five_portfolio_companies(demo: DemoData) -> None:
    assert all(1 <= len(i.portfolio) <= 5 for i in demo.investors.values())


def test_contacts_are_fictional(demo: DemoData) -> None:
    contacts = [e.contact for e in [*demo.projects.values(), *demo.investors.values()]]
    assert all(c.email and c.email.endswith("example.com") for c in contacts)
    assert all(c.phone and re.fullmatch(r"\+86 1\d\d 0000 \d{4}", c.phone) for c in contacts)
    assert all(c.wechat for c in contacts)


def test_bench_judgments_grade_demo_projects_across_languages(demo: DemoData) -> None:
    queries = json.loads(JUDGMENTS.read_text(encoding="utf-8"))["queries"]
    assert len(queries) >= 20
    assert {q["lang"] for q in queries} == {"zh", "en", "mixed"}
    for q in queries:
        assert q["investor"] in demo.investors and q["lang"] == demo.languages[q["investor"]]
        assert set(q["relevant"]) <= set(demo.projects)
        assert set(q["relevant"].values()) <= {1, 2}
        # every query has a strong fit written in another language than its own
        assert any(demo.languages[p] != q["lang"] for p, g in q["relevant"].items() if g == 2), q["investor"]


def test_make_runs_workers_are_started_again_when_they_exit_until_stopped(monkeypatch):
    monkeypatch.setattr(run_demo, "WORKERS", {"zen": "this"})  # `python -m this` prints and exits at once
    workers = run_demo.Workers(dict(os.environ), restart_after_s=0.05, max_restart_after_s=0.1)
    first = workers.processes["zen"].pid
    deadline = time.monotonic() + 30
    while workers.processes["zen"].pid == first and time.monotonic() < deadline:
        time.sleep(0.1)
    workers.stop(timeout_s=5)
    assert workers.processes["zen"].pid != first  # it exited and was started again
    after = workers.processes["zen"].pid
    time.sleep(1.5)
    assert workers.processes["zen"].pid == after  # and not after stop()
