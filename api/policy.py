"""Who may read what, and in which shape. Writes are checked by CommandService; reads are checked here.

- Projects: the owning founder and admins see everything; organizers, registrars and verified, active
  investors see the public fields; other founders see nothing (403), nor do investors before they are verified
  (or once rejected or withdrawn), except projects they have an intro with. An investor with an accepted intro
  to the project also sees its contact.
- Investors: the investor itself and admins see everything; registrars see the public fields of every
  profile (pending and rejected included); founders and organizers see verified profiles only (others are
  404, as if absent); other investors see nothing (403). A founder with an accepted intro between one of
  its projects and the investor also sees its contact.
- Contact details appear nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from matcher.commands import Principal, closed_until_verified
from matcher.errors import NotAllowed, NotFound
from matcher.ranking import Reason
from matcher.service import Match
from matcher.versioned import Versioned
from matcher.view import ReadModel
from models.api import (
    IntroContacts,
    IntroView,
    InvestorMatch,
    InvestorPrivate,
    InvestorPublic,
    Pass,
    ProjectMatch,
    ProjectPrivate,
    ProjectPublic,
    ReasonOut,
)
from models.entities import Investor, Project
from models.events import ApiKey, Intro
from models.taxonomy import city_key
from models.text import fold_lower

_PROJECT_FIELDS = set(ProjectPublic.model_fields) - {"id", "version", "updated_at"}
_INVESTOR_FIELDS = set(InvestorPublic.model_fields) - {"id", "version", "updated_at"}


# ---- shapes ------------------------------------------------------------------------------------------
def project_public(v: Versioned[Project]) -> ProjectPublic:
    return ProjectPublic(id=v.id, version=v.version, updated_at=v.updated_at,
                         **v.value.model_dump(include=_PROJECT_FIELDS))


def project_private(v: Versioned[Project], *, with_owner: bool) -> ProjectPrivate:
    return ProjectPrivate(id=v.id, version=v.version, updated_at=v.updated_at, contact=v.value.contact,
                          owner=v.value.owner if with_owner else None,
                          **v.value.model_dump(include=_PROJECT_FIELDS))


def investor_public(v: Versioned[Investor]) -> InvestorPublic:
    return InvestorPublic(id=v.id, version=v.version, updated_at=v.updated_at,
                          **v.value.model_dump(include=_INVESTOR_FIELDS))


def investor_private(v: Versioned[Investor]) -> InvestorPrivate:
    return InvestorPrivate(id=v.id, version=v.version, updated_at=v.updated_at, contact=v.value.contact,
                           in_market=v.value.in_market, **v.value.model_dump(include=_INVESTOR_FIELDS))


def reasons_out(reasons: list[Reason]) -> list[ReasonOut]:
    return [ReasonOut(code=r.code, en=r.en, zh=r.zh) for r in reasons]


def project_match(view: ReadModel, m: Match) -> ProjectMatch:
    return ProjectMatch(entity_id=m.entity_id, score=m.score, features=m.features, contributions=m.contributions,
                        reasons=reasons_out(m.reasons), project=project_public(view.projects[m.entity_id]))


# The investor's own activity, shown to the investor in its feed but never to founders: what it bookmarked, how
# many intros await it, its recent deals, its investment count.
PRIVATE_FEATURES = frozenset({"saved", "exposure", "capacity", "activity"})


def investor_match(view: ReadModel, m: Match) -> InvestorMatch:
    def public(values: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in values.items() if k not in PRIVATE_FEATURES}

    return InvestorMatch(entity_id=m.entity_id, score=m.score, features=public(m.features),
                         contributions=public(m.contributions), reasons=reasons_out(m.reasons),
                         investor=investor_public(view.investors[m.entity_id]))


# ---- contacts through intros -------------------------------------------------------------------------
# Contacts stay visible through an accepted intro only while the investor is in good standing (verified and
# active: `ReadModel.investor_in_market`): one rejected or withdrawn since sees none (nor do founders see its own).
def accepted_intro(view: ReadModel, investor_id: str | None, project_id: str) -> bool:
    with view.lock:  # the indexer inserts intros while request threads read
        return (investor_id is not None and view.accepted_intro(investor_id, project_id)
                and view.investor_in_market(investor_id))


def founder_linked(view: ReadModel, founder_id: str | None, investor_id: str) -> bool:
    """An accepted intro between the investor and one of the founder's projects."""
    if founder_id is None or not view.investor_in_market(investor_id):
        return False
    with view.lock:
        for project_id in view.accepted_intro_projects(investor_id):
            project = view.projects.get(project_id)
            if project is not None and project.value.owner == founder_id:
                return True
    return False


