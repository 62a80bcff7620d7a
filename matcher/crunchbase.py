"""Crunchbase investment history as domain events: pure functions, no broker (the Kafka importer is
`consumers.importers`; the evaluation in `matcher.evaluate` builds the same events in-process).

    data = load_crunchbase(Path("../shared/data/crunchbase"))
    for event in crunchbase_events(data, until=date(2012, 7, 1)):   # only history before the cut
        view.apply(event)

What becomes what:
- a company with >= 1 investment -> `ProjectSubmitted` (v1): name, the raw category tags and the location in
  the summary, tags mapped onto our sector taxonomy (`CATEGORY_SECTORS`, 'other' as fallback), city, stage from
  the type of its first round where known (else 'seed'), ask = first round size x 7 CNY/USD where known (else
  `DEFAULT_ROUND_USD`), founder background 'corporate' (unknown); then `ProjectFunded` (v2) at its last round,
  unless it is kept open (`open_since`): it got its financing, so it stays out of deal feeds;
- an investor -> `InvestorRegistered` (v1, pending) and `InvestorVerified` (v2): a profile derived from its
  history before `until` (top sectors, top cities, portfolio with tags and location as descriptions, ticket range
  from round sizes, stages from round types, a generated thesis);
- an investment -> `FeedbackGiven(action="invested")` dated at the investment.

Ids and event ids are derived from names (and dates), so converting the same data twice gives identical events:
the read model ignores the second copy (entity versions; feedback event ids), and the importer skips what the
log already has.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from models.entities import MAX_CNY, Investor, PortfolioCompany, Project
from models.events import Event, Feedback
from models.taxonomy import SECTORS, STAGE_ORDER, STAGES

USD_TO_CNY = 7
DEFAULT_ROUND_USD = 1_000_000  # the ask of a company whose round size is unknown
ACTOR = "importer:crunchbase"
EVENT_NAMESPACE = uuid.UUID("5d1c3f0e-8a53-4d1e-9a4b-6b0f3c2a7e11")  # uuid5 namespace of imported events

FILES = {
    "pairs": "investments_2013snapshot_pairs.csv.gz",
    "companies_2015": "companies_2015dec.csv.gz",
    "companies_2013": "companies_2013oct_usa.csv.gz",
    "rounds_2013": "rounds_2013oct_usa.csv.gz",
}

# Crunchbase round type (2013 rounds table) -> our stage; 'venture' and 'other' say nothing about the stage.
ROUND_STAGES: dict[str, str] = {
    "angel": "angel", "crowdfunding": "seed", "series-a": "a", "series-b": "b+", "series-c+": "b+",
    "private-equity": "b+", "post-ipo": "b+",
}

# ---- category -> sector table ---------------------------------------------------------------------------
# Each Crunchbase tag (2015 `category_list`, 858 distinct) or 2013 `category_code` is lower-cased and matched
# against these patterns; a tag takes every sector whose pattern matches it, and a tag matching none is
# 'other'. The patterns were written from the tags of the companies that have investments (757 distinct tags),
# most frequent first: they cover every tag used by >= 20 companies.
CATEGORY_SECTORS: dict[str, str] = {
    "ai": r"artificial intelligence|machine learning|natural language|image recognition|computer vision|"
          r"speech recognition|predictive analytics|big data|data mining|algorithms|intelligent systems|"
          r"semantic|face recognition|text analytics|visual search|recommendation|personalization|data visualization",
    "smart_manufacturing": r"manufactur|industrial|3d printing|mechanical|heavy industry|^cad$|test and measurement|"
                           r"engineering firms|product design|product development|innovation engineering|printing",
    "biomedicine": r"biotech|pharma|therapeutics|life sciences|clinical trials|genetic|neuroscience|bioinformatics|"
                   r"bio-pharm",
    "medical_devices": r"medical devices|^medical$|diagnostics|dental|assisitive technology",
    "new_energy": r"clean energy|solar|^wind$|^energy$|batter|fuel cell|renewable|smart grid|^oil|^gas$|"
                  r"electrical distribution|energy storage|^fuels$|energy management|energy it|energy efficiency|"
                  r"cleantech|rural energy",
    "new_materials": r"nanotech|material|chemical|textiles",
    "semiconductors": r"semiconductor|displays|lasers|uv leds|optical communications|eda tools|^electronics$|"
                      r"embedded hardware|communications hardware",
    "enterprise_software": r"software|enterprise|saas|paas|iaas|cloud|^b2b$|crm|human resource|collaboration|database|"
                           r"developer|web hosting|web development|storage|virtualization|business intelligence|"
                           r"analytics|project management|productivity|it management|data integration|open source|"
                           r"consulting|sales and marketing|marketing automation|customer service|customer support|"
                           r"accounting|document management|^networking$|information technology|^technology$|"
                           r"business services|small and medium businesses|recruiting|employment|"
                           r"data centers?|network_hosting|^legal$|outsourcing|task management|web tools|"
                           r"^enterprise$|web design|ediscovery|lead generation|meeting software|"
                           r"professional services|service providers|testing|infrastructure|application|"
                           r"information services|systems|^it |corporate it|hosting|ict|^analytics$",
    "ecommerce": r"e-commerce|ecommerce|marketplace|shopping|retail|commerce|coupons|group buying|flash sales|"
                 r"auctions|price comparison|classifieds|discounts|gift card|loyalty|social buying|deals|"
                 r"online rental|collaborative consumption|subscription|wholesale|point of sale",
    "consumer": r"consumer|fashion|restaurant|beauty|cosmetic|jewelry|lifestyle|pets|^kids$|bab(y|ies)|parenting|"
                r"home & garden|furniture|wine|coffee|^tea$|toys|sporting goods|weddings|shoes|eyewear|groceries|"
                r"hospitality|^travel|hotels|tourism|food|^mobile$|apps|iphone|ipad|android|^ios$|local|"
                r"online dating|match-making|nightlife|nightclubs|home decor|flowers|lingerie|craft beer|"
                r"women|families|mothers|senior citizens|online reservations|vacation rentals|reviews|"
                r"mobile games|^mobile_?|app stores|tablets|^fmcg$|organic|handmade|watch|sunglasses",
    "fintech": r"financ|fintech|payments|banking|insurance|credit|trading|lending|bitcoin|investment management|"
               r"wealth|billing|crowdfunding|stock exchanges|venture capital|transaction processing|"
               r"fraud detection|p2p money|virtual currency|hedge funds|brokers|personal finance|commodities|"
               r"impact investing|angels|retirement",
    "education": r"education|edtech|college|universit|training|tutoring|language learning|textbooks|teachers|"
                 r"k-12|high school|students|skill assessment|charter schools|private school|edutainment|"
                 r"certification",
    "agriculture": r"agricultur|farming|farmers|food processing|organic food",
    "cultural_creative": r"games|gaming|^game$|music|^art$|design|entertainment|film|photo|creative|concerts|"
                         r"theatre|ticketing|sports|comics|artists|events|celebrity|games_video|soccer|"
                         r"virtual worlds|virtual goods|musicians|3d",
    "environmental": r"clean technology|green|recycling|^water$|water purification|waste|sustainability|"
                     r"environmental|carbon|air pollution|energy efficiency|remediation|cleantech",
    "logistics": r"logistics|shipping|delivery|supply chain|distribution|fleet management|postal|courier|"
                 r"^transportation$|procurement",
    "digital_health": r"health|fitness|doctors|physicians|hospitals|wellness|nutrition|elder care|psychology|"
                      r"diabetes|medical professionals|mhealth|exercise|quantified self|senior health|fertility",
    "robotics": r"robot|drones",
    "iot": r"internet of things|wearables|home automation|sensors|^m2m$|rfid|^nfc$|hardware|consumer electronics|"
           r"smart building|gps|wireless|mobile devices|gadget|tracking|kinect|indoor positioning|"
           r"hardware \+ software",
    "automotive": r"automotive|^cars$|^auto$|electric vehicles|taxis|parking|public transportation|"
                  r"transportation|limousines|bicycles|navigation|aerospace|space travel",
    "media": r"media|advertising|social|content|publishing|news|video|television|broadcasting|blog|journalism|"
             r"curated web|^internet|marketing|seo|^search|messaging|chat|^sms$|email|public relations|"
             r"^web$|audio|radio|communities|forums|microblogging|brand|portals|promotional|twitter|facebook|"
             r"voip|telecommunications|telephony|cable|q&a|browser|domains|mobile advertising|e-books|ebooks",
    "real_estate": r"real estate|property|construction|architecture|home renovation|building|office space|"
                   r"rental housing|interior design|coworking|realtors|home owners|plumbers|landscaping",
    "security": r"security|cyber|privacy|identity|fraud detection|encryption|spam|defense|law enforcement|"
                r"biometrics|dod/military|public safety|data privacy",
}
_SECTOR_PATTERNS = [(sector, re.compile(pattern)) for sector, pattern in CATEGORY_SECTORS.items()]
assert set(CATEGORY_SECTORS) <= set(SECTORS), "CATEGORY_SECTORS names a sector code the taxonomy lacks"


def tag_sectors(tag: str) -> list[str]:
    """The sector codes of one Crunchbase tag (or 2013 category code); ['other'] when none applies."""
    low = tag.strip().lower()
    found = [sector for sector, pattern in _SECTOR_PATTERNS if pattern.search(low)]
    return found or ["other"]


def tags_sectors(tags: Iterable[str], limit: int = 8) -> list[str]:
    """Sectors of a company's tags, most frequent first (ties in tag order), 'other' only if nothing else."""
    counts: Counter[str] = Counter()
    for tag in tags:
        counts.update(tag_sectors(tag))
    specific = [s for s, _ in counts.most_common() if s != "other"]
    return specific[:limit] or ["other"]


