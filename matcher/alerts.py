"""Deal alerts in the domain: whom a changed project or investor now fits, and the commands behind the API
(saved searches, delivery settings, the inbox).

Evaluation uses the service's own scoring, so an alert never disagrees with the feed:
- a project changed: `MatchService.recommend_investors` above the default minimum score (the implicit
  search "anything that fits my profile well"), plus every investor's saved searches whose filters accept
  the project, scored with `MatchService.explain`;
- an investor changed (e.g. newly verified): `recommend_projects` -> the founders owning those projects, plus
  founders' saved searches (each for one of their projects) that accept the investor.
Passed and invested pairs never alert: the recommendations exclude them, and saved searches check the same
feedback exclusion. A pair (recipient, investor, project) alerts once: a later version of the same project
or investor is not a new match for someone already told about it. Alert ids are deterministic (recipient,
subject, subject version), so whoever recomputes an alert gets the same id and it is never sent twice.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from matcher.alert_store import AlertStore
from matcher.commands import Acknowledged, CommandService, Principal, closed_until_verified, new_id
from matcher.delivery import non_public_host_reason, signing_secret
from matcher.encoder import search_text
from matcher.errors import Conflict, InvalidRequest, NotAllowed, NotFound
from matcher.ports import PublishFailed
from matcher.ranking import Reason, found_terms, query_sectors, search_words
from matcher.service import MatchFilters, MatchService
from matcher.versioned import Versioned
from matcher.view import ReadModel
from models.alerts import (
    AlertMatch,
    AlertReason,
    AlertSettings,
    AlertsRead,
    MatchAlert,
    SavedSearch,
    alert_id,
    recipient_key,
    search_terms,
    settings_id,
)
from models.settings import Settings

log = logging.getLogger(__name__)
PROFILE = "profile"  # `via` of a match found by the implicit search
MAX_SAVED_SEARCHES = 50  # active saved searches per investor or founder account


@dataclass(frozen=True)
class AlertPolicy:
    default_min_score: float = 0.28  # Settings.alert_default_min_score
    # Settings.alert_max_recipients: the best counterparts alerted per change. Chosen on the Crunchbase validation
    # cut (`python -m matcher.evaluate --cut validation --alerts`): 100 sent 87 alerts per new project, 6.4 per
    # investor-month at 1.1% precision; 10 sends 9.5, 0.7 per investor-month at 4.0%, the most recall (0.20)
    # within about one alert per investor-month.
    max_recipients: int = 10


@dataclass
class _Hit:
    score: float
    reasons: list[Reason]
    via: list[str] = field(default_factory=list)


def search_filters(s: SavedSearch) -> MatchFilters:
    return MatchFilters(sectors=frozenset(s.sectors), stages=frozenset(s.stages), cities=frozenset(s.cities),
                        ticket_min_cny=s.ticket_min_cny, ticket_max_cny=s.ticket_max_cny, min_score=s.min_score)


def text_matches(s: SavedSearch, text: str, sectors: list[str]) -> bool:
    """Every term of the search's free text finds an entity (its `search_text` and sectors) as free-text search
    would find it by that term alone: one of its words in the text (`found_terms`: traditional Chinese as
    simplified, a city by either name, Latin words whole) or a sector it names (`query_sectors`: 电商). A term with
    nothing to search for (a label every text has, a function word, 市) finds nothing. No text matches everything."""
    for term in search_terms(s.text):
        words = search_words(term)
        if not (found_terms(words, text) or set(query_sectors(words)) & set(sectors)):
            return False
    return True


class AlertEvaluator:
    """Turns changed subjects into the alerts not sent yet. Read-only over the read model."""

    def __init__(self, matches: MatchService, policy: AlertPolicy | None = None) -> None:
        self.matches = matches
        self.view: ReadModel = matches.view
        self.policy = policy or AlertPolicy()

    @property
    def store(self) -> AlertStore:
        return self.view.alerts

    def evaluate(self, subjects: Iterable[tuple[str, str]]) -> list[MatchAlert]:
        """subjects: ("project" | "investor", id) pairs, each evaluated at its current version."""
        out: list[MatchAlert] = []
        with self.view.lock:
            for kind, entity_id in subjects:
                out += self.for_project(entity_id) if kind == "project" else self.for_investor(entity_id)
        return out

    def _searches(self, role: str) -> list[Versioned[SavedSearch]]:
        return [s for s in self.store.active_searches() if s.value.owner_role == role]

    def _profile_alerts(self, role: str, recipient_id: str) -> bool:
        settings = self.store.settings_for(role, recipient_id)
        return settings is None or settings.profile_alerts

    def _add_search_hit(self, hits: dict[str, _Hit], scored: dict[str, _Hit], key: str, search: Versioned[SavedSearch],
                        investor_id: str, project_id: str) -> None:
        """`scored`: the pairs scored for this change, so that one owner's many searches cost one explain()."""
        pair = scored.get(key)
        if pair is None:
            pair = hits.get(key)
            if pair is None:
                match = self.matches.explain(investor_id, project_id, bookmarks=False)  # as every alert scores
                pair = _Hit(match.score, match.reasons)
            scored[key] = pair
        if pair.score >= search.value.min_score:
            hits.setdefault(key, pair).via.append(search.id)

    # ---- a project changed: alert investors -----------------------------------------------------------
    def for_project(self, project_id: str) -> list[MatchAlert]:
        found = self.view.projects.get(project_id)
        if found is None or found.value.status != "open":
            return []
        project, version = found.value, found.version
        hits: dict[str, _Hit] = {}  # investor id -> why it fits
        implicit = MatchFilters(min_score=self.policy.default_min_score)
        for m in self.matches.recommend_investors(project_id, self.policy.max_recipients, implicit):
            if self._profile_alerts("investor", m.entity_id):
                hits[m.entity_id] = _Hit(m.score, m.reasons, [PROFILE])
        text = search_text(project)  # once per change: every saved search reads it
        scored: dict[str, _Hit] = {}
        for search in self._searches("investor"):
            iid = search.value.owner_id
            if (not self.view.investor_in_market(iid) or self.view.feedback.excluded(iid, project_id)
                    or not search_filters(search.value).accepts_project(project)
                    or not text_matches(search.value, text, project.sectors)):
                continue
            self._add_search_hit(hits, scored, iid, search, iid, project_id)
        alerts = []
        for iid, hit in hits.items():
            recipient = recipient_key("investor", iid)
            aid = alert_id(recipient, "project", project_id, version)
            if self.store.sent(aid) or (recipient, iid, project_id) in self.store.alerted_pairs:
                continue
            alerts.append(MatchAlert(alert_id=aid, recipient_role="investor", recipient_id=iid, subject_kind="project",
                                     subject_id=project_id, subject_version=version,
                                     matches=[_match(iid, project_id, hit)]))
        return alerts

    # ---- an investor changed: alert founders ----------------------------------------------------------
    def for_investor(self, investor_id: str) -> list[MatchAlert]:
        found = self.view.investors.get(investor_id)
        if found is None or not found.value.in_market:
            return []
        investor, version = found.value, found.version
        by_founder: dict[str, dict[str, _Hit]] = {}  # founder -> project id -> why it fits
        implicit = MatchFilters(min_score=self.policy.default_min_score)
        for m in self.matches.recommend_projects(investor_id, self.policy.max_recipients, implicit,
                                                   bookmarks=False):
            owner = self.view.projects[m.entity_id].value.owner
            if owner is not None and self._profile_alerts("founder", owner):
                by_founder.setdefault(owner, {})[m.entity_id] = _Hit(m.score, m.reasons, [PROFILE])
        text = search_text(investor)  # once per change: every saved search reads it
        accepted: list[Versioned[SavedSearch]] = []
        for search in self._searches("founder"):
            pid, owner = search.value.project_id or "", search.value.owner_id
            project = self.view.projects.get(pid)
            if (project is None or project.value.status != "open" or project.value.owner != owner
                    or self.view.feedback.excluded(investor_id, pid)
                    or not search_filters(search.value).accepts_investor(investor)
                    or not text_matches(search.value, text, investor.sectors)):
                continue
            accepted.append(search)
        # one investor against many projects: scored together (the same scoring as explain(), batched)
        scored = {m.entity_id: m for m in self.matches.score_pairs(
            investor_id, list(dict.fromkeys(s.value.project_id or "" for s in accepted)))}
        for search in accepted:
            pid, match = search.value.project_id or "", scored[search.value.project_id or ""]
            if match.score >= search.value.min_score:
                by_founder.setdefault(search.value.owner_id, {}).setdefault(
                    pid, _Hit(match.score, match.reasons)).via.append(search.id)
        alerts = []
        for owner, hits in by_founder.items():
            recipient = recipient_key("founder", owner)
            aid = alert_id(recipient, "investor", investor_id, version)
            fresh = [(pid, hit) for pid, hit in hits.items()
                     if (recipient, investor_id, pid) not in self.store.alerted_pairs]
            if not fresh or self.store.sent(aid):
                continue
            fresh.sort(key=lambda ph: -ph[1].score)
            alerts.append(MatchAlert(alert_id=aid, recipient_role="founder", recipient_id=owner,
                                     subject_kind="investor", subject_id=investor_id, subject_version=version,
                                     matches=[_match(investor_id, pid, hit) for pid, hit in fresh[:200]]))
        return alerts