# ---- reads -------------------------------------------------------------------------------------------
def read_project(view: ReadModel, who: Principal, project_id: str) -> ProjectPublic | ProjectPrivate:
    found = view.project(project_id)
    if who.role == "founder":
        if found.value.owner != who.entity_id:
            raise NotAllowed(f"project {project_id!r} belongs to another founder")
        return project_private(found, with_owner=True)
    if who.role == "admin":
        return project_private(found, with_owner=True)
    if who.role == "investor":
        if accepted_intro(view, who.entity_id, project_id):
            return project_private(found, with_owner=False)
        if not library_open(view, who.entity_id)(project_id):
            raise closed_until_verified(view, who.entity_id or "", "the project library opens")
    return project_public(found)


def library_open(view: ReadModel, investor_id: str | None) -> Callable[[str], bool]:
    """Which projects an investor may read: the whole library once a registrar has verified it (and while it is
    active); before, and after a rejection, only the projects it has an intro with. Worked out once per request."""
    if investor_id is not None and view.investor_in_market(investor_id):
        return lambda _: True
    with view.lock:
        with_intro = {v.value.project_id for v in view.intros_of("investor", investor_id or "")}
    return with_intro.__contains__


def own_projects(view: ReadModel, who: Principal) -> list[Versioned[Project]]:
    """A founder's projects (every project for admins), oldest change first; shape them with project_private."""
    if who.role not in ("founder", "admin"):
        raise NotAllowed("only founders list their projects (and admins, every project)")
    with view.lock:
        found = list(view.projects.values()) if who.role == "admin" else view.projects_of(who.entity_id or "")
    found.sort(key=lambda v: (v.updated_at, v.id))
    return found


def api_keys(view: ReadModel, who: Principal, role: str | None = None, acts_for: str | None = None,
             revoked: bool | None = None) -> list[Versioned[ApiKey]]:
    """The issued keys as admins list them, filtered, oldest change first; never shown with their hash."""
    if who.role != "admin":
        raise NotAllowed("only admins list keys")
    with view.lock:
        found = [v for v in view.api_keys.values() if role in (None, v.value.role)
                 and acts_for in (None, v.value.entity_id) and revoked in (None, v.value.revoked)]
    found.sort(key=lambda v: (v.updated_at, v.id))
    return found


def read_investor(view: ReadModel, who: Principal, investor_id: str) -> InvestorPublic | InvestorPrivate:
    if who.role == "investor" and who.entity_id != investor_id:
        raise NotAllowed("investors see only their own profile")
    found = view.investor(investor_id)
    if who.role in ("investor", "admin"):
        return investor_private(found)
    if who.role == "registrar":
        return investor_public(found)
    if not found.value.in_market:  # founders and organizers: unverified or withdrawn profiles do not exist
        raise NotFound("investor", investor_id)
    if who.role == "founder" and founder_linked(view, who.entity_id, investor_id):
        return investor_private(found)
    return investor_public(found)