# ---- loading -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Company:
    """Attributes of one company (Dec 2015 export, else Oct 2013; "" when unknown)."""

    name: str
    tags: tuple[str, ...]
    city: str
    region: str
    state: str
    country: str

    @cached_property
    def sectors(self) -> list[str]:
        return tags_sectors(self.tags)

    @cached_property
    def location(self) -> str:
        return ", ".join(dict.fromkeys(p for p in (self.city, self.region, self.state, self.country) if p))

    @cached_property
    def tag_text(self) -> str:
        return ", ".join(t.replace("_", " ") for t in self.tags)

    @property
    def description(self) -> str:
        """Tags and location as one line: '<tags> | <city, region, state, country>'."""
        return " | ".join(p for p in (self.tag_text, self.location) if p)

    @property
    def entity_city(self) -> str:
        # the entity needs a city: the region, then the country code stand in; 'unknown' matches no investor
        return (self.city or self.region or self.country or "unknown")[:50]


class Deal(NamedTuple):
    """One investment: a distinct (company, investor, day)."""

    company: str
    investor: str
    day: date
    amount_usd: float | None  # the round's size
    stage: str  # our stage code of the round; "" when unknown


@dataclass(frozen=True)
class CrunchbaseData:
    """The investment pairs joined to company attributes.

    pairs: one row per distinct (company, investor, date), sorted by date: company, investor, date
        (datetime64), amount_usd (round size, NaN when unknown), round_type and stage (our stage code of the
        round), "" when unknown.
    companies: company name -> attributes, for every company of `pairs`.
    """

    pairs: pd.DataFrame
    companies: dict[str, Company]

    @cached_property
    def deals(self) -> list[Deal]:
        """`pairs` as plain tuples, in the same order (converting entities row by row in pandas is slow)."""
        amounts = [None if math.isnan(a) else float(a) for a in self.pairs["amount_usd"].astype(float)]
        days = [ts.date() for ts in self.pairs["date"]]
        return [Deal(c, i, d, a, s) for c, i, d, a, s in
                zip(self.pairs["company"], self.pairs["investor"], days, amounts, self.pairs["stage"], strict=True)]

    def sample_companies(self, fraction: float, seed: int = 0) -> CrunchbaseData:
        """A seeded `fraction` of the companies with all their investments: a smaller market, same shape."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
        if fraction == 1:
            return self
        names = sorted(self.companies)
        rng = np.random.default_rng(seed)
        keep = {names[j] for j in rng.choice(len(names), size=max(1, round(fraction * len(names))), replace=False)}
        pairs = self.pairs[self.pairs["company"].isin(keep)].reset_index(drop=True)
        return CrunchbaseData(pairs, {name: self.companies[name] for name in sorted(keep)})

    def slice(self, n_pairs: int) -> CrunchbaseData:
        """The first `n_pairs` investments in date order (and their companies): small imports for tests."""
        pairs = self.pairs.iloc[:n_pairs].reset_index(drop=True)
        return CrunchbaseData(pairs, {name: self.companies[name] for name in sorted(set(pairs["company"]))})


def _read(path: Path, name: str, **kwargs: object) -> pd.DataFrame:
    file = path / FILES[name]
    if not file.is_file():
        raise ValueError(f"expected the Crunchbase file {FILES[name]} in {path}; it is not there")
    return pd.read_csv(file, **kwargs)  # type: ignore[call-overload]


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value).strip()


def load_crunchbase(path: Path | str) -> CrunchbaseData:
    """Read the Crunchbase files of `path` (see the dataset's README) and join them by company name."""
    path = Path(path)
    raw = _read(path, "pairs")
    raw = raw.dropna(subset=["company_name", "investor_name", "funded_when"])
    raw = raw.assign(company=raw["company_name"].astype(str).str.strip(),
                     investor=raw["investor_name"].astype(str).str.strip(),
                     date=pd.to_datetime(raw["funded_when"], errors="coerce", format="%Y-%m-%d"))
    raw = raw[(raw["company"] != "") & (raw["investor"] != "") & raw["date"].notna()]
    pairs = raw.drop_duplicates(["company", "investor", "date"])[["company", "investor", "date", "amount_usd"]]

    rounds = _read(path, "rounds_2013", encoding="latin-1")
    rounds = rounds.assign(company=rounds["company_name"].astype(str).str.strip(),
                           date=pd.to_datetime(rounds["funded_at"], errors="coerce", format="%Y-%m-%d"))
    rounds = rounds.dropna(subset=["date"]).drop_duplicates(["company", "date"])
    pairs = pairs.merge(rounds[["company", "date", "funding_round_type"]], on=["company", "date"], how="left")
    pairs["round_type"] = pairs["funding_round_type"].map(_text)
    pairs["stage"] = pairs["round_type"].map(lambda t: ROUND_STAGES.get(t, ""))
    pairs = (pairs.drop(columns="funding_round_type")
             .sort_values(["date", "company", "investor"], kind="stable").reset_index(drop=True))

    c15 = _read(path, "companies_2015")
    c15 = c15.assign(name=c15["name"].astype(str).str.strip(), has_tags=c15["category_list"].notna())
    c15 = c15.sort_values("has_tags", ascending=False, kind="stable").drop_duplicates("name")
    c13 = _read(path, "companies_2013", encoding="latin-1")
    c13 = c13.assign(name=c13["name"].astype(str).str.strip()).drop_duplicates("name")
    new = {r["name"]: r for r in c15.to_dict("records")}
    old = {r["name"]: r for r in c13.to_dict("records")}

    companies = {}
    for name in sorted(set(pairs["company"])):
        a, b = new.get(name, {}), old.get(name, {})
        tags: tuple[str, ...] = ()
        if _text(a.get("category_list")):
            tags = tuple(t.strip() for t in _text(a["category_list"]).split("|") if t.strip())
        elif _text(b.get("category_code")):
            tags = (_text(b["category_code"]),)

        def pick(field: str, a: dict = a, b: dict = b) -> str:  # type: ignore[type-arg]
            return _text(a.get(field)) or _text(b.get(field))

        companies[name] = Company(name, tags, pick("city"), pick("region"), pick("state_code"), pick("country_code"))
    return CrunchbaseData(pairs, companies)


# ---- ids -------------------------------------------------------------------------------------------------
def _slug(name: str, prefix: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "x"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{prefix}-{slug}-{digest}"


def company_id(name: str) -> str:
    """Stable entity id of a Crunchbase company: a slug of its name plus a hash (names are the join key)."""
    return _slug(name, "cb-c")


def investor_id(name: str) -> str:
    return _slug(name, "cb-i")


def _event_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(EVENT_NAMESPACE, "|".join(map(str, parts)))


def _when(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# ---- entities --------------------------------------------------------------------------------------------
def _cny(usd: float) -> int:
    return int(min(MAX_CNY, max(1, round(usd * USD_TO_CNY))))


def project_of(company: Company, deals: list[Deal]) -> Project:
    """The company as a project of the library. Stage and ask come from its first round among `deals` (its
    investments), since that is the round a new project would be raising."""
    first_day = min(d.day for d in deals)
    first = [d for d in deals if d.day == first_day]
    stage = next((d.stage for d in first if d.stage), "seed")
    amount = next((d.amount_usd for d in first if d.amount_usd is not None), DEFAULT_ROUND_USD)
    return Project(
        name=company.name[:200],
        summary=f"Crunchbase categories: {company.tag_text or 'none'}. Location: {company.location or 'unknown'}.",
        sectors=company.sectors, stage=stage, amount_sought_cny=_cny(amount), city=company.entity_city,
        founder_background="corporate",
    )


def _investor_kind(name: str) -> str:
    """Crunchbase pairs carry no investor type: firms are recognised by words in the name, two or three
    capitalised words are taken as a person (an individual angel), anything else as a fund."""
    low = name.lower()
    if re.search(r"angel|syndicate|network|club", low):
        return "angel_group"
    if re.search(r"capital|ventures?|partners|fund|invest|equity|holdings|management|labs|incubator|accelerator|"
                 r"combinator|inc\b|llc|ltd|gmbh|bank|corp|technologies|group|advisors|associates|\bvc\b", low):
        return "vc_fund"
    words = name.split()
    if 2 <= len(words) <= 3 and all(re.fullmatch(r"[A-Z][a-zA-Z.'-]*", w) for w in words):
        return "individual_angel"
    return "vc_fund"


def _money(usd: float) -> str:
    return f"US${usd / 1e6:.1f}M" if usd >= 1e6 else f"US${usd / 1e3:.0f}k"


def investor_of(data: CrunchbaseData, name: str, deals: list[Deal]) -> Investor:
    """An investor's profile derived from its investments `deals` (all of this investor), pending verification."""
    if not deals:
        raise ValueError(f"investor {name!r} has no investments in the given history")
    firsts: dict[str, date] = {}  # company -> first deal, in date order
    for d in sorted(deals, key=lambda d: d.day):
        firsts.setdefault(d.company, d.day)
    companies = [data.companies[c] for c in firsts]
    n = len(companies)

    sector_counts: Counter[str] = Counter()
    tag_counts: Counter[str] = Counter()
    city_counts: Counter[str] = Counter()
    country_counts: Counter[str] = Counter()
    for c in companies:
        sector_counts.update(c.sectors)
        tag_counts.update(t.replace("_", " ") for t in c.tags)
        if c.city:
            city_counts[c.city[:50]] += 1
        if c.country:
            country_counts[c.country] += 1
    top_sectors = [s for s, k in sector_counts.most_common() if s != "other" and k >= 0.1 * n][:5]
    top_cities = [c for c, k in city_counts.most_common(5) if k >= 0.1 * n]

    amounts = [d.amount_usd for d in deals if d.amount_usd is not None]  # round sizes, USD
    if amounts:
        low_usd, high_usd = float(np.percentile(amounts, 10)), float(np.percentile(amounts, 90))
    else:
        low_usd, high_usd = DEFAULT_ROUND_USD / 10, DEFAULT_ROUND_USD * 10
    stages = sorted({d.stage or "seed" for d in deals}, key=STAGE_ORDER.__getitem__)
    last = max(d.day for d in deals)
    recent = sum(1 for d in deals if (last - d.day).days < 365)
    capacity = max(2, math.ceil(2 * recent / 12))  # twice its recent monthly pace

    portfolio = [PortfolioCompany(name=c.name[:200], sectors=c.sectors, description=c.description, year=day.year)
                 for c, day in zip(companies, firsts.values(), strict=True)]
    countries = f" ({', '.join(c for c, _ in country_counts.most_common(3))})" if country_counts else ""
    thesis = (
        f"{name} has backed {n} compan{'y' if n == 1 else 'ies'} from {min(firsts.values()).year} to {last.year}. "
        f"Most frequent categories: {', '.join(t for t, _ in tag_counts.most_common(8)) or 'none'}. "
        f"Sectors: {', '.join(SECTORS[s][1] for s in top_sectors) or 'various'}. "
        f"Where: {', '.join(top_cities) or 'various'}{countries}. "
        f"Rounds: {', '.join(STAGES[s][1] for s in stages)}"
        + (f", typically {_money(low_usd)}-{_money(high_usd)}." if amounts else ".")
    )
    return Investor(
        name=name[:200], kind=_investor_kind(name), organization=name[:200], thesis=thesis[:5000],
        sectors=top_sectors or ["other"], stages=stages, ticket_min_cny=_cny(low_usd),
        ticket_max_cny=max(_cny(low_usd), _cny(high_usd)), cities=top_cities, capacity_per_month=capacity,
        portfolio=portfolio[-2000:],
    )


# ---- events ----------------------------------------------------------------------------------------------
def project_event(data: CrunchbaseData, name: str, deals: list[Deal]) -> Event:
    """`ProjectSubmitted` (v1) of a company, dated at its first round among `deals` (its investments)."""
    pid = company_id(name)
    return Event(event_id=_event_id("ProjectSubmitted", pid, 1), type="ProjectSubmitted", entity_id=pid,
                 entity_version=1, occurred_at=_when(min(d.day for d in deals)), actor=ACTOR,
                 payload=project_of(data.companies[name], deals))


def funded_event(submitted: Event, deals: list[Deal]) -> Event:
    """`ProjectFunded` (v2) of a company submitted as `submitted`, dated at its last round among `deals`."""
    assert isinstance(submitted.payload, Project)
    return Event(event_id=_event_id("ProjectFunded", submitted.entity_id, 2), type="ProjectFunded",
                 entity_id=submitted.entity_id, entity_version=2, occurred_at=_when(max(d.day for d in deals)),
                 actor=ACTOR, payload=submitted.payload.model_copy(update={"status": "funded"}))


def investor_events(data: CrunchbaseData, name: str, deals: list[Deal], verified: bool = True) -> list[Event]:
    """`InvestorRegistered` (v1) and, if `verified`, `InvestorVerified` (v2), both dated at its last deal."""
    iid = investor_id(name)
    investor = investor_of(data, name, deals)
    when = _when(max(d.day for d in deals))
    out = [Event(event_id=_event_id("InvestorRegistered", iid, 1), type="InvestorRegistered", entity_id=iid,
                 entity_version=1, occurred_at=when, actor=ACTOR, payload=investor)]
    if verified:
        out.append(Event(event_id=_event_id("InvestorVerified", iid, 2), type="InvestorVerified", entity_id=iid,
                         entity_version=2, occurred_at=when, actor=ACTOR,
                         payload=investor.model_copy(update={"verification": "verified"})))
    return out


def investment_event(deal: Deal) -> Event:
    """`FeedbackGiven(invested)` of one investment, keyed (like all feedback) by the investor."""
    iid, pid = investor_id(deal.investor), company_id(deal.company)
    return Event(event_id=_event_id("invested", iid, pid, deal.day.isoformat()), type="FeedbackGiven",
                 entity_id=iid, entity_version=1, occurred_at=_when(deal.day), actor=ACTOR,
                 payload=Feedback(investor_id=iid, project_id=pid, action="invested"))


def deals_before(data: CrunchbaseData, until: date | datetime | str | None = None) -> list[Deal]:
    """The investments dated strictly before `until` (all of them when None), in date order."""
    if until is None:
        return data.deals
    cut = pd.Timestamp(until).date()
    return [d for d in data.deals if d.day < cut]


def group_by(deals: Iterable[Deal], field: str) -> dict[str, list[Deal]]:
    """`deals` grouped by 'company' or 'investor', keys sorted."""
    groups: dict[str, list[Deal]] = defaultdict(list)
    for d in deals:
        groups[getattr(d, field)].append(d)
    return {k: groups[k] for k in sorted(groups)}


def crunchbase_events(data: CrunchbaseData, until: date | datetime | str | None = None,
                      verify: Iterable[str] | None = None,
                      open_since: date | datetime | str | None = None) -> Iterator[Event]:
    """Every event of the history before `until`: companies, then investors, then investments by date.

    Args:
        until: keep investments dated strictly before this day (None: all); entities and profiles only
            reflect those.
        verify: investor names to verify (None: all); the others stay registered but pending, so the
            service never recommends them.
        open_since: companies first funded on or after this day stay open (still seeking financing, in deal
            feeds); the others are marked funded. None: every company is marked funded.
    """
    past = deals_before(data, until)
    keep_open = None if open_since is None else pd.Timestamp(open_since).date()
    for name, deals in group_by(past, "company").items():
        submitted = project_event(data, name, deals)
        yield submitted
        if keep_open is None or min(d.day for d in deals) < keep_open:
            yield funded_event(submitted, deals)
    verified = None if verify is None else set(verify)
    for name, deals in group_by(past, "investor").items():
        yield from investor_events(data, name, deals, verified is None or name in verified)
    for deal in past:
        yield investment_event(deal)
