"""What the domain needs from the outside world, as small interfaces the entrypoints implement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.events import Event


@dataclass(frozen=True)
class Delivery:
    """Where an acknowledged event landed; a reader can wait until its view has applied it."""

    topic: str
    partition: int
    offset: int

    @property
    def token(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


class PublishFailed(RuntimeError):
    """The broker did not acknowledge a write in time: the caller must be told that it may not have happened (a
    request the broker stored before its answer timed out can still land)."""


class Publisher(Protocol):
    def publish(self, topic: str, event: Event) -> Delivery: ...
