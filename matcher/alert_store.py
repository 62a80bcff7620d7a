"""The deal-alert part of the read model: saved searches, delivery settings, alerts, delivery outcomes.

Kept apart from `ReadModel` (which holds one `AlertStore` as `view.alerts`) because three processes use it:
API replicas (listing), the alerter (saved searches and which alerts were already sent) and the delivery
worker (settings, queues, retries, rate limits). Every projection is idempotent:
- searches and settings are versioned entities (an event at or below the stored version is ignored);
- alerts are immutable and keyed by their deterministic id, so a second copy of one changes nothing;
- a delivery's state only moves forward: queued < retrying (by attempt) < delivered | dead;
- reads are a set.
"""

from __future__ import annotations

import json
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from matcher.versioned import Versioned, put_if_newer
from models.alerts import AlertDelivery, AlertSettings, AlertsRead, MatchAlert, SavedSearch, settings_id
from models.events import Event

MAX_PUSHES_KEPT = 1000  # push times kept per recipient for its rate limit (max_per_hour is at most 1000)
_RANK = {"queued": 0, "retrying": 1, "delivered": 2, "dead": 2}
PAYLOAD_TYPES = (SavedSearch, AlertSettings, MatchAlert, AlertDelivery, AlertsRead)


@dataclass(frozen=True)
class DeliveryState:
    delivery_id: str
    recipient: str
    kind: str
    status: str
    attempt: int
    alert_ids: tuple[str, ...]
    reason: str | None
    next_attempt_at: datetime | None
    http_status: int | None
    error: str | None
    updated_at: datetime

    @property
    def progress(self) -> tuple[int, int]:
        return _RANK[self.status], self.attempt


@dataclass
class AlertStore:
    searches: dict[str, Versioned[SavedSearch]] = field(default_factory=dict)  # search id -> (deleted ones too)
    settings: dict[str, Versioned[AlertSettings]] = field(default_factory=dict)  # settings_id(...) -> settings
    alerts: dict[str, Versioned[MatchAlert]] = field(default_factory=dict)  # alert id -> alert
    by_recipient: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # in log order
    # (recipient, investor id, project id) of every pair already alerted: a later version of the same
    # counterpart is not a new match for that recipient
    alerted_pairs: set[tuple[str, str, str]] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    deliveries: dict[str, DeliveryState] = field(default_factory=dict)  # delivery id -> latest state
    alert_status: dict[str, DeliveryState] = field(default_factory=dict)  # alert id -> latest state covering it
    # recipient -> alert id -> time queued (epoch s), for alerts waiting for a digest or the rate limit
    queued: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    retrying: dict[str, DeliveryState] = field(default_factory=dict)  # delivery id -> state, status retrying
    # recipient -> delivery id -> start time (epoch s) of its first attempt: the rate limit's window
    pushes: dict[str, OrderedDict[str, float]] = field(default_factory=lambda: defaultdict(OrderedDict))

    # ---- events -------------------------------------------------------------------------------------
    def apply(self, event: Event) -> bool:
        p = event.payload
        if isinstance(p, SavedSearch):
            return put_if_newer(self.searches, event.entity_id, event, p)
        if isinstance(p, AlertSettings):
            return put_if_newer(self.settings, event.entity_id, event, p)
        if isinstance(p, MatchAlert):
            return self.add_alert(p, event.occurred_at)
        if isinstance(p, AlertDelivery):
            return self._apply_delivery(p, event.occurred_at)
        if isinstance(p, AlertsRead):
            new = set(p.alert_ids) - self.read
            self.read |= new
            return bool(new)
        raise TypeError(f"no alert projection for {event.type}")

    def add_alert(self, alert: MatchAlert, at: datetime) -> bool:
        if alert.alert_id in self.alerts:
            return False
        self.alerts[alert.alert_id] = Versioned(alert.alert_id, 1, alert, at)
        self.by_recipient[alert.recipient].append(alert.alert_id)
        for m in alert.matches:
            self.alerted_pairs.add((alert.recipient, m.investor_id, m.project_id))
        return True

    def _apply_delivery(self, d: AlertDelivery, at: datetime) -> bool:
        state = DeliveryState(d.delivery_id, d.recipient, d.kind, d.status, d.attempt, tuple(d.alert_ids), d.reason,
                              d.next_attempt_at, d.http_status, d.error, at)
        current = self.deliveries.get(d.delivery_id)
        if current is not None and current.progress >= state.progress:
            return False
        self.deliveries[d.delivery_id] = state
        if d.status == "retrying":
            self.retrying[d.delivery_id] = state
        else:
            self.retrying.pop(d.delivery_id, None)
        if d.attempt == 1:
            pushes = self.pushes[d.recipient]
            pushes.setdefault(d.delivery_id, at.timestamp())
            while len(pushes) > MAX_PUSHES_KEPT:
                pushes.popitem(last=False)
        queue = self.queued[d.recipient]
        for aid in d.alert_ids:
            before = self.alert_status.get(aid)
            if before is not None and before.progress >= state.progress:
                continue
            self.alert_status[aid] = state
            if d.status == "queued":
                queue[aid] = at.timestamp()
            else:
                queue.pop(aid, None)
        return True

    def note_push(self, recipient: str, delivery: str, at: float) -> None:
        """A push started by this process, counted before its event comes back from the log."""
        self.pushes[recipient].setdefault(delivery, at)

    # ---- queries ------------------------------------------------------------------------------------
    def settings_for(self, recipient_role: str, recipient_id: str) -> AlertSettings | None:
        found = self.settings.get(settings_id(recipient_role, recipient_id))
        return None if found is None else found.value

    def active_searches(self) -> list[Versioned[SavedSearch]]:
        return [s for s in self.searches.values() if not s.value.deleted]

    def sent(self, alert: str) -> bool:
        return alert in self.alerts

    def digest_into(self, h: Any) -> None:
        """Feed the applied state into a hashlib object (ReadModel.digest)."""
        for name, store in (("s", self.searches), ("c", self.settings)):
            for key in sorted(store):
                h.update(f"{name}|{key}|{store[key].version}|".encode())
                h.update(store[key].value.model_dump_json().encode())
        for key in sorted(self.alerts):
            h.update(f"a|{key}|".encode())
            h.update(self.alerts[key].value.model_dump_json().encode())
        if self.read:
            h.update(json.dumps(sorted(self.read)).encode())
        for key in sorted(self.deliveries):
            d = self.deliveries[key]
            h.update(f"d|{key}|{d.status}|{d.attempt}|{','.join(d.alert_ids)}".encode())
