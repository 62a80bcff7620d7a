"""Producing events: acks=all, idempotent, UTF-8 JSON, keyed by entity id."""

from __future__ import annotations

from kafka import KafkaProducer
from kafka.errors import KafkaError

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
        }
        config.update(overrides)
        self._timeout_s = timeout_s
        self._producer = KafkaProducer(**config)

    def publish(self, topic: str, event: Event) -> Delivery:
        return self.publish_raw(topic, event.entity_id.encode(), event.to_bytes())

    def publish_raw(self, topic: str, key: bytes | None, value: bytes | None,
                    headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        try:
            meta = self._producer.send(topic, key=key, value=value, headers=headers or []).get(self._timeout_s)
        except KafkaError as exc:
            raise PublishFailed(f"Kafka did not acknowledge the write to {topic}: {exc}") from exc
        return Delivery(topic=meta.topic, partition=meta.partition, offset=meta.offset)

    def send_async(self, topic: str, key: bytes | None, value: bytes,
                   headers: list[tuple[str, bytes]] | None = None) -> None:
        """Queue without waiting; the caller must `flush()` before committing what it consumed."""
        self._producer.send(topic, key=key, value=value, headers=headers or [])

    def flush(self) -> None:
        try:
            self._producer.flush(self._timeout_s)
        except KafkaError as exc:
            raise PublishFailed(f"Kafka did not acknowledge queued writes: {exc}") from exc

    def close(self) -> None:
        self._producer.close(timeout=self._timeout_s)