def registry(view: ReadModel, who: Principal, verification: str | None = None, status: str | None = None,
             text: str = "") -> list[InvestorPublic]:
    """The investor registry as registrars browse it, oldest change first: by the registrar's decision, by
    status, and by `text` found in the name, organization or a city (any case)."""
    if not who.is_staff():
        raise NotAllowed("only registrars and admins browse the investor registry")
    text = fold_lower(text).strip()
    city = city_key(text)  # Hangzhou, 杭州市: 杭州, which every identity with that city holds ("市" alone: none)

    def named(identity: str) -> bool:
        folded = fold_lower(identity)
        return text in folded or bool(city) and city in folded

    with view.lock:
        found = [v for v in view.investors.values()
                 if verification in (None, v.value.verification) and status in (None, v.value.status)
                 and (not text or named(v.value.identity))]
    found.sort(key=lambda v: (v.updated_at, v.id))
    return [investor_public(v) for v in found]


def own_passes(view: ReadModel, who: Principal) -> list[Pass]:
    """The projects the calling investor passed on, with its reasons (to take a pass back)."""
    if who.role != "investor" or who.entity_id is None:
        raise NotAllowed("only investors have passes")
    with view.lock:  # one snapshot for the intros that open projects and the passes
        readable = library_open(view, who.entity_id)
        found = [(view.projects[pid], reason) for pid, reason in view.feedback.passed.get(who.entity_id, {}).items()
                 if pid in view.projects and readable(pid)]
    return [Pass(project=project_public(v), reason=reason) for v, reason in found]


def check_feed(view: ReadModel, who: Principal, investor_id: str) -> None:
    """An investor reads its own feed once verified; admins read any."""
    if who.role not in ("investor", "admin"):
        raise NotAllowed("only investors read deal feeds")
    if who.role == "investor" and who.entity_id != investor_id:
        raise NotAllowed("an investor reads only its own feed")
    found = view.investor(investor_id)
    if who.role != "admin" and not found.value.in_market:
        raise closed_until_verified(view, investor_id, "the feed opens")


def check_project_matches(view: ReadModel, who: Principal, project_id: str) -> None:
    """A founder reads the investor list of its own projects; admins of any."""
    if who.role not in ("founder", "admin"):
        raise NotAllowed("only founders read the investors matching a project")
    found = view.project(project_id)
    if who.role == "founder" and found.value.owner != who.entity_id:
        raise NotAllowed(f"project {project_id!r} belongs to another founder")


def check_search(who: Principal) -> None:
    if who.role not in ("organizer", "admin"):
        raise NotAllowed("only organizers and admins search")


# ---- intros ------------------------------------------------------------------------------------------
def intro_view(view: ReadModel, v: Versioned[Intro]) -> IntroView:
    intro = v.value
    contacts = None
    # only the two parties (and admins) ever see an intro; its contacts while the investor is in good standing
    if intro.status == "accepted" and view.investor_in_market(intro.investor_id):
        project, investor = view.projects.get(intro.project_id), view.investors.get(intro.investor_id)
        if project is not None and investor is not None:
            contacts = IntroContacts(project=project.value.contact, investor=investor.value.contact)
    return IntroView(id=v.id, version=v.version, updated_at=v.updated_at, project_id=intro.project_id,
                     investor_id=intro.investor_id, requested_by=intro.requested_by, message=intro.message,
                     status=intro.status, decline_reason=intro.decline_reason, contacts=contacts)


def own_intros(view: ReadModel, who: Principal) -> list[IntroView]:
    if who.role not in ("founder", "investor", "admin"):
        raise NotAllowed("only founders, investors and admins have intros")
    with view.lock:
        if who.role == "admin":
            found = list(view.intros.values())
        elif who.role == "investor":
            found = view.intros_of("investor", who.entity_id or "")
        else:
            found = [v for p in view.projects_of(who.entity_id or "") for v in view.intros_of("project", p.id)]
        found.sort(key=lambda v: (v.updated_at, v.id))
        return [intro_view(view, v) for v in found]