def _match(investor_id: str, project_id: str, hit: _Hit) -> AlertMatch:
    return AlertMatch(investor_id=investor_id, project_id=project_id, score=round(float(hit.score), 6),
                      reasons=[AlertReason(code=r.code, en=r.en, zh=r.zh) for r in hit.reasons],
                      via=list(dict.fromkeys(hit.via)))


# ---- commands and reads behind the API ------------------------------------------------------------------
class AlertCommands:
    """Saved searches, delivery settings and the inbox. Investors and founders act on their own; admins on
    anyone's (naming the recipient); every other role gets NotAllowed."""

    def __init__(self, view: ReadModel, commands: CommandService, server_secret: str | None = None,
                 allow_private_webhooks: bool = False, secret_overlap_s: float = 86_400.0) -> None:
        self.view, self.commands, self.server_secret = view, commands, server_secret
        self.allow_private_webhooks = allow_private_webhooks
        self.secret_overlap_s = secret_overlap_s
        # (owner role, owner id) -> new searches this replica wrote that the read model may not hold yet, counted
        # against the cap under the owner's lock (16 saves at once each counted only the applied ones: 64 were kept)
        self._owner_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
        self._unapplied: defaultdict[tuple[str, str], set[str]] = defaultdict(set)

    @classmethod
    def from_settings(cls, view: ReadModel, commands: CommandService, settings: Settings) -> AlertCommands:
        return cls(view, commands, settings.alerts_signing_secret, settings.webhook_allow_private_networks,
                   settings.webhook_secret_overlap_s)

    @property
    def store(self) -> AlertStore:
        return self.view.alerts

    def recipient(self, who: Principal, role: str | None = None, recipient_id: str | None = None
                  ) -> tuple[str, str]:
        """(role, id) the request acts for: the caller itself, or for admins the one they name."""
        if who.role in ("investor", "founder") and who.entity_id:
            if (role is not None and role != who.role) or (recipient_id is not None and recipient_id != who.entity_id):
                raise NotAllowed("investors and founders manage only their own alerts")
            return who.role, who.entity_id
        if who.role == "admin":
            if role is None or recipient_id is None:
                raise InvalidRequest("recipient_role and recipient_id are required when an admin acts for someone")
            self._check_recipient(role, recipient_id)
            return role, recipient_id
        raise NotAllowed("only investors, founders and admins have deal alerts")

    def _check_recipient(self, role: str, recipient_id: str) -> None:
        """An admin acts for a registered investor, or a founder with a key or a project; never an invented id."""
        if role == "investor":
            self.view.investor(recipient_id)  # NotFound
            return
        with self.view.lock:
            known = bool(self.view.projects_of(recipient_id)) or any(
                k.value.role == "founder" and k.value.entity_id == recipient_id for k in self.view.api_keys.values())
        if not known:
            raise NotFound("founder", recipient_id)

    def signing_secret(self, role: str, recipient_id: str, version: int) -> str | None:
        if self.server_secret is None:
            return None
        return signing_secret(self.server_secret, recipient_key(role, recipient_id), version)

    # ---- saved searches -----------------------------------------------------------------------------
    def save_search(self, who: Principal, fields: dict[str, Any], search_id: str | None = None,
                    expected_version: int | None = None) -> Acknowledged:
        """Create (search_id None) or replace a saved search. `fields` are the criteria, plus `project_id`
        (founders: the project it finds investors for) and, for admins creating one, `investor_id`."""
        with self.commands.writing(self.store.searches, search_id):
            fields = dict(fields)
            investor_id = fields.pop("investor_id", None)
            owner_role: str
            if search_id is not None:
                current = self._own_search(who, search_id).value
                if fields.get("project_id") not in (None, current.project_id):
                    raise InvalidRequest("project_id of a saved search cannot change; save a new search instead")
                owner_role, owner_id, project_id = current.owner_role, current.owner_id, current.project_id
            else:
                owner_role, owner_id, project_id = self._new_search_owner(who, fields.get("project_id"), investor_id)
            fields.pop("project_id", None)
            search = SavedSearch.model_validate({**fields, "owner_role": owner_role, "owner_id": owner_id,
                                                 "project_id": project_id, "deleted": False})
            if search_id is not None:
                return self.commands.publish("SearchSaved", search_id, search, who.actor, self.store.searches,
                                             expected_version)
            owner = (owner_role, owner_id)
            with self._owner_locks[owner]:
                self._check_room(owner)
                saved = self.commands.publish("SearchSaved", new_id("s"), search, who.actor, self.store.searches)
                self._unapplied[owner].add(saved.entity_id)
                return saved

    def _new_search_owner(self, who: Principal, project_id: str | None, investor_id: str | None
                          ) -> tuple[str, str, str | None]:
        if who.role == "investor" and who.entity_id:
            if investor_id not in (None, who.entity_id):
                raise NotAllowed("an investor saves searches for itself only")
            if project_id is not None:
                raise InvalidRequest("project_id is only for founders' searches; an investor's search finds projects")
            if not self.view.investor_in_market(who.entity_id):  # it would never fire: only they are alerted
                raise closed_until_verified(self.view, who.entity_id, "saved searches open")
            return "investor", who.entity_id, None
        if who.role == "founder" and who.entity_id:
            if project_id is None:
                raise InvalidRequest("project_id is required: a founder's search finds investors for one project")
            if self.view.project(project_id).value.owner != who.entity_id:
                raise NotAllowed(f"project {project_id!r} belongs to another founder")
            return "founder", who.entity_id, project_id
        if who.role == "admin":
            if project_id is not None:
                owner = self.view.project(project_id).value.owner
                if owner is None:
                    raise InvalidRequest(f"project_id {project_id!r} has no founder account to alert")
                return "founder", owner, project_id
            if investor_id is not None:
                self._check_recipient("investor", investor_id)
                return "investor", investor_id, None
            raise InvalidRequest("investor_id or project_id is required when an admin saves a search")
        raise NotAllowed("only investors, founders and admins save searches")

    def _check_room(self, owner: tuple[str, str]) -> None:
        # every change is checked against every active search: one account must not be able to slow that for all
        with self.view.lock:
            held = sum(1 for s in self.store.active_searches() if (s.value.owner_role, s.value.owner_id) == owner)
            self._unapplied[owner] = {sid for sid in self._unapplied[owner] if sid not in self.store.searches}
        if held + len(self._unapplied[owner]) >= MAX_SAVED_SEARCHES:
            raise Conflict(f"at most {MAX_SAVED_SEARCHES} saved searches per account; delete one to save another")

    def _own_search(self, who: Principal, search_id: str) -> Versioned[SavedSearch]:
        found = self.store.searches.get(search_id)
        if found is None or found.value.deleted:
            raise NotFound("saved search", search_id)
        if who.role == "admin":
            return found
        if (who.role, who.entity_id) != (found.value.owner_role, found.value.owner_id):
            raise NotAllowed(f"saved search {search_id!r} belongs to someone else")
        return found

    def delete_search(self, who: Principal, search_id: str) -> Acknowledged:
        with self.commands.writing(self.store.searches, search_id):
            found = self._own_search(who, search_id)
            return self.commands.publish("SearchDeleted", search_id, found.value.model_copy(update={"deleted": True}),
                                         who.actor, self.store.searches)

    def search(self, who: Principal, search_id: str) -> Versioned[SavedSearch]:
        return self._own_search(who, search_id)

    def searches(self, who: Principal) -> list[Versioned[SavedSearch]]:
        """The caller's saved searches (every one for admins), oldest change first (as plain lists page)."""
        if who.role not in ("investor", "founder", "admin"):
            raise NotAllowed("only investors, founders and admins have saved searches")
        with self.view.lock:
            found = [s for s in self.store.active_searches()
                     if who.role == "admin" or (s.value.owner_role, s.value.owner_id) == (who.role, who.entity_id)]
        found.sort(key=lambda s: (s.updated_at, s.id))
        return found

    # ---- delivery settings --------------------------------------------------------------------------
    def _stored(self, role: str, recipient_id: str) -> tuple[AlertSettings, int]:
        """(settings, version); the defaults at version 0 while none were saved."""
        found = self.store.settings.get(settings_id(role, recipient_id))
        if found is None:
            return AlertSettings(recipient_role=role, recipient_id=recipient_id), 0  # type: ignore[arg-type]
        return found.value, found.version

    def settings(self, who: Principal, role: str | None = None, recipient_id: str | None = None
                 ) -> tuple[AlertSettings, int, str | None]:
        """(settings, version (0: defaults), signing secret (only for the recipient itself))."""
        role, recipient_id = self.recipient(who, role, recipient_id)
        value, version = self._stored(role, recipient_id)
        secret = self.signing_secret(role, recipient_id, value.secret_version) if who.role != "admin" else None
        return value, version, secret

    def update_settings(self, who: Principal, fields: dict[str, Any], role: str | None = None,
                        recipient_id: str | None = None, expected_version: int | None = None) -> Acknowledged:
        role, recipient_id = self.recipient(who, role, recipient_id)
        with self.commands.writing(self.store.settings, settings_id(role, recipient_id)):
            current, _ = self._stored(role, recipient_id)
            # the secret's rotation state is not a setting the caller edits: it carries over
            value = AlertSettings.model_validate({**fields, "secret_version": current.secret_version,
                                                  "previous_secret_until": current.previous_secret_until,
                                                  "recipient_role": role, "recipient_id": recipient_id})
            host = urlsplit(value.webhook_url).hostname if value.webhook_url else None
            reason = non_public_host_reason(host) if host and not self.allow_private_webhooks else None
            if reason is not None:
                # the webhook worker refuses these anyway (and names that resolve to them); say so now
                raise InvalidRequest(f"webhook_url must point to a public address; {host} is {reason}")
            return self.commands.publish("AlertSettingsUpdated", settings_id(role, recipient_id), value, who.actor,
                                         self.store.settings, expected_version)

    def rotate_secret(self, who: Principal, role: str | None = None, recipient_id: str | None = None,
                      now: datetime | None = None) -> Acknowledged:
        """A new signing secret (a leaked one stops working); pushes carry the old one's signature too for
        `secret_overlap_s`, so the receiver can switch without losing any. Not again within that overlap (a double
        click rotated twice, and the receiver's secret then signed nothing), except by an admin (a leak)."""
        role, recipient_id = self.recipient(who, role, recipient_id)
        with self.commands.writing(self.store.settings, settings_id(role, recipient_id)):
            value, version = self._stored(role, recipient_id)
            now = now or datetime.now(UTC)
            overlap_ends = value.previous_secret_until
            if who.role != "admin" and overlap_ends is not None and now < overlap_ends:
                raise Conflict(f"the secret was rotated already; the previous one signs too until "
                               f"{overlap_ends:%Y-%m-%d %H:%M} UTC, and rotating again before then would stop the "
                               "one your receiver may still hold (an admin can rotate at once after a leak)")
            rotated = value.model_copy(update={"secret_version": value.secret_version + 1,
                                               "previous_secret_until": now + timedelta(seconds=self.secret_overlap_s)})
            return self.commands.publish("AlertSettingsUpdated", settings_id(role, recipient_id), rotated, who.actor,
                                         self.store.settings, version)

    # ---- inbox --------------------------------------------------------------------------------------
    def alerts(self, who: Principal, role: str | None = None, recipient_id: str | None = None, *,
               before: str | None = None, limit: int = 20, unread_only: bool = False) -> list[Versioned[MatchAlert]]:
        """A recipient's alerts, newest first, strictly older than the alert id `before` (the cursor)."""
        role, recipient_id = self.recipient(who, role, recipient_id)
        with self.view.lock:
            ids = self.store.by_recipient.get(recipient_key(role, recipient_id), [])
            end = len(ids)
            if before is not None:
                try:
                    end = ids.index(before)
                except ValueError:
                    raise InvalidRequest("cursor must be a next_cursor returned by this API") from None
            page = []
            for aid in reversed(ids[:end]):
                if unread_only and aid in self.store.read:
                    continue
                page.append(self.store.alerts[aid])
                if len(page) >= limit:
                    break
            return page

    def alert(self, who: Principal, alert: str) -> Versioned[MatchAlert]:
        if who.role not in ("investor", "founder", "admin"):
            raise NotAllowed("only investors, founders and admins have deal alerts")
        found = self.store.alerts.get(alert)
        # Someone else's alert is not found either: an alert id is a hash of recipient, subject and version
        # (`alert_id`), which anyone can compute, so telling it apart would say whom a project was alerted to.
        if found is None or (who.role != "admin"
                             and (who.role, who.entity_id) != (found.value.recipient_role, found.value.recipient_id)):
            raise NotFound("alert", alert)
        return found

    def mark_read(self, who: Principal, alerts: list[Versioned[MatchAlert]]) -> bool:
        """Record that the recipient has seen these alerts (admins reading do not mark). False when the log did
        not acknowledge: the alerts then simply stay unread."""
        if who.role not in ("investor", "founder") or not who.entity_id:
            return False
        unread = [a.id for a in alerts if a.id not in self.store.read
                  and (a.value.recipient_role, a.value.recipient_id) == (who.role, who.entity_id)]
        if not unread:
            return False
        payload = AlertsRead(recipient_role=who.role, recipient_id=who.entity_id, alert_ids=unread)  # type: ignore[arg-type]
        try:  # not versioned: the projection merges the ids into the read set
            self.commands.publish_unversioned("AlertsRead", new_id("r"), payload, who.actor)
        except PublishFailed as exc:
            log.warning("could not mark %d alerts read: %s", len(unread), exc)
            return False
        return True
