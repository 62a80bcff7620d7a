"""Small helpers for tests against the real broker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


def read_all(bootstrap: str, topic: str, timeout: float = 15.0, expect: int | None = None) -> list:
    """Every record of `topic` from offset 0 (waits until `expect` records or the log end)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"reader-{uuid.uuid4().hex[:6]}",
        max_partition_fetch_bytes=4_000_000,
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        records: list = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            done = all(consumer.position(tp) >= end for tp, end in ends.items())
            if (expect is not None and len(records) >= expect) or (expect is None and done):
                break
            if expect is not None and done:
                ends = consumer.end_offsets(parts)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
