"""The consumer loop every stream stage uses.

Order per batch (as in quix-streams' checkpointing): apply each record, flush whatever the handler produced,
then commit the offsets. A crash anywhere before the commit redelivers the batch, and the projections are
idempotent, so every effect is applied exactly once. A record that can never be applied goes to the
dead-letter topic with its reason and original bytes; the loop moves on.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError

from consumers.producer import EventProducer
from matcher.locks import FairRLock
from models.events import InvalidEvent

log = logging.getLogger(__name__)

# A handler applies one record and says whether it changed anything (False, counted as skipped: already applied,
# older than what is stored, or nothing to apply, such as a `viewed` feedback event, which only the log keeps).
# It raises InvalidEvent for a record that can never be applied; any other exception stops the loop
# without committing, so the record is delivered again after a restart.
Handler = Callable[[ConsumerRecord], bool]


@dataclass
class Counters:
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    invalid: int = 0  # seen by a stage that does not dead-letter
    by_reason: dict[str, int] = field(default_factory=dict)


class DeadLetters:
    """Sends unprocessable records, unchanged, to the dead-letter topic with headers saying why."""

    def __init__(self, producer: EventProducer, topic: str, stage: str) -> None:
        self.producer, self.topic, self.stage = producer, topic, stage

    def send(self, record: ConsumerRecord, reason: str) -> None:
        """A record that can never be applied; its source is `topic:partition:offset`."""
        self.send_raw(record.key, record.value, reason, f"{record.topic}:{record.partition}:{record.offset}")

    def send_raw(self, key: bytes | None, value: bytes | None, reason: str, source: str,
                 headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Bytes that are no consumed record (the webhook worker's undeliverable bodies, source
        `delivery:<id>`); `headers` follow the standard ones."""
        sent = [
            ("reason", reason[:2000].encode()),
            ("stage", self.stage.encode()),
            ("source", source.encode()),
            *headers,
        ]
        # The original value may exceed the normal size limit (that may be why it is here): send it as is
        # when it fits the broker, else keep only the headers and say so.
        if value is not None and len(value) > 1_500_000:
            sent.append(("truncated", str(len(value)).encode()))
            value = None
        self.producer.send_async(self.topic, key, value, sent)


