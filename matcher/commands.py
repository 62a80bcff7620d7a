"""Writes: check a command against the read model, turn it into an event, publish it.

Nothing is written anywhere but the log. Versions are assigned here: one more than the newest version this
replica has applied or produced for the entity, under a per-entity lock, so concurrent writes to one entity
through one replica get strictly increasing versions. A command that derives the new state from the current one
runs inside `writing()`, which holds that lock and first lets the read model catch up with this replica's last
write to the entity: otherwise two concurrent commands (two invitees answering one roadshow) would both build on
the same version, both be acknowledged, and the later event would erase the earlier answer. (Several replicas
writing the same entity at once would need the entity's partition to have a single writer; see
docs/ARCHITECTURE.md.)
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from matcher.errors import Conflict, InvalidRequest, NotAllowed, NotCaughtUp, NotFound, RetryLater
from matcher.ports import Delivery, Publisher
from matcher.view import ReadModel
from models.entities import Investor, Project
from models.events import ApiKey, Event, Feedback, Intro, Role


def closed_until_verified(view: ReadModel, investor_id: str, opens: str) -> Conflict:
    """The one refusal of what an investor gets only while verified and active (`Investor.in_market`): the project
    library, the feed, feedback, saved searches. `opens` says what: "the feed opens"."""
    found = view.investors.get(investor_id)
    state = "not registered" if found is None else f"{found.value.verification} and {found.value.status}"
    if found is not None and found.value.status == "withdrawn":
        # Nothing reactivates a withdrawn profile (withdraw_investor is final; updating and registering it again
        # are refused), so a registrar's review would not open anything.
        return Conflict(f"investor {investor_id!r} is {state}; {opens} only for an active profile, and withdrawing "
                        "cannot be undone: a new profile needs a new investor key from an admin")
    return Conflict(f"investor {investor_id!r} is {state}; {opens} once a registrar has verified the profile")


# After a decline, the side that asked may ask the same pair again only after this (the side that declined may ask
# at any time): otherwise a declined request could be repeated at once, again and again.
INTRO_ASK_AGAIN_AFTER = timedelta(days=30)
# A side may take back a request and ask again (to fix its message), but not over and over: each request reaches the
# other side. While it has withdrawn this many requests of the pair within INTRO_ASK_AGAIN_AFTER, it may not ask it.
INTRO_WITHDRAWALS_BEFORE_PAUSE = 2


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role and, for investors/founders/organizers, the entity or account it acts for."""

    key_id: str
    role: Role
    entity_id: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.entity_id or self.key_id}"

    def is_staff(self) -> bool:
        return self.role in ("admin", "registrar")


@dataclass(frozen=True)
class Acknowledged:
    """A write the broker acknowledged (the API answers it with models.api.Accepted)."""

    entity_id: str
    version: int
    delivery: Delivery


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# what a project's status may become: from which status, by which event (a funded project raises its next round as
# a new project)
_STATUS_CHANGES = {"withdrawn": ("open", "ProjectWithdrawn"), "funded": ("open", "ProjectFunded"),
                   "open": ("withdrawn", "ProjectReopened")}


def speaks_for(view: ReadModel, who: Principal, intro: Intro, side: Literal["founder", "investor"]) -> bool:
    """`who` is the intro's investor (side "investor"), or the founder whose project it is (side "founder")."""
    if side == "investor":
        return who.role == "investor" and who.entity_id == intro.investor_id
    project = view.projects.get(intro.project_id)
    return who.role == "founder" and project is not None and project.value.owner == who.entity_id


