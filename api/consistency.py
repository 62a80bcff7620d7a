"""Read-your-writes and lag: offset tokens, waiting for the local read model, and the log end.

A write answers with `offset_token` ("topic:partition:offset"); a read that passes it back (`wait_for` or
`X-Wait-For`) waits, at most `Settings.read_wait_seconds`, until this replica's read model has applied that
record. The log end per partition is refreshed in the background (a broker round trip per request would
double the latency of a read) and raised at once by the replica's own writes; lag = end - applied.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from matcher.errors import InvalidRequest
from matcher.ports import Delivery
from matcher.view import ReadModel

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^([A-Za-z0-9._-]{1,249}):(\d{1,6}):(\d{1,18})$")


@dataclass(frozen=True)
class OffsetToken:
    topic: str
    partition: int
    offset: int


class LagProbe:
    def __init__(self, view: ReadModel, indexer: Any | None, every_s: float = 0.25) -> None:
        """`indexer` is the replica's consumers.indexer.Indexer, or None for a read model fed in-process."""
        self.view, self.indexer, self.every_s = view, indexer, every_s
        self.partitions: set[tuple[str, int]] = (
            set() if indexer is None else {(tp.topic, tp.partition) for tp in indexer.partitions})
        self.topics = {topic for topic, _ in self.partitions}
        self.error: str | None = None
        self._ends: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- log end --------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.indexer is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="lag-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.every_s)

    def refresh(self, timeout_ms: int = 2000) -> bool:
        """Fetch the log end now; False (keeping the last known ends) when the broker does not answer."""
        if self.indexer is None:
            return True
        try:
            ends = self.indexer.end_offsets(timeout_ms=timeout_ms)
        except Exception as exc:  # broker down: lag is then a lower bound, and readiness says so
            self.error = f"{type(exc).__name__}: {exc}"
            return False
        self.error = None
        with self._lock:
            for tp, end in ends.items():
                self._ends[tp] = max(end, self._ends.get(tp, 0))
        return True

    def observe(self, delivery: Delivery) -> None:
        """A write of this replica: the log end is at least one past it."""
        tp = (delivery.topic, delivery.partition)
        with self._lock:
            self._ends[tp] = max(self._ends.get(tp, 0), delivery.offset + 1)

    def lag_by_topic(self) -> dict[str, int]:
        with self._lock:
            ends = dict(self._ends)
        lag: dict[str, int] = dict.fromkeys(sorted(self.topics), 0)
        for (topic, partition), end in ends.items():
            lag[topic] = lag.get(topic, 0) + max(0, end - self.view.offsets.get((topic, partition), 0))
        return lag

    def lag(self) -> int:
        return sum(self.lag_by_topic().values())

    # ---- tokens ---------------------------------------------------------------------------------------
    def parse(self, raw: str, field: str) -> OffsetToken:
        match = _TOKEN.match(raw.strip())
        if match is None:
            raise InvalidRequest(f"{field} must be an offset_token returned by a write (topic:partition:offset); "
                                 f"got {raw[:80]!r}")
        token = OffsetToken(match.group(1), int(match.group(2)), int(match.group(3)))
        if self.partitions and (token.topic, token.partition) not in self.partitions:
            raise InvalidRequest(f"{field} must name a partition this replica reads; got {raw[:80]!r}")
        return token

    def written(self, token: OffsetToken) -> bool:
        """True when the token points below the known log end (a record that exists)."""
        with self._lock:
            return token.offset < self._ends.get((token.topic, token.partition), 0)

    def wait(self, token: OffsetToken, timeout: float) -> bool:
        """Block until the read model has applied the token's record; False when `timeout` passed first."""
        if not self.partitions:
            return True  # an in-process read model has applied everything it was given
        return self.view.wait_for(token.topic, token.partition, token.offset, timeout)
