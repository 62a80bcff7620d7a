"""The project library (founders)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import policy
from api.deps import ServicesDep, Who
from api.pagination import PlainCursor, plain_page
from api.routes import READ, WRITE
from models.api import Accepted, ProjectCreate, ProjectList, ProjectPrivate, ProjectPublic, ProjectUpdate

router = APIRouter(prefix="/v1/projects", tags=["projects"])
ProjectId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("", status_code=202, responses=WRITE)
def submit_project(body: ProjectCreate, who: Who, svc: ServicesDep) -> Accepted:
    """Submit a project to the library (founders)."""
    return svc.accepted(svc.commands.submit_project(who, body.model_dump()))


@router.get("", responses=READ)
def list_projects(who: Who, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                  cursor: PlainCursor = None) -> ProjectList:
    """The caller's own projects (founders); every project (admins): oldest change first."""
    found = policy.own_projects(svc.view, who)
    page, after = plain_page(found, cursor, limit)
    return ProjectList(data=[policy.project_private(v, with_owner=True) for v in page], count=len(found),
                       next_cursor=after)


@router.get("/{project_id}", response_model=ProjectPrivate | ProjectPublic, responses=READ)
def read_project(project_id: ProjectId, who: Who, svc: ServicesDep) -> ProjectPrivate | ProjectPublic:
    """One project: contact details only for its founder, admins and investors with an accepted intro."""
    return policy.read_project(svc.view, who, project_id)


@router.put("/{project_id}", status_code=202, responses=WRITE)
def update_project(project_id: ProjectId, body: ProjectUpdate, who: Who, svc: ServicesDep) -> Accepted:
    """Replace an open project's fields; `expected_version` must be the current version (else 409)."""
    fields = body.model_dump(exclude={"expected_version"})
    return svc.accepted(svc.commands.update_project(who, project_id, fields, body.expected_version))


@router.post("/{project_id}/withdraw", status_code=202, responses=WRITE)
def withdraw_project(project_id: ProjectId, who: Who, svc: ServicesDep) -> Accepted:
    """Withdraw an open project from matching."""
    return svc.accepted(svc.commands.set_project_status(who, project_id, "withdrawn"))


@router.post("/{project_id}/reopen", status_code=202, responses=WRITE)
def reopen_project(project_id: ProjectId, who: Who, svc: ServicesDep) -> Accepted:
    """Reopen a withdrawn project: it is matched again, and can be edited."""
    return svc.accepted(svc.commands.set_project_status(who, project_id, "open"))


@router.post("/{project_id}/funded", status_code=202, responses=WRITE)
def mark_project_funded(project_id: ProjectId, who: Who, svc: ServicesDep) -> Accepted:
    """Mark an open project as funded (it leaves every feed)."""
    return svc.accepted(svc.commands.set_project_status(who, project_id, "funded"))
