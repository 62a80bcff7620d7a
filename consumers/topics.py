"""Topic names and their configuration; created explicitly at start-up (auto-creation is off)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

COMPACTED = {"cleanup.policy": "compact", "retention.ms": "-1", "min.compaction.lag.ms": "0"}
KEEP_ALL = {"cleanup.policy": "delete", "retention.ms": "-1"}


@dataclass(frozen=True)
class Topics:
    """Every topic of one deployment; `prefix` lets several deployments share a cluster."""

    prefix: str = "mm"

    def _name(self, base: str) -> str:
        return f"{self.prefix}.{base}"

    @property
    def projects(self) -> str:
        return self._name("projects")

    @property
    def investors(self) -> str:
        return self._name("investors")

    @property
    def project_vectors(self) -> str:
        return self._name("projects.vectors")

    @property
    def investor_vectors(self) -> str:
        return self._name("investors.vectors")

    @property
    def feedback(self) -> str:
        return self._name("feedback")

    @property
    def intros(self) -> str:
        return self._name("intros")

    @property
    def roadshows(self) -> str:
        return self._name("roadshows")

    @property
    def auth(self) -> str:
        return self._name("auth")

    @property
    def deadletter(self) -> str:
        return self._name("deadletter")

    # ---- deal alerts (consumers/alerts.py, consumers/webhooks.py) ----
    @property
    def searches(self) -> str:
        return self._name("searches")

    @property
    def alert_settings(self) -> str:
        return self._name("alerts.settings")

    @property
    def alerts(self) -> str:
        return self._name("alerts")

    @property
    def alert_deliveries(self) -> str:
        return self._name("alerts.deliveries")

    def config(self) -> dict[str, dict[str, str]]:
        """topic -> configuration. Entity topics are keyed by entity id and compacted: the newest event per
        key carries the whole entity, so compaction never loses state."""
        return {
            self.projects: COMPACTED,
            self.investors: COMPACTED,
            self.project_vectors: COMPACTED,
            self.investor_vectors: COMPACTED,
            self.intros: COMPACTED,
            self.auth: COMPACTED,
            self.roadshows: COMPACTED,
            self.feedback: KEEP_ALL,
            self.deadletter: KEEP_ALL,
            # saved searches (key: search id) and delivery settings (key: the recipient's settings id) are
            # whole-state events; alerts and delivery outcomes (key: recipient) are a history the alerter and
            # the delivery worker rebuild their de-duplication and queues from, so they are kept
            self.searches: COMPACTED,
            self.alert_settings: COMPACTED,
            self.alerts: KEEP_ALL,
            self.alert_deliveries: KEEP_ALL,
        }

    def for_event_type(self, event_type: str) -> str:
        """The topic an event of this type belongs to."""
        for prefix, topic in (
            ("Project", self.projects), ("Investor", self.investors), ("Feedback", self.feedback),
            ("Intro", self.intros), ("ApiKey", self.auth), ("Roadshow", self.roadshows),
            ("Roster", self.roadshows), ("Invitation", self.roadshows), ("Schedule", self.roadshows),
            ("Search", self.searches), ("AlertSettings", self.alert_settings), ("MatchAlerted", self.alerts),
            ("Alert", self.alert_deliveries),
        ):
            if event_type.startswith(prefix):
                return topic
        raise ValueError(f"no topic for event type {event_type!r}")


def ensure_topics(bootstrap: str, topics: Topics, partitions: int = 3, replication: int = 1) -> list[str]:
    """Create the missing topics with their configuration; returns the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="mm-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication, topic_configs=cfg)
            for name, cfg in topics.config().items() if name not in existing
        ]
        created = []
        for topic in wanted:  # one at a time: a concurrent creator makes only its own topic fail
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def partitions_of(consumer: KafkaConsumer, topic: str, timeout: float = 30.0) -> set[int]:
    """The partitions of `topic`, waiting briefly for metadata of a topic created a moment ago."""
    deadline = time.monotonic() + timeout
    found = consumer.partitions_for_topic(topic)
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise RuntimeError(f"topic {topic} does not exist; create the topics first")
    return found


def assign_all(consumer: KafkaConsumer, topics: list[str],
               start_at: Callable[[TopicPartition], int | None] = lambda tp: None) -> list[TopicPartition]:
    """Assign every partition of `topics` to `consumer`, each starting at `start_at(tp)`, or at the beginning
    when that is None. The workers do not join their consumer group either: they start at the offsets committed
    to it (`start_at=consumer.committed`) and only commit to it. With membership, kafka-python 3.0.12
    intermittently left a member without fetched partitions here (cf. kafka-python#3131): an embedder that joined
    its group at start-up applied nothing for ten minutes while spinning a core, and a restart cleared it. So each
    worker is one instance that reads every partition."""
    parts = [TopicPartition(topic, p) for topic in topics for p in sorted(partitions_of(consumer, topic))]
    consumer.assign(parts)
    for tp in parts:
        offset = start_at(tp)
        if offset is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, offset)
    return parts