class CommandService:
    def __init__(self, view: ReadModel, publisher: Publisher, topic_for: Any, catch_up_s: float = 5.0) -> None:
        self.view = view
        self.publisher = publisher
        self.topic_for = topic_for  # event type -> topic
        self.catch_up_s = catch_up_s  # how long writing() waits for the read model
        # False while this replica replays the log at start (Container.start): its read model holds past versions,
        # and a write numbered from one would lose to the newer versions the log already has (acknowledged, then
        # dropped by every projection)
        self.writable = True
        self._locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)
        self._produced: dict[str, int] = {}  # entity id -> newest version this replica produced
        self._intro_of_pair: dict[str, str] = {}  # "project|investor" -> the last intro this replica requested

    @contextmanager
    def writing(self, store: dict, entity_id: str | None) -> Iterator[None]:
        """Run a read-modify-write command on `entity_id` of `store` (None: a new entity): hold the entity's
        lock, and wait until the read model has applied this replica's last write to it, so the command reads
        the state its event replaces."""
        if entity_id is None:
            yield
            return
        with self._locks[entity_id]:
            self.settled(store, entity_id)
            yield

    def settled(self, store: dict, entity_id: str) -> None:
        """Wait until the read model has applied this replica's last write to `entity_id` of `store`: a command that
        reads another entity (an intro's accept reads the project) must see, e.g., its withdrawal acknowledged a
        moment ago."""
        produced = self._produced.get(entity_id, 0)
        if produced and not self.view.wait_until(lambda: _version(store, entity_id) >= produced, self.catch_up_s):
            raise NotCaughtUp(f"an earlier change to {entity_id!r} is not applied yet; retry in a moment")

    def _check_writable(self) -> None:
        if not self.writable:
            raise RetryLater("this replica is still reading the event log; retry in a moment")

    def publish(self, kind: str, entity_id: str, payload: Any, actor: str, store: dict,
                expected_version: int | None = None) -> Acknowledged:
        """Publish the next version of `entity_id` of the versioned `store` (one more than the newest this replica
        applied or produced); `Conflict` when `expected_version` is given and is not the current one."""
        self._check_writable()
        with self._locks[entity_id]:
            current = store.get(entity_id)
            applied = current.version if current is not None else 0
            if expected_version is not None and expected_version != max(applied, self._produced.get(entity_id, 0)):
                raise Conflict(f"expected_version {expected_version} is stale; the entity is at version "
                               f"{max(applied, self._produced.get(entity_id, 0))}")
            version = max(applied, self._produced.get(entity_id, 0)) + 1
            event = Event(type=kind, entity_id=entity_id, entity_version=version, actor=actor, payload=payload)
            delivery = self.publisher.publish(self.topic_for(kind), event)
            self._produced[entity_id] = version
            return Acknowledged(entity_id, version, delivery)

    def publish_unversioned(self, kind: str, entity_id: str, payload: Any, actor: str) -> Acknowledged:
        """Publish a record that is not a version of an entity (feedback, alerts read), always at version 1:
        its projection de-duplicates it by event id or merges it into a set, never by version. Not through
        `publish`, which would take `entity_id`'s lock and count a produced version for it: feedback is keyed by
        the investor's id, so `writing()` would then wait for an investor version that never comes."""
        self._check_writable()
        event = Event(type=kind, entity_id=entity_id, entity_version=1, actor=actor, payload=payload)
        delivery = self.publisher.publish(self.topic_for(kind), event)
        return Acknowledged(entity_id, 1, delivery)

    # ---- project library --------------------------------------------------------------------------
    def submit_project(self, who: Principal, fields: dict[str, Any]) -> Acknowledged:
        if who.role != "founder":
            raise NotAllowed("only founders submit projects")
        project = Project.model_validate({**fields, "owner": who.entity_id, "status": "open"})
        return self.publish("ProjectSubmitted", new_id("p"), project, who.actor, self.view.projects)

    def _own_project(self, who: Principal, project_id: str) -> Project:
        found = self.view.project(project_id)
        if not (who.role == "admin" or (who.role == "founder" and found.value.owner == who.entity_id)):
            raise NotAllowed(f"project {project_id!r} belongs to another founder")
        return found.value

    def update_project(self, who: Principal, project_id: str, fields: dict[str, Any],
                       expected_version: int) -> Acknowledged:
        with self.writing(self.view.projects, project_id):
            current = self._own_project(who, project_id)
            if current.status != "open":
                raise Conflict(f"project {project_id!r} is {current.status}; only open projects can be edited")
            project = Project.model_validate({**fields, "owner": current.owner, "status": "open"})
            return self.publish("ProjectUpdated", project_id, project, who.actor, self.view.projects, expected_version)

    def set_project_status(self, who: Principal, project_id: str,
                           status: Literal["withdrawn", "funded", "open"]) -> Acknowledged:
        """Withdraw or mark funded an open project; reopen a withdrawn one (a funded project raises its next
        round as a new project)."""
        with self.writing(self.view.projects, project_id):
            current = self._own_project(who, project_id)
            source, kind = _STATUS_CHANGES[status]
            if current.status != source:
                raise Conflict(f"project {project_id!r} is {current.status}; it becomes {status} only from {source}")
            return self.publish(kind, project_id, current.model_copy(update={"status": status}), who.actor,
                                self.view.projects)

    # ---- investor registry ------------------------------------------------------------------------
    def register_investor(self, who: Principal, fields: dict[str, Any]) -> Acknowledged:
        if who.role != "investor" or who.entity_id is None:
            raise NotAllowed("only an investor key registers its own investor profile")
        with self.writing(self.view.investors, who.entity_id):
            if who.entity_id in self.view.investors:
                raise Conflict(f"investor {who.entity_id!r} is already registered; update it instead")
            investor = Investor.model_validate({**fields, "verification": "pending", "status": "active",
                                                "rejection_reason": None})
            return self.publish("InvestorRegistered", who.entity_id, investor, who.actor, self.view.investors)

    def _own_investor(self, who: Principal, investor_id: str) -> Investor:
        found = self.view.investor(investor_id)
        if who.role == "investor" and who.entity_id != investor_id:
            raise NotAllowed(f"investor {investor_id!r} is another investor's profile")
        if who.role not in ("admin", "investor"):
            raise NotAllowed(f"only investor {investor_id!r} itself or an admin changes its profile, not a "
                             f"{who.role} key")
        return found.value

    def update_investor(self, who: Principal, investor_id: str, fields: dict[str, Any],
                        expected_version: int) -> Acknowledged:
        with self.writing(self.view.investors, investor_id):
            current = self._own_investor(who, investor_id)
            if current.status != "active":
                raise Conflict(f"investor {investor_id!r} has withdrawn")
            # the registrar's rejection reason as stored: checks added since it was written must not stop an edit
            investor = Investor.model_validate({**fields, "verification": current.verification,
                                                "status": "active"}).model_copy(
                update={"rejection_reason": current.rejection_reason})
            # Back to the registrar's queue: a rejected profile's edit (how its owner answers the reason), and a
            # verified one whose identity changed (the registrar verified who the investor is, not its thesis).
            # A registrar's own edit needs no second look.
            if not who.is_staff() and (current.verification == "rejected" or (
                    current.verification == "verified" and _identity(investor) != _identity(current))):
                investor = investor.model_copy(update={"verification": "pending"})
            return self.publish("InvestorUpdated", investor_id, investor, who.actor, self.view.investors,
                                expected_version)

    def withdraw_investor(self, who: Principal, investor_id: str) -> Acknowledged:
        with self.writing(self.view.investors, investor_id):
            current = self._own_investor(who, investor_id)
            if current.status == "withdrawn":
                raise Conflict(f"investor {investor_id!r} has already withdrawn")
            return self.publish("InvestorWithdrawn", investor_id, current.model_copy(update={"status": "withdrawn"}),
                                who.actor, self.view.investors)

    def review_investor(self, who: Principal, investor_id: str, verify: bool, reason: str | None) -> Acknowledged:
        if not who.is_staff():
            raise NotAllowed("only registrars verify or reject investors")
        with self.writing(self.view.investors, investor_id):
            found = self.view.investor(investor_id)
            if not verify and not (reason and reason.strip()):
                raise InvalidRequest("reason is required when rejecting an investor")
            decided = "verified" if verify else "rejected"
            if found.value.verification == decided:  # a second click must not publish (and alert) again
                raise Conflict(f"investor {investor_id!r} is already {decided}")
            update = {"verification": decided, "rejection_reason": None if verify else reason}
            return self.publish("InvestorVerified" if verify else "InvestorRejected", investor_id,
                                found.value.model_copy(update=update), who.actor, self.view.investors)

    # ---- feedback and intros ----------------------------------------------------------------------
    def give_feedback(self, who: Principal, project_id: str, action: str, reason: str | None) -> Acknowledged:
        if who.role != "investor" or who.entity_id is None:
            raise NotAllowed("only investors give feedback on projects")
        self._own_investor(who, who.entity_id)
        if not self.view.investor_in_market(who.entity_id):  # a pass list would show it projects it may not read
            raise closed_until_verified(self.view, who.entity_id, "feedback on projects opens")
        self.view.project(project_id)
        fb = Feedback(investor_id=who.entity_id, project_id=project_id, action=action, reason=reason)  # type: ignore[arg-type]
        return self.publish_unversioned("FeedbackGiven", who.entity_id, fb, who.actor)

    def request_intro(self, who: Principal, project_id: str, investor_id: str, message: str) -> Acknowledged:
        self.settled(self.view.projects, project_id)  # a withdrawal or rejection this replica just wrote counts
        self.settled(self.view.investors, investor_id)
        project = self.view.project(project_id)
        investor = self.view.investor(investor_id)
        if who.role == "founder":
            if project.value.owner != who.entity_id:
                raise NotAllowed(f"project {project_id!r} belongs to another founder")
        elif who.role == "investor":
            if who.entity_id != investor_id:
                raise NotAllowed("an investor asks for intros for itself only")
        else:
            raise NotAllowed("only founders and investors request intros")
        if not investor.value.in_market:
            if who.role == "founder":  # founders never see such a profile: the same answer as GET /v1/investors/{id}
                raise NotFound("investor", investor_id)
            raise Conflict(f"investor {investor_id!r} is not a verified, active investor")
        if project.value.status != "open":
            raise Conflict(f"project {project_id!r} is {project.value.status}")
        pair = f"{project_id}|{investor_id}"  # one request per pair at a time: a double click asks once
        with self._locks[pair], self.writing(self.view.intros, self._intro_of_pair.get(pair)):
            with self.view.lock:  # the indexer inserts intros while we iterate
                existing = [v for v in self.view.intros_of("project", project_id) if v.value.investor_id == investor_id]
            now = datetime.now(UTC)
            withdrawn = sorted(v.updated_at for v in existing if v.value.status == "withdrawn"
                               and v.value.requested_by == who.role and now - v.updated_at < INTRO_ASK_AGAIN_AFTER)
            if len(withdrawn) >= INTRO_WITHDRAWALS_BEFORE_PAUSE:
                until = withdrawn[-INTRO_WITHDRAWALS_BEFORE_PAUSE] + INTRO_ASK_AGAIN_AFTER  # when one fewer is recent
                raise Conflict(f"the {who.role} has withdrawn {len(withdrawn)} intro requests between {project_id!r} "
                               f"and {investor_id!r} since {withdrawn[0]:%Y-%m-%d}; it may ask again after "
                               f"{until:%Y-%m-%d %H:%M} UTC")
            for v in existing:
                if v.value.status not in ("declined", "withdrawn"):
                    raise Conflict(f"an intro between {project_id!r} and {investor_id!r} is already {v.value.status}")
                again = v.updated_at + INTRO_ASK_AGAIN_AFTER
                if v.value.status == "declined" and v.value.requested_by == who.role and now < again:
                    raise Conflict(f"intro {v.id!r} between {project_id!r} and {investor_id!r} was declined on "
                                   f"{v.updated_at:%Y-%m-%d}; the {who.role} may ask again after "
                                   f"{again:%Y-%m-%d %H:%M} UTC (the side that declined may ask at any time)")
            intro = Intro(project_id=project_id, investor_id=investor_id, requested_by=who.role, message=message)  # type: ignore[arg-type]
            accepted = self.publish("IntroRequested", new_id("x"), intro, who.actor, self.view.intros)
            self._intro_of_pair[pair] = accepted.entity_id
            return accepted

    def _intro(self, intro_id: str) -> Intro:
        found = self.view.intros.get(intro_id)
        if found is None:
            raise NotFound("intro", intro_id)
        return found.value

    def answer_intro(self, who: Principal, intro_id: str, accept: bool, reason: str | None) -> Acknowledged:
        with self.writing(self.view.intros, intro_id):
            intro = self._intro(intro_id)
            if not speaks_for(self.view, who, intro, "investor" if intro.requested_by == "founder" else "founder"):
                raise NotAllowed("only the side that was asked answers an intro")
            if intro.status != "requested":
                raise Conflict(f"intro {intro_id!r} is already {intro.status}")
            if accept:  # an accept reveals contacts: both sides must still be in the market, as of this replica's
                self.settled(self.view.investors, intro.investor_id)  # last writes to them too
                self.settled(self.view.projects, intro.project_id)
                if not self.view.investor_in_market(intro.investor_id):
                    raise Conflict(f"investor {intro.investor_id!r} is no longer a verified, active investor; "
                                   "the intro can only be declined")
                project = self.view.projects.get(intro.project_id)
                if project is None or project.value.status != "open":
                    raise Conflict(f"project {intro.project_id!r} is no longer open; the intro can only be declined")
            update = {"status": "accepted" if accept else "declined", "decline_reason": None if accept else reason}
            return self.publish("IntroAccepted" if accept else "IntroDeclined", intro_id,
                                intro.model_copy(update=update), who.actor, self.view.intros)

    def withdraw_intro(self, who: Principal, intro_id: str) -> Acknowledged:
        """The side that asked takes back a request not answered yet (then it may ask again later)."""
        with self.writing(self.view.intros, intro_id):
            intro = self._intro(intro_id)
            if not speaks_for(self.view, who, intro, intro.requested_by):
                raise NotAllowed("only the side that asked withdraws an intro request")
            if intro.status != "requested":
                raise Conflict(f"intro {intro_id!r} is already {intro.status}")
            return self.publish("IntroWithdrawn", intro_id, intro.model_copy(update={"status": "withdrawn"}),
                                who.actor, self.view.intros)

    # ---- keys -------------------------------------------------------------------------------------
    def issue_key(self, who: Principal, role: Role, entity_id: str | None, label: str, key_hash: str) -> Acknowledged:
        if who.role != "admin":
            raise NotAllowed("only admins issue keys")
        # ApiKey checks that entity_id fits the role (models.events.check_key_entity): a ValidationError, a 422
        key = ApiKey(key_hash=key_hash, role=role, entity_id=entity_id, label=label)
        return self.publish("ApiKeyIssued", new_id("k"), key, who.actor, self.view.api_keys)

    def revoke_key(self, who: Principal, key_id: str) -> Acknowledged:
        if who.role != "admin":
            raise NotAllowed("only admins revoke keys")
        with self.writing(self.view.api_keys, key_id):
            found = self.view.api_keys.get(key_id)
            if found is None:
                raise NotFound("key", key_id)
            if found.value.revoked:
                raise Conflict(f"key {key_id!r} is already revoked")
            return self.publish("ApiKeyRevoked", key_id, found.value.model_copy(update={"revoked": True}),
                                who.actor, self.view.api_keys)


def _version(store: dict, entity_id: str) -> int:
    found = store.get(entity_id)
    return 0 if found is None else found.version


def _identity(investor: Investor) -> tuple[str, str, str]:
    return investor.name, investor.kind, investor.organization
