"""Producing events: acks=all, idempotent, UTF-8 JSON, keyed by entity id."""

from __future__ import annotations

import threading

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.producer.future import FutureRecordMetadata

from matcher.ports import Delivery, PublishFailed
from models.events import Event


class EventProducer:
    """Publishes events and waits for the broker's acknowledgement, so a returned offset is durable."""

    def __init__(self, bootstrap: str, *, timeout_s: float = 10.0, **overrides: object) -> None:
        config: dict[str, object] = {
            "bootstrap_servers": bootstrap,
            "acks": "all",
            "enable_idempotence": True,
            "retries": 2**31 - 1,
            # bounds how long a write can stay unacknowledged before the caller is told it failed
            "delivery_timeout_ms": int(timeout_s * 1000),
            "request_timeout_ms": int(timeout_s * 1000) - 500,
            "max_block_ms": int(timeout_s * 1000),
            "linger_ms": 2,
            "max_request_size": 2_000_000,
            "client_id": "mm-producer",
            # kafka-python backs off reconnects up to 30 s (the Java client: 1 s), which would keep writes failing
            # that long after the broker is back
            "reconnect_backoff_max_ms": 1000,
        }
        config.update(overrides)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = KafkaProducer(**config)
        self._queued: list[FutureRecordMetadata] = []  # send_async writes the next flush() checks
        # A replacement (see _discard) reuses the broker version found now: without it, the constructor probes
        # the broker and blocks up to 30 s while the broker is down.
        self._config = {**config, "api_version": self._producer.config["api_version"]}

    def _current(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(**self._config)
                except KafkaError as exc:
                    raise PublishFailed(f"cannot connect to Kafka: {exc}") from exc
            return self._producer

    def _discard(self, failed: KafkaProducer) -> None:
        """Replace a producer that failed a write. kafka-python's idempotent producer stays wedged after a
        broker crash with batches in flight (expired batches need a new producer id, which it never gets), so
        every later write would time out until a restart; the next write gets a fresh producer instead."""
        with self._lock:
            if self._producer is not failed:
                return  # another thread already replaced it
            self._producer = None
        # without waiting: the old one's unsent records fail (their callers are told), nothing blocks here
        threading.Thread(target=_close_quietly, args=(failed,), name="producer-discard", daemon=True).start()

    def publish(self, topic: str, event: Event) -> Delivery:
        return self.publish_raw(topic, event.entity_id.encode(), event.to_bytes())

    def publish_raw(self, topic: str, key: bytes | None, value: bytes | None,
                    headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        producer = self._current()
        try:
            meta = producer.send(topic, key=key, value=value, headers=headers or []).get(self._timeout_s)
        except KafkaError as exc:
            self._discard(producer)
            raise PublishFailed(f"Kafka did not acknowledge the write to {topic}: {exc}") from exc
        return Delivery(topic=meta.topic, partition=meta.partition, offset=meta.offset)

    def send_async(self, topic: str, key: bytes | None, value: bytes | None,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue without waiting; the caller must `flush()` before committing what it consumed."""
        future = self._current().send(topic, key=key, value=value, headers=headers or [])
        with self._lock:
            self._queued.append(future)
            # an import queues ~150k writes before its one flush, ~650 B each: keep only the undecided and failed
            if len(self._queued) % 10_000 == 0:
                self._queued = [f for f in self._queued if not f.succeeded()]

    def flush(self) -> None:
        """Return once every write queued so far is acknowledged; PublishFailed if any was not. kafka-python's
        own flush returns once each write has an outcome, a failure included (expired during an outage, refused
        by the broker), so a caller that commits its input offsets after it would lose those writes."""
        with self._lock:
            queued, self._queued = self._queued, []
        producer = self._current()
        try:
            producer.flush(self._timeout_s)
        except KafkaError as exc:
            self._discard(producer)
            raise PublishFailed(f"Kafka did not acknowledge queued writes: {exc}") from exc
        failed = [f for f in queued if not f.succeeded()]  # not done: queued on a producer discarded since
        if failed:
            self._discard(producer)
            raise PublishFailed(f"Kafka did not acknowledge {len(failed)} of {len(queued)} queued writes: "
                                f"{failed[0].exception or 'no outcome'}")

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=self._timeout_s)


def _close_quietly(producer: KafkaProducer) -> None:
    """Close without sending what is pending: those writes fail, and their callers are told. kafka-python's
    close() flushes first and raises, before it stops anything, while writes are pending, which left the
    producer's network thread retrying them until garbage collection; so its sender is stopped first
    (kafka-python has no public call for that; the Java client's close(Duration.ZERO) does it)."""
    producer._sender.force_close()
    try:
        producer.close(timeout=5)
    except KafkaError:
        pass
