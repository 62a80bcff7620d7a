"""The read model every API replica holds: entities, vectors, feedback, intros and keys, fed only by events.

Projections are idempotent: each entity stores the version it was last changed at and the event that changed it;
an event below that version, or that same event again, is ignored (`models.events.supersedes`: of two events that
concurrent replicas wrote at the same version the later in the log wins); feedback (not versioned) is de-duplicated
by event id. Replaying the topics from offset 0 therefore gives the same state as running live (see `digest()`).
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import hashlib
import json
import logging
import pickle
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from matcher.alert_store import PAYLOAD_TYPES as ALERT_PAYLOAD_TYPES
from matcher.alert_store import AlertStore
from matcher.encoder import investor_text, portfolio_text, project_portfolio_text, project_text
from matcher.errors import NotFound
from matcher.index import VectorIndex
from matcher.locks import FairRLock
from matcher.sparse import SparseTextIndex, words
from matcher.versioned import Versioned, put_if_newer
from models.entities import Investor, Project
from models.events import ApiKey, EntityVector, Event, Feedback, Intro, check_vector_size, later_write
from models.roadshows import Roadshow

log = logging.getLogger(__name__)
K = TypeVar("K")
# Bumped when what a snapshot holds changes. The keyword indexes are not in it (load() rebuilds them from the
# entities), so the bump to 2 with whole words in the keyword index was not needed. 3: entities hold the id of
# the event that set their version, and vectors their content hash (`supersedes`). 4: one `Versioned` class
# (matcher.versioned) for entities and alert records. 5: passes grouped by investor; views and meeting
# requests are no longer counted per pair (nothing read them). 6: each investor's deal times are sorted.
# 7: roadshows keep the meetings that left their schedule (a pickled roadshow from before has no such field).
# 8: feedback keeps the pairs with a meeting requested (a repeated request is one deal).
SNAPSHOT_FORMAT = 8

# What a snapshot may name besides the classes of `models` and `matcher` (see `_SnapshotUnpickler`): containers,
# times and numpy arrays.
_SNAPSHOT_GLOBALS = frozenset(
    [("builtins", n) for n in ("dict", "list", "set", "frozenset", "tuple", "int", "float", "str", "bytes", "bool")]
    + [("collections", n) for n in ("OrderedDict", "defaultdict", "Counter", "deque")]
    + [("datetime", n) for n in ("datetime", "date", "time", "timedelta", "timezone")]
    + [("uuid", "UUID"), ("pydantic_core._pydantic_core", "TzInfo"), ("numpy", "dtype"), ("numpy", "ndarray")]
    + [(f"numpy.{core}.{module}", n) for core in ("core", "_core")
       for module, n in (("numeric", "_frombuffer"), ("multiarray", "_reconstruct"), ("multiarray", "scalar"))])


class _SnapshotUnpickler(pickle.Unpickler):
    """Unpickles only what snapshots are made of: the data classes defined in `models` (pydantic models, settings
    aside) and `matcher` (dataclasses), whose constructors only store what they are given, and `_SNAPSHOT_GLOBALS`.
    A pickle can name any callable to be called as it loads (os.system, say, or a class that reads a path), so a
    snapshot file that someone else wrote could otherwise run code in the replica; one that names anything else is
    refused (and the log replayed)."""

    def find_class(self, module: str, name: str) -> object:
        if "." not in name:  # no "Class.method" paths
            if (module, name) in _SNAPSHOT_GLOBALS:
                return super().find_class(module, name)
            if module.split(".")[0] in ("models", "matcher"):
                found = super().find_class(module, name)
                if isinstance(found, type) and found.__module__ == module and _is_data_class(found):
                    return found
        raise pickle.UnpicklingError(f"a snapshot holds no {module}.{name}")


def _is_data_class(cls: type) -> bool:
    if issubclass(cls, BaseSettings):  # reads the environment when constructed
        return False
    return issubclass(cls, BaseModel | enum.Enum) or dataclasses.is_dataclass(cls)


@dataclass
class FeedbackAggregate:
    """What investors did with projects; passes and investments are permanent exclusions."""

    # investor -> project -> reason; grouped so that an investor's own passes are one lookup
    passed: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    saved: set[tuple[str, str]] = field(default_factory=set)
    invested: set[tuple[str, str]] = field(default_factory=set)
    meetings: set[tuple[str, str]] = field(default_factory=set)  # pairs with a meeting requested
    invested_count: dict[str, int] = field(default_factory=dict)  # investor -> projects it invested in
    # investor -> times of meeting requests and investments, sorted (events arrive out of time order: an import
    # replays history), for remaining monthly capacity
    deal_times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    def excluded(self, investor_id: str, project_id: str) -> bool:
        return project_id in self.passed.get(investor_id, ()) or (investor_id, project_id) in self.invested


class ReadModel:
    def __init__(self, encoder_name: str, exact_search_limit: int = 50_000, text_min_compact: int | None = 256) -> None:
        self.encoder_name = encoder_name
        # the encoder's dimension, where the owner knows it: else the first vector applied sets each index's
        self.vector_dim: int | None = None
        self.exact_search_limit = exact_search_limit
        self.projects: dict[str, Versioned[Project]] = {}
        self.investors: dict[str, Versioned[Investor]] = {}
        self.investor_changes = 0  # how many investor events were applied: caches of investors compare it
        self.intros: dict[str, Versioned[Intro]] = {}
        # kept with the intros, because every ranked pair and every contact check reads them
        self._pending_intro_counts: dict[str, int] = {}  # investor -> intros awaiting its answer
        self._accepted_intro_counts: dict[str, dict[str, int]] = {}  # investor -> project -> intros accepted
        # who holds what, for listing one party's projects and intros without scanning everyone's
        self._projects_of_owner: dict[str, set[str]] = {}  # founder -> project ids
        self._intros_of_investor: dict[str, set[str]] = {}  # investor -> intro ids
        self._intros_of_project: dict[str, set[str]] = {}  # project -> intro ids
        self.api_keys: dict[str, Versioned[ApiKey]] = {}  # key id -> key
        self.roadshows: dict[str, Versioned[Roadshow]] = {}
        self.feedback = FeedbackAggregate()
        self.project_index: VectorIndex | None = None  # created on the first vector: its size fixes dim
        self.investor_index: VectorIndex | None = None
        # entity id -> (entity version, content hash) of its vector
        self.project_vectors: dict[str, tuple[int, str]] = {}
        self.investor_vectors: dict[str, tuple[int, str]] = {}
        # Keyword indexes. text_min_compact: None for a bulk load that is never written to afterwards (an
        # evaluation, a benchmark), which calls compact_text() at the end.
        self.project_text = SparseTextIndex(min_compact=text_min_compact)
        self.investor_text = SparseTextIndex(min_compact=text_min_compact)
        # The portfolio term space (see matcher.service.Portfolio): every recommendable investor's portfolio as one
        # document, and the projects weighed by that corpus's IDF, so that words many investors' portfolios share count
        # for little.
        self.portfolio_words = SparseTextIndex(min_compact=text_min_compact, analyzer=words)
        self.project_words = SparseTextIndex(min_compact=text_min_compact, analyzer=words,
                                             idf_from=self.portfolio_words)
        self.seen_feedback: set[str] = set()
        self.offsets: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset to apply
        self.alerts = AlertStore()  # deal alerts: saved searches, settings, alerts, deliveries (own module)
        self.lock = FairRLock()  # the indexer writes while request threads read; first come, first served
        self.applied = threading.Condition(self.lock)  # type: ignore[arg-type]  # it has what Condition uses

    # ---- events -----------------------------------------------------------------------------------
    def apply(self, event: Event) -> bool:
        """Apply one event; False when it changed nothing (already applied, older than what is stored, or a `viewed`
        feedback event)."""
        with self.lock:
            payload = event.payload
            if isinstance(payload, Project):
                return self._apply_project(event, payload)
            if isinstance(payload, Investor):
                return self._apply_entity(self.investors, event, payload, self._index_investor)
            if isinstance(payload, Intro):
                return self._apply_intro(event, payload)
            if isinstance(payload, ApiKey):
                return self._apply_entity(self.api_keys, event, payload, None)
            if isinstance(payload, Roadshow):
                return self._apply_entity(self.roadshows, event, payload, None)
            if isinstance(payload, Feedback):
                return self._apply_feedback(event, payload)
            if isinstance(payload, ALERT_PAYLOAD_TYPES):
                return self.alerts.apply(event)
            raise TypeError(f"no projection for {event.type}")

    def _apply_entity(self, store: dict, event: Event, value: object, index) -> bool:  # type: ignore[type-arg]
        if not put_if_newer(store, event.entity_id, event, value):
            return False
        if index is not None:
            index(event.entity_id, value)
        return True

    def _apply_project(self, event: Event, project: Project) -> bool:
        before = self.projects.get(event.entity_id)
        if not self._apply_entity(self.projects, event, project, self._index_project):
            return False
        if before is not None:
            _unlink(self._projects_of_owner, before.value.owner, event.entity_id)
        _link(self._projects_of_owner, project.owner, event.entity_id)
        return True

    def _apply_intro(self, event: Event, intro: Intro) -> bool:
        before = self.intros.get(event.entity_id)
        if not put_if_newer(self.intros, event.entity_id, event, intro):
            return False
        if before is not None:
            self._track_intro(event.entity_id, before.value, -1)
        self._track_intro(event.entity_id, intro, 1)
        return True

    def _track_intro(self, intro_id: str, intro: Intro, change: int) -> None:
        """Count the intro in (change 1) or out of (-1) its parties' listings and the count its status feeds."""
        for index, key in ((self._intros_of_investor, intro.investor_id), (self._intros_of_project, intro.project_id)):
            (_link if change > 0 else _unlink)(index, key, intro_id)
        if intro.status == "requested":
            _add(self._pending_intro_counts, intro.investor_id, change)
        elif intro.status == "accepted":
            projects = self._accepted_intro_counts.setdefault(intro.investor_id, {})
            _add(projects, intro.project_id, change)
            if not projects:
                del self._accepted_intro_counts[intro.investor_id]

    # Withdrawn and funded entities stay in the indexes (a withdrawn project may reopen without new text,
    # and so without a new vector); queries filter them out with the `allowed` sets below.
    def _index_project(self, pid: str, project: Project) -> None:
        self.project_text.upsert(pid, project_text(project))
        self.project_words.upsert(pid, project_portfolio_text(project))

    def _index_investor(self, iid: str, investor: Investor) -> None:
        self.investor_changes += 1
        self.investor_text.upsert(iid, investor_text(investor))
        # only investors who can be recommended: their portfolios are what projects are compared with (on the
        # Crunchbase validation cut, leaving out the unverified lifted investor -> companies R@10 0.136 -> 0.139)
        if investor.in_market:
            self.portfolio_words.upsert(iid, portfolio_text(investor))
        else:
            self.portfolio_words.remove(iid)
        self.project_words.maybe_compact()  # re-weighed if the portfolio IDF just changed

    def compact_text(self) -> None:
        """Compact every keyword index (the end of a bulk load); the portfolio IDF first, its users after."""
        self.compact_text_indexes(due_only=False)

    def compact_off_lock(self) -> None:
        """From now on the keyword indexes wait for `compact_text_indexes` (which the indexer calls after each
        batch) rather than compacting inside `apply`, under the lock, unless they fall far behind."""
        for index in self.text_indexes():
            index.compacted_off_lock = True

    def compact_text_indexes(self, due_only: bool = True) -> None:
        """Compact the keyword indexes that are due (every one, unless `due_only`), each built without holding
        `lock`, so that requests go on meanwhile (at 100k projects a build takes ~2 s). Call it from the one thread
        that applies events: it applies nothing while a build runs (whatever another thread changed meanwhile
        would stay in the delta), and it may then read whether an index is due without the lock."""
        for index in self.text_indexes():
            if due_only and not index.compaction_due():
                continue
            with self.lock:
                plan = index.plan_compaction()
            built = plan.build()
            with self.lock:
                index.install(built)

    def text_indexes(self) -> tuple[SparseTextIndex, ...]:
        # the portfolio words first: the project words take their IDF, and compact after it has changed
        return self.portfolio_words, self.project_words, self.project_text, self.investor_text

    def _apply_feedback(self, event: Event, fb: Feedback) -> bool:
        if fb.action == "viewed":
            return False  # views stay in the log only: nothing ranks or trains on them, nor is their id kept
        key = str(event.event_id)
        if key in self.seen_feedback:
            return False
        self.seen_feedback.add(key)
        pair = (fb.investor_id, fb.project_id)
        agg = self.feedback
        if fb.action == "passed":
            agg.passed[fb.investor_id][fb.project_id] = fb.reason or ""
        elif fb.action == "unpassed":
            agg.passed.get(fb.investor_id, {}).pop(fb.project_id, None)
        elif fb.action == "saved":
            agg.saved.add(pair)
        elif fb.action == "unsaved":
            agg.saved.discard(pair)
        elif fb.action == "meeting_requested":
            if pair in agg.meetings:  # asked again (a double click): one deal against the monthly capacity
                return False
            agg.meetings.add(pair)
            bisect.insort(agg.deal_times[fb.investor_id], event.occurred_at)
        else:
            if pair in agg.invested:  # companies, not reports: an investment told twice is not more activity or
                return False          # less capacity
            agg.invested.add(pair)
            agg.invested_count[fb.investor_id] = agg.invested_count.get(fb.investor_id, 0) + 1
            bisect.insort(agg.deal_times[fb.investor_id], event.occurred_at)
        return True

    def apply_vector(self, side: str, vec: EntityVector) -> bool:
        """Apply a vector of the `projects` or `investors` side; vectors of another encoder are ignored, so
        a change of model never mixes two vector spaces."""
        if vec.model != self.encoder_name:
            return False
        with self.lock:
            index = self.project_index if side == "projects" else self.investor_index
            # before its version is recorded as applied
            check_vector_size(vec, self.vector_dim or (index.dim if index is not None else len(vec.vector)))
            versions = self.project_vectors if side == "projects" else self.investor_vectors
            # as for events; of two vectors of one version (concurrent writes) the later one, of the later text
            if not later_write(vec.entity_version, vec.content_hash, *versions.get(vec.entity_id, (0, ""))):
                return False
            versions[vec.entity_id] = (vec.entity_version, vec.content_hash)
            self._index(side, len(vec.vector)).upsert(vec.entity_id, np.asarray(vec.vector, dtype=np.float32))
            return True

    def _index(self, side: str, dim: int) -> VectorIndex:
        attr = "project_index" if side == "projects" else "investor_index"
        index = getattr(self, attr)
        if index is None:
            index = VectorIndex(dim, exact_limit=self.exact_search_limit)
            setattr(self, attr, index)
        return index

    def mark_offsets(self, next_offsets: dict[tuple[str, int], int]) -> None:
        """(topic, partition) -> the next offset to apply, for a batch's partitions at once: one turn at the lock."""
        with self.lock:
            self.offsets.update(next_offsets)
            self.applied.notify_all()

    def wait_for(self, topic: str, partition: int, offset: int, timeout: float) -> bool:
        """Block until the record at `offset` has been applied (read-your-writes), at most `timeout` s."""
        return self.wait_until(lambda: self.offsets.get((topic, partition), 0) > offset, timeout)

    def wait_until(self, applied: Callable[[], bool], timeout: float) -> bool:
        """Block until `applied()` holds (checked again after every batch the indexer applies), at most
        `timeout` s; whether it holds."""
        with self.applied:
            return self.applied.wait_for(applied, timeout)

    # ---- queries ----------------------------------------------------------------------------------
    def project(self, project_id: str) -> Versioned[Project]:
        """The stored project; `NotFound` when there is none."""
        found = self.projects.get(project_id)
        if found is None:
            raise NotFound("project", project_id)
        return found

    def investor(self, investor_id: str) -> Versioned[Investor]:
        """The stored investor; `NotFound` when there is none."""
        found = self.investors.get(investor_id)
        if found is None:
            raise NotFound("investor", investor_id)
        return found

    def investor_in_market(self, investor_id: str) -> bool:
        """The investor is known and `Investor.in_market` (verified and active); False for an unknown id."""
        found = self.investors.get(investor_id)
        return found is not None and found.value.in_market

    def vector(self, side: str, entity_id: str) -> np.ndarray | None:
        index = self.project_index if side == "projects" else self.investor_index
        return None if index is None else index.get(entity_id)

    def vectors(self, side: str, entity_ids: list[str]) -> np.ndarray | None:
        """[len(entity_ids), dim], zero rows for entities without a vector; None without an encoder."""
        index = self.project_index if side == "projects" else self.investor_index
        return None if index is None else index.get_many(entity_ids)

    def deals_in_last_30_days(self, investor_id: str, now: datetime) -> int:
        times = self.feedback.deal_times.get(investor_id, [])
        return len(times) - bisect.bisect_right(times, now - timedelta(days=30))

    def pending_intros(self) -> dict[str, int]:
        """Investor -> how many intros await its answer (read under `lock`)."""
        return self._pending_intro_counts

    def accepted_intro(self, investor_id: str, project_id: str) -> bool:
        return project_id in self._accepted_intro_counts.get(investor_id, {})

    def accepted_intro_projects(self, investor_id: str) -> list[str]:
        """The projects with which the investor has an accepted intro (read under `lock`)."""
        return list(self._accepted_intro_counts.get(investor_id, {}))

    def projects_of(self, founder_id: str) -> list[Versioned[Project]]:
        """The founder's projects, in no particular order (read under `lock`)."""
        return [self.projects[pid] for pid in self._projects_of_owner.get(founder_id, ())]

    def intros_of(self, side: Literal["investor", "project"], entity_id: str) -> list[Versioned[Intro]]:
        """The intros of an investor (side "investor") or of a project (side "project"), in no particular order
        (read under `lock`)."""
        index = self._intros_of_investor if side == "investor" else self._intros_of_project
        return [self.intros[nid] for nid in index.get(entity_id, ())]

    # ---- replay checks and snapshots --------------------------------------------------------------
    def digest(self) -> str:
        """A hash of the whole applied state (entities, versions, feedback, vectors), not of offsets."""
        with self.lock:
            h = hashlib.sha256()
            for name, store in (("p", self.projects), ("i", self.investors), ("n", self.intros),
                                ("k", self.api_keys), ("r", self.roadshows)):
                for key in sorted(store):
                    v = store[key]
                    h.update(f"{name}|{key}|{v.version}|".encode())
                    h.update(v.value.model_dump_json().encode())  # type: ignore[attr-defined]
            agg = self.feedback
            passes = sorted((iid, pid, reason) for iid, mine in agg.passed.items() for pid, reason in mine.items())
            h.update(json.dumps([passes, sorted(agg.saved), sorted(agg.invested)], default=str).encode())
            for side, index in (("projects", self.project_index), ("investors", self.investor_index)):
                if index is None:
                    continue
                for key in sorted(index.keys()):
                    h.update(f"{side}|{key}|".encode())
                    h.update(np.round(index.get(key), 5).tobytes())  # type: ignore[arg-type]
            self.alerts.digest_into(h)
            return h.hexdigest()

    def save(self, path: Path) -> None:
        """Write the state and the offsets it reflects, atomically (write then rename)."""
        with self.lock:
            state = {
                "format": SNAPSHOT_FORMAT, "encoder_name": self.encoder_name,
                "projects": self.projects, "investors": self.investors, "intros": self.intros,
                "api_keys": self.api_keys, "roadshows": self.roadshows, "feedback": self.feedback,
                "seen_feedback": self.seen_feedback,
                "project_vectors": self.project_vectors, "investor_vectors": self.investor_vectors,
                "project_index": None if self.project_index is None else self.project_index.to_state(),
                "investor_index": None if self.investor_index is None else self.investor_index.to_state(),
                "offsets": self.offsets, "alerts": self.alerts,
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)

    @classmethod
    def load_or_new(cls, path: Path, encoder_name: str, exact_search_limit: int = 50_000) -> ReadModel:
        """The snapshot at `path` if there is a usable one, else an empty model (the log has everything)."""
        if path.exists():
            try:
                view = cls.load(path, encoder_name, exact_search_limit)
                log.info("loaded snapshot %s", path)
                return view
            except Exception as exc:  # noqa: BLE001 - a snapshot is only a cache of the log: any unreadable one
                # (torn, from another version of these classes, another encoder) is replayed instead
                log.warning("ignoring snapshot %s: %s: %s", path, type(exc).__name__, exc)
        return cls(encoder_name, exact_search_limit)

    @classmethod
    def load(cls, path: Path, encoder_name: str, exact_search_limit: int = 50_000) -> ReadModel:
        """Restore a snapshot written by `save`; one that names anything a snapshot never holds is refused."""
        view = cls(encoder_name, exact_search_limit)
        with open(path, "rb") as f:
            state = _SnapshotUnpickler(f).load()
        if state.get("format") != SNAPSHOT_FORMAT or state.get("encoder_name") != encoder_name:
            raise ValueError(f"snapshot {path} is for another format or encoder; replay from the log instead")
        for name in ("projects", "investors", "intros", "api_keys", "roadshows", "feedback", "seen_feedback",
                     "project_vectors", "investor_vectors", "offsets"):
            setattr(view, name, state[name])
        view.alerts = state.get("alerts") or AlertStore()  # snapshots from before deal alerts have none
        for nid, intro in view.intros.items():
            view._track_intro(nid, intro.value, 1)
        for attr in ("project_index", "investor_index"):
            if state[attr] is not None:
                setattr(view, attr, VectorIndex.from_state(state[attr], exact_limit=exact_search_limit))
        # investors first: each compaction of the portfolio index then re-weighs an empty project index
        for iid, i in view.investors.items():
            view._index_investor(iid, i.value)
        for pid, p in view.projects.items():
            view._index_project(pid, p.value)
            _link(view._projects_of_owner, p.value.owner, pid)
        view.compact_text()
        return view


def _link(index: dict[str, set[str]], key: str | None, member: str) -> None:
    """Add `member` to index[key]; a None key (a project without an owner) links nothing."""
    if key is not None:
        index.setdefault(key, set()).add(member)


def _unlink(index: dict[str, set[str]], key: str | None, member: str) -> None:
    """Take `member` out of index[key], keeping no empty sets."""
    if key is None or key not in index:
        return
    index[key].discard(member)
    if not index[key]:
        del index[key]


def _add(counts: dict[K, int], key: K, change: int) -> None:
    """counts[key] += change, without keeping zero counts."""
    total = counts.get(key, 0) + change
    if total:
        counts[key] = total
    else:
        counts.pop(key, None)
