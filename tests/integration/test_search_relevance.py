"""Free-text search with the real model (MiniLM: fast) and the real indexes: only what is about the query."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from bootstrap import Container
from matcher.commands import Principal
from matcher.encoder import MINILM_NAME, Encoder, load_encoder, project_text
from matcher.service import SEARCH_MARGINS, MatchService
from matcher.view import ReadModel
from models.events import EntityVector, Event
from models.settings import Settings
from scripts.demo_data import load_demo_data
from tests.factories import project
from tests.integration.kafka_helpers import wait_until
from tests.integration.pipeline import serving

pytestmark = pytest.mark.model

FOUNDER = Principal("k-f", "founder", "f-1")


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return load_encoder("minilm")


@pytest.fixture(scope="module", params=["exact", "hnsw"])
def demo(request, minilm: Encoder) -> MatchService:
    """The 60 demo projects in a read model with MiniLM's vectors, searched exactly or through the HNSW graph."""
    demo = load_demo_data()
    view = ReadModel(minilm.name, exact_search_limit=50_000 if request.param == "exact" else 0)
    for pid, p in demo.projects.items():
        view.apply(Event(type="ProjectSubmitted", entity_id=pid, entity_version=1, actor="test", payload=p))
    vectors = minilm.encode_documents([project_text(p) for p in demo.projects.values()])  # [60, dim]
    for pid, vector in zip(demo.projects, vectors, strict=True):
        view.apply_vector("projects", EntityVector(entity_id=pid, entity_version=1, model=minilm.name,
                                                   content_hash="x", vector=vector.tolist()))
    view.compact_text()
    service = MatchService(view, minilm)
    assert service.search_margin == SEARCH_MARGINS[MINILM_NAME]
    return service


def ids(found) -> list[str]:
    return [m.entity_id for m in found]


@pytest.mark.parametrize("query", ["zzqx", "xyzzy plugh", "quantum cryptography", "量子通信", "婚纱摄影",
                                   "football club sponsorship"])
def test_a_query_no_demo_project_is_about_returns_nothing(demo: MatchService, query: str):
    assert demo.search(query, "projects", k=50) == []
    uncut = MatchService(demo.view, demo.encoder, search_margin=-math.inf)
    assert len(uncut.search(query, "projects", k=100)) == len(demo.view.projects)  # what it used to return


@pytest.mark.parametrize(("query", "expected"), [("ClauseWise", "p-008"), ("协作机械臂", "p-013"),
                                                 ("HiveBot", "p-015"), ("VR", "p-046")])
def test_a_word_in_one_project_returns_that_project_first(demo: MatchService, query: str, expected: str):
    found = demo.search(query, "projects", k=50)
    assert ids(found)[0] == expected
    assert "query_terms" in {r.code for r in found[0].reasons}


@pytest.mark.parametrize(("query", "expected"), [("prefab houses", "p-059"), ("heart rhythm monitoring", "p-020")])
def test_a_project_described_in_other_words_is_kept_by_meaning(demo: MatchService, query: str, expected: str):
    found = {m.entity_id: m for m in demo.search(query, "projects", k=50)}
    assert expected in found
    assert "query_terms" not in {r.code for r in found[expected].reasons}  # no shared word: meaning kept it
    assert expected not in ids(MatchService(demo.view, demo.encoder, search_margin=math.inf).search(query, "projects"))


def test_a_word_that_names_a_sector_finds_the_sectors_demo_projects(demo: MatchService):
    in_sector = {pid for pid, p in demo.view.projects.items() if "ecommerce" in p.value.sectors}
    found = demo.search("电商", "projects", k=50)  # no demo text has the word: they say e-commerce, 跨境 B2B...
    assert set(ids(found)) >= in_sector and len(in_sector) == 10
    assert all("query_sectors" in {r.code for r in m.reasons} for m in found if m.entity_id in in_sector)


def test_pages_are_slices_of_one_kept_list(demo: MatchService):
    whole = ids(demo.search("sensors robotics", "projects", k=200))
    assert 4 <= len(whole) < len(demo.view.projects)
    pages = [ids(demo.search("sensors robotics", "projects", k=3, offset=offset))
             for offset in range(0, len(whole) + 3, 3)]
    assert [pid for page in pages for pid in page] == whole and pages[-1] == []


@pytest.fixture
def pipeline(kafka_bootstrap, topic_prefix, minilm, tmp_path) -> Iterator[Container]:
    """The service as deployed with MiniLM."""
    settings = Settings(kafka_bootstrap_servers=kafka_bootstrap, topic_prefix=topic_prefix, snapshot_dir=tmp_path,
                        encoder="minilm")
    with serving(settings, minilm) as container:
        yield container


@pytest.mark.kafka
def test_search_over_the_pipeline_keeps_word_and_meaning_matches_only(pipeline: Container):
    c = pipeline
    bodies = {
        "vision": project(),  # 视觉质检 VisionQC
        "buildings": project(name="ModuBuild", sectors=["real_estate"], traction="Two pilot sites",
                             summary="Prefabricated modular buildings with a timber-steel hybrid structure, built in "
                                     "our Huzhou factory and assembled on site in days."),
        "tea": project(name="茶园智管", sectors=["agriculture"], traction="服务茶农三百户",
                       summary="为安吉白茶园提供土壤墒情、气象和虫情监测，帮助茶农少打药。"),
    }
    pids = {name: c.commands.submit_project(FOUNDER, body.model_dump(exclude={"owner", "status"})).entity_id
            for name, body in bodies.items()}
    wait_until(lambda: all(c.view.vector("projects", pid) is not None for pid in pids.values()),
               what="the three projects' vectors in the index")
    assert c.matches.search_margin == SEARCH_MARGINS[MINILM_NAME]  # the composition root's service
    assert c.matches.search("zzqx", "projects") == []
    assert ids(c.matches.search("VisionQC", "projects")) == [pids["vision"]]
    found = c.matches.search("prefab houses", "projects")
    assert ids(found) == [pids["buildings"]] and [r.code for r in found[0].reasons] == ["meaning"]
