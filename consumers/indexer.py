"""The indexer: feeds one API replica's read model from the log.

No consumer group: every replica reads every partition itself, from the offsets stored in its last
snapshot (or from 0). The snapshot and the offsets it reflects are written together, so a restart loads
it and replays only the tail; replays of what is already applied are ignored by the projections.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from consumers.loop import ConsumerLoop
from consumers.topics import Topics, assign_all
from matcher.view import ReadModel
from models.events import decode_event, decode_vector

log = logging.getLogger(__name__)


class Indexer:
    def __init__(self, view: ReadModel, bootstrap: str, topics: Topics, snapshot_path: Path | None = None,
                 snapshot_every_s: float = 30.0, max_records: int = 1000) -> None:
        self.view, self.topics = view, topics
        self.snapshot_path, self.snapshot_every_s = snapshot_path, snapshot_every_s
        self._last_snapshot = time.monotonic()
        self._replaying = False  # inside catch_up
        self._vector_sides = {topics.project_vectors: "projects", topics.investor_vectors: "investors"}
        view.compact_off_lock()  # keyword indexes compact after batches, off the view lock (sync_indexes)
        self.topic_names = [topics.projects, topics.investors, topics.project_vectors, topics.investor_vectors,
                            topics.feedback, topics.intros, topics.auth, topics.roadshows,
                            topics.searches, topics.alert_settings, topics.alerts, topics.alert_deliveries]
        # reconnect_backoff_max_ms: kafka-python backs off up to 30 s by default, so reads would lag that long
        # after a broker restart
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                      client_id="indexer", max_partition_fetch_bytes=4_000_000,
                                      fetch_max_wait_ms=100, reconnect_backoff_max_ms=1000)
        self.partitions = self._assign()
        # KafkaConsumer is not thread-safe: request threads (readiness, lag headers, metrics) ask for end
        # offsets through a consumer of their own, never through the one the indexer thread polls.
        self._ends_consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                            client_id="indexer-ends", reconnect_backoff_max_ms=1000)
        self._ends_lock = threading.Lock()
        self.loop = ConsumerLoop(self.consumer, self.handle, dead_letters=None, checkpoint=self.checkpoint,
                                 on_batch=self.after_batch, poll_timeout_ms=100, max_records=max_records,
                                 lock=view.lock)
        self._thread: threading.Thread | None = None

    def _assign(self) -> list[TopicPartition]:
        return assign_all(self.consumer, self.topic_names,
                          lambda tp: self.view.offsets.get((tp.topic, tp.partition)))  # the snapshot's offsets

    def handle(self, record: ConsumerRecord) -> bool:
        return self.apply(record)[0]

    def apply(self, record: ConsumerRecord) -> tuple[bool, str]:
        """Apply one record to the read model: (whether it changed anything, the entity it is about)."""
        side = self._vector_sides.get(record.topic)
        if side is not None:
            vec = decode_vector(record.value)
            return self.view.apply_vector(side, vec), vec.entity_id
        event = decode_event(record.value)
        return self.view.apply(event), event.entity_id

    def after_batch(self) -> None:
        """The loop's step after each batch; a worker built on the indexer (the alerter) adds its own after this."""
        self.sync_indexes()

    def sync_indexes(self) -> None:
        """Bring the indexes up to date after a batch (new rows into the HNSW graph, the graph built once the index
        outgrows exact search; keyword indexes compacted when due), so that the next request does not pay for it."""
        if self._replaying:
            return  # once at the end of catch_up: one graph build on every core beats growing it per batch
        for index in (self.view.project_index, self.view.investor_index):
            if index is not None:
                index.sync()
        self.view.compact_text_indexes()

    def checkpoint(self, positions: dict[TopicPartition, int]) -> None:
        self.mark_applied(positions)
        if self.snapshot_path is not None and time.monotonic() - self._last_snapshot >= self.snapshot_every_s:
            self.snapshot()

    def mark_applied(self, positions: dict[TopicPartition, int]) -> None:
        """The read model reflects everything before these offsets (read-your-writes waits on them)."""
        self.view.mark_offsets({(tp.topic, tp.partition): offset for tp, offset in positions.items()})

    def snapshot(self) -> None:
        if self.snapshot_path is not None:
            self.view.save(self.snapshot_path)
            self._last_snapshot = time.monotonic()

    def end_offsets(self, timeout_ms: int = 5000) -> dict[tuple[str, int], int]:
        """The log end of every followed partition; safe to call from any thread."""
        with self._ends_lock:
            ends = self._ends_consumer.end_offsets(self.partitions, timeout_ms=timeout_ms)
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}

    def lag(self, timeout_ms: int = 5000) -> dict[str, int]:
        """Records in the log not yet applied, per topic; safe to call from any thread."""
        lag: dict[str, int] = {}
        for (topic, partition), end in self.end_offsets(timeout_ms).items():
            applied = self.view.offsets.get((topic, partition), 0)
            lag[topic] = lag.get(topic, 0) + max(0, end - applied)
        return lag

    @property
    def running(self) -> bool:
        """True while the background thread follows the log."""
        return self._thread is not None and self._thread.is_alive()

    def catch_up(self, timeout: float | None = 60.0) -> None:
        """Apply everything up to the log end as of now (start-up, tests). `timeout` None: however long it takes
        (a replica rebuilding a large log), saying how far it is every 15 s."""
        ends = self.consumer.end_offsets(self.partitions)
        start = told = time.monotonic()
        self._replaying = True
        try:
            while any(self.view.offsets.get((tp.topic, tp.partition), 0) < end for tp, end in ends.items() if end):
                if timeout is not None and time.monotonic() - start > timeout:
                    raise TimeoutError(f"indexer did not catch up in {timeout}s: lag {self.lag()}")
                if time.monotonic() - told > 15:
                    told = time.monotonic()
                    log.info("catching up for %.0fs: %d records to go", told - start, sum(self.lag().values()))
                self.loop.poll_once()
        finally:
            self._replaying = False
        self.sync_indexes()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.loop.run()
        except Exception:  # a transient failure must not kill the replica silently
            log.exception("indexer stopped")
            raise

    def stop(self, snapshot: bool = True) -> None:
        """Stop following the log (after the current batch), then `close`."""
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.close(snapshot)

    def close(self, snapshot: bool = True) -> None:
        """Close the Kafka clients; `snapshot=False` leaves the last periodic snapshot, as a crash would."""
        if snapshot:
            self.snapshot()
        self.consumer.close(autocommit=False)
        self._ends_consumer.close(autocommit=False)
