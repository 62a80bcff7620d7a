"""The bilingual demo data set (scripts/demo_data.json), validated through the entity models.

    projects, investors, to_verify, to_reject = load_demo()

All names and contacts in it are fictional. Besides the entity fields, each record carries an id, the
language its free text is written in ("zh", "en" or "mixed"), and, for investors, what the demo does with
them: "verify", leave "pending", or "reject" (with `demo_rejection_reason`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from models.entities import Investor, Project

DEMO_PATH = Path(__file__).with_name("demo_data.json")
LANGUAGES = ("zh", "en", "mixed")
DEMO_VERIFICATIONS = ("verify", "pending", "reject")
Language = Literal["zh", "en", "mixed"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
# Chinese text routinely carries a few Latin acronyms (AI, SaaS, MES, GMV): below this share of Latin
# letters among all letters it still reads as Chinese. English text may quote a place name or two in
# Chinese: below MIXED_MIN_CJK Chinese characters it still reads as English.
MIXED_MIN_LATIN_SHARE = 0.15
MIXED_MIN_CJK = 20


def language_of(text: str) -> Language:
    """The language of `text` (zh, en or mixed), from its counts of Chinese characters and Latin letters."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    if cjk == 0:
        return "en"
    if latin / (cjk + latin) < MIXED_MIN_LATIN_SHARE:
        return "zh"
    return "mixed" if cjk >= MIXED_MIN_CJK else "en"


def project_free_text(p: Project) -> str:
    return "\n".join([p.name, p.summary, p.traction])


def investor_free_text(i: Investor) -> str:
    return "\n".join([i.thesis, *(f"{c.name} {c.description}" for c in i.portfolio)])


@dataclass(frozen=True)
class DemoData:
    projects: dict[str, Project]
    investors: dict[str, Investor]
    to_verify: set[str]
    to_reject: set[str]
    rejection_reasons: dict[str, str]
    languages: dict[str, Language]  # entity id -> language of its free text, as declared in the file


def _meta(record: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str:
    value = record.pop(key, None)
    if value not in allowed:
        raise ValueError(f"{where}: {key} must be one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def load_demo_data(path: Path = DEMO_PATH) -> DemoData:
    """Read and validate the demo file; raise ValueError naming the record at fault."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    projects: dict[str, Project] = {}
    investors: dict[str, Investor] = {}
    to_verify: set[str] = set()
    to_reject: set[str] = set()
    reasons: dict[str, str] = {}
    languages: dict[str, Language] = {}
    for kind, model, out in (("projects", Project, projects), ("investors", Investor, investors)):
        for n, source in enumerate(raw[kind]):
            record = dict(source)
            entity_id = record.pop("id", None)
            where = f"{kind}[{n}] ({entity_id})"
            if not isinstance(entity_id, str) or not entity_id:
                raise ValueError(f"{where}: id must be a non-empty string")
            if entity_id in projects or entity_id in investors:
                raise ValueError(f"{where}: duplicate id {entity_id!r}")
            languages[entity_id] = _meta(record, "lang", LANGUAGES, where)  # type: ignore[assignment]
            if model is Investor:
                decision = _meta(record, "demo_verification", DEMO_VERIFICATIONS, where)
                reason = record.pop("demo_rejection_reason", None)
                if decision == "verify":
                    to_verify.add(entity_id)
                elif decision == "reject":
                    if not reason:
                        raise ValueError(f"{where}: a rejected investor needs demo_rejection_reason")
                    to_reject.add(entity_id)
                    reasons[entity_id] = reason
            try:
                out[entity_id] = model.model_validate(record)  # type: ignore[assignment]
            except ValidationError as exc:
                raise ValueError(f"{where}: {exc}") from None
    return DemoData(projects, investors, to_verify, to_reject, reasons, languages)


def load_demo(path: Path = DEMO_PATH) -> tuple[dict[str, Project], dict[str, Investor], set[str], set[str]]:
    """(projects by id, investors by id, investor ids to verify, investor ids to reject)."""
    data = load_demo_data(path)
    return data.projects, data.investors, data.to_verify, data.to_reject


if __name__ == "__main__":
    demo = load_demo_data()
    counts = {lang: sum(1 for v in demo.languages.values() if v == lang) for lang in LANGUAGES}
    print(f"{len(demo.projects)} projects, {len(demo.investors)} investors "
          f"({len(demo.to_verify)} to verify, {len(demo.to_reject)} to reject); languages {counts}")
