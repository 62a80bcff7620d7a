"""One versioned entity of a read model, and the rule by which an event replaces it: the read model's
entities and the alert store's records alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from models.events import Event, supersedes

T = TypeVar("T")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    id: str
    version: int
    value: T
    updated_at: datetime
    event_id: str = ""  # the event that set this version


def put_if_newer(store: dict[str, Versioned[Any]], key: str, event: Event, value: object) -> bool:
    """Store `value` under `key` as set by `event`, unless the stored version is newer or was set by this very
    event (redelivery, replay); whether it changed."""
    current = store.get(key)
    if current is not None and not supersedes(event, current.version, current.event_id):
        return False
    store[key] = Versioned(key, event.entity_version, value, event.occurred_at, str(event.event_id))
    return True