def configure_logging(level: int | str = logging.INFO) -> None:
    """Logging of a worker process (and of the demo and the API): our INFO lines, the Kafka client's problems.
    kafka-python logs every partition reset at INFO, and its selector warns whenever one poll step takes over
    100 ms, which a busy two-core machine does all the time; neither says anything an operator can act on."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)


def freeze_long_lived() -> None:
    """Take what the process holds now out of the garbage collector's view (call it once a replayed read model is
    in memory). At 100k projects that model is ~1M tracked objects, and a full collection walking them took ~0.8 s,
    a pause every request in flight waits out. They live as long as the process, and the entities replaced later
    hold no reference cycles, so reference counting frees them (anything frozen that ends up in a cycle would stay
    until the process ends). One full collection first, so that no garbage is frozen with them."""
    gc.collect()
    gc.freeze()


def commit_to_group(consumer: KafkaConsumer, wait_s: float = 90.0) -> Callable[[dict[TopicPartition, int]], None]:
    """Commits for a consumer that assigned its partitions itself. The broker refuses them while the group still
    has a member: an instance of a version that joined the group and stopped without leaving it, until its
    session expires (45 s by default). So a refused commit is retried for up to `wait_s` instead of stopping the
    worker over it."""
    def commit(positions: dict[TopicPartition, int]) -> None:
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in positions.items()}
        deadline = time.monotonic() + wait_s
        while True:
            try:
                consumer.commit(offsets)
                return
            except CommitFailedError as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("offset commit refused (%s): the group still has a member; retrying", exc)
                time.sleep(1.0)
    return commit


class Turns:
    """Holds `lock` while a batch's records are handled, letting go of it every `turn_s` (`yield_if_due` before each
    record) so that the requests waiting for it get their turn: the lock is first come, first served, so the loop
    then waits behind them, and they behind it. Taken once per record instead, beside 16 threads asking for deal
    feeds the indexer applied a few records a second (`python -m bench.lock_fairness`). No lock: nothing to hold."""

    def __init__(self, lock: FairRLock | None, turn_s: float) -> None:
        self.lock, self.turn_s = lock, turn_s
        self._since = 0.0

    def __enter__(self) -> Turns:
        if self.lock is not None:
            self.lock.acquire()
            self._since = time.monotonic()
        return self

    def yield_if_due(self) -> None:
        if self.lock is not None and time.monotonic() - self._since >= self.turn_s:
            self.lock.release()
            self.lock.acquire()
            self._since = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.lock.release()


class ConsumerLoop:
    def __init__(
        self,
        consumer: KafkaConsumer,
        handler: Handler,
        dead_letters: DeadLetters | None,
        checkpoint: Callable[[dict[TopicPartition, int]], None] | None = None,
        *,
        on_batch: Callable[[], None] | None = None,
        poll_timeout_ms: int = 200,
        max_records: int = 500,
        lock: FairRLock | None = None,
        turn_s: float = 0.01,
    ) -> None:
        """`dead_letters=None` (the per-replica indexer) counts invalid records without re-publishing them, so
        that N replicas and every replay do not dead-letter the same record again; consumer groups
        dead-letter. `checkpoint` receives the next offset to read per partition after the batch's effects are
        durable: by default a commit to the consumer group; the indexer passes its snapshotter. `lock`: held while
        records are handled, in turns of `turn_s` (see `Turns`); the indexer passes the read model's."""
        self.consumer = consumer
        self.handler = handler
        self.dead_letters = dead_letters
        self.checkpoint = checkpoint or commit_to_group(consumer)
        self.on_batch = on_batch
        self.poll_timeout_ms = poll_timeout_ms
        self.max_records = max_records
        self.lock, self.turn_s = lock, turn_s
        self.counters = Counters()
        self.stopping = threading.Event()

    def poll_once(self) -> int:
        """Process one batch; returns the number of records seen."""
        batches: dict[TopicPartition, list[Any]] = self.consumer.poll(
            timeout_ms=self.poll_timeout_ms, max_records=self.max_records)
        positions: dict[TopicPartition, int] = {}
        seen = 0
        if batches:
            with Turns(self.lock, self.turn_s) as turns:
                for tp, records in batches.items():
                    for record in records:
                        turns.yield_if_due()
                        self._process(record)
                        positions[tp] = record.offset + 1
                        seen += 1
        if seen:
            if self.on_batch is not None:
                self.on_batch()
            if self.dead_letters is not None:
                self.dead_letters.producer.flush()  # outputs durable before the offsets move
            self.checkpoint(positions)
        return seen

    def _process(self, record: ConsumerRecord) -> None:
        try:
            changed = self.handler(record)
        except InvalidEvent as exc:
            reason = str(exc)
            log.warning("invalid record %s:%s:%s: %s", record.topic, record.partition, record.offset, reason)
            if self.dead_letters is None:
                self.counters.invalid += 1
                return
            self.dead_letters.send(record, reason)
            self.counters.dead_lettered += 1
            kind = reason.split(":", 1)[0][:60]
            self.counters.by_reason[kind] = self.counters.by_reason.get(kind, 0) + 1
            return
        if changed:
            self.counters.applied += 1
        else:
            self.counters.skipped += 1

    def run(self) -> Counters:
        """Poll until `stop()` (or SIGTERM via `stop_on_signals`)."""
        while not self.stopping.is_set():
            self.poll_once()
        return self.counters

    def stop(self) -> None:
        self.stopping.set()

    def stop_on_signals(self) -> None:
        """Finish the current batch and exit cleanly on SIGTERM/SIGINT (main thread only)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())
