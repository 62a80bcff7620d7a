"""Matches in both directions, and free-text search; every item carries its score, contributions, reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import StringConstraints

from api import policy
from api.deps import ServicesDep, Who
from api.pagination import decode_cursor, ranked_page
from api.routes import READ
from matcher.service import MatchFilters
from models.api import InvestorMatch, MatchPage, ProjectMatch, SectorCode, StageCode
from models.entities import MAX_CNY

router = APIRouter(tags=["matches"])
CityName = Annotated[str, StringConstraints(min_length=1, max_length=50)]


@dataclass(frozen=True)
class Page:
    k: int
    offset: int
    filters: MatchFilters

    @property
    def asked(self) -> int:
        """How many to ask the service for: one more than a page, so that a page that ends the list is known to be
        the last (`ranked_page`)."""
        return self.k + 1


def match_query(
    k: Annotated[int, Query(ge=1, le=100, description="items per page")] = 10,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    sector: Annotated[list[SectorCode], Query(max_length=24, description="repeatable")] = [],  # noqa: B006
    stage: Annotated[list[StageCode], Query(max_length=7, description="repeatable")] = [],  # noqa: B006
    city: Annotated[list[CityName], Query(max_length=20, description="repeatable")] = [],  # noqa: B006
    ticket_min: Annotated[int | None, Query(ge=0, le=MAX_CNY)] = None,
    ticket_max: Annotated[int | None, Query(ge=0, le=MAX_CNY)] = None,
    min_score: Annotated[float, Query(ge=-1.0, le=2.0)] = 0.0,
) -> Page:
    filters = MatchFilters(sectors=frozenset(sector), stages=frozenset(stage), cities=frozenset(city),
                           ticket_min_cny=ticket_min, ticket_max_cny=ticket_max, min_score=min_score)
    return Page(k=k, offset=decode_cursor(cursor), filters=filters)


PageDep = Annotated[Page, Depends(match_query)]


@router.get("/v1/investors/{investor_id}/feed", responses=READ)
def investor_feed(investor_id: Annotated[str, Path(min_length=1, max_length=64)], who: Who, svc: ServicesDep,
                  page: PageDep) -> MatchPage[ProjectMatch]:
    """An investor's deal feed: open projects, best first; passed and invested projects never return."""
    policy.check_feed(svc.view, who, investor_id)
    found, cursor = ranked_page(svc.matches.recommend_projects(investor_id, page.asked, page.filters, page.offset),
                                page.offset, page.k)
    return MatchPage[ProjectMatch](data=[policy.project_match(svc.view, m) for m in found], next_cursor=cursor,
                                   lag=svc.probe.lag())


@router.get("/v1/projects/{project_id}/investors", responses=READ)
def project_investors(project_id: Annotated[str, Path(min_length=1, max_length=64)], who: Who, svc: ServicesDep,
                      page: PageDep) -> MatchPage[InvestorMatch]:
    """Verified investors that fit a founder's project, best first, with the reasons."""
    policy.check_project_matches(svc.view, who, project_id)
    found, cursor = ranked_page(svc.matches.recommend_investors(project_id, page.asked, page.filters, page.offset),
                                page.offset, page.k)
    return MatchPage[InvestorMatch](data=[policy.investor_match(svc.view, m) for m in found], next_cursor=cursor,
                                    lag=svc.probe.lag())


@router.get("/v1/search", response_model=MatchPage[ProjectMatch] | MatchPage[InvestorMatch], responses=READ)
def search(q: Annotated[str, Query(min_length=1, max_length=500)], who: Who, svc: ServicesDep, page: PageDep,
           side: Literal["projects", "investors"] = "projects") -> MatchPage[ProjectMatch] | MatchPage[InvestorMatch]:
    """Free-text search (Chinese, English or mixed) over open projects or verified investors."""
    policy.check_search(who)
    found, cursor = ranked_page(svc.matches.search(q, side, page.asked, page.filters, page.offset), page.offset, page.k)
    lag = svc.probe.lag()
    if side == "projects":
        return MatchPage[ProjectMatch](data=[policy.project_match(svc.view, m) for m in found], next_cursor=cursor,
                                       lag=lag)
    return MatchPage[InvestorMatch](data=[policy.investor_match(svc.view, m) for m in found], next_cursor=cursor,
                                    lag=lag)
