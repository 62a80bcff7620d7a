"""Pure ranking: features of an (investor, project) pair, the default reciprocal score, and reasons.

A pair ranks high only if it suits both sides: the investor side (does the project fit the thesis?) and
the founder side (will this investor realistically fund this ask, here, now?) are scored separately and
combined by their harmonic mean, so a strong fit on one side cannot hide a poor fit on the other.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from matcher.sparse import CJK_RUN
from models.entities import Investor, Project
from models.taxonomy import SECTORS, STAGE_ORDER, STAGES, city_key

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
         "you", "your", "their", "they", "its", "not", "but", "can", "will", "all", "more", "than", "per"}


def shared_terms(thesis: str, text: str, limit: int = 4) -> list[str]:
    """Terms of the thesis that the text also uses: English words, and Chinese runs of 2+ characters
    (built from shared character bigrams, so no word segmentation is needed)."""
    words = {w.lower() for w in _WORD.findall(text)}
    found = [w for w in dict.fromkeys(w.lower() for w in _WORD.findall(thesis)) if w in words and w not in _STOP]
    cjk_text = "".join(CJK_RUN.findall(text))
    for run in CJK_RUN.findall(thesis):
        i = 0
        while i < len(run) - 1:
            if run[i:i + 2] in cjk_text:
                j = i + 2
                while j < len(run) and run[i:j + 1] in cjk_text:
                    j += 1
                found.append(run[i:j])
                i = j
            else:
                i += 1
    longest_first = sorted(dict.fromkeys(found), key=len, reverse=True)
    return longest_first[:limit]


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
