"""Importers: external investment history into the log, as ordinary domain events.

    python -m consumers.importers crunchbase PATH [--until DATE] [--open-since DATE] [--bootstrap HOST:PORT]
                                             [--prefix mm] [--limit-pairs N]

Imported companies are marked funded (they got their rounds), so they stay out of deal feeds; --open-since
keeps the companies first funded on or after that day open, as projects still seeking financing.

The conversion is pure and lives in `matcher.crunchbase` (the evaluation builds the same events in-process);
this module only publishes them. A second run publishes nothing new:
- ids and event ids are derived from names and dates, so a re-run builds byte-identical events;
- before producing, the importer reads what the log already has (the entity versions on the compacted
  `projects` and `investors` topics, the event ids on the `feedback` topic) and skips those events;
- if two imports race past that check, the read model still applies each event once (entity versions,
  feedback event ids), so the only cost is duplicate records in the feedback topic.
Events are queued asynchronously and flushed before the command returns; a failed flush raises, and running
the import again fills the gap.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from tqdm import tqdm

from consumers.producer import EventProducer
from consumers.topics import Topics, assign_all, ensure_topics
from matcher.crunchbase import crunchbase_events, load_crunchbase
from models.events import Event
from models.settings import get_settings

__all__ = ["ImportResult", "import_events", "logged_state", "main"]


FLUSH_EVERY = 5_000  # writes queued before the importer waits for the broker to acknowledge them


@dataclass
class ImportResult:
    produced: dict[str, int] = field(default_factory=dict)  # event type -> events published
    skipped: int = 0  # already in the log
    seconds: float = 0.0


def _scan(bootstrap: str, topic: str, visit: Callable[[ConsumerRecord], None], timeout_s: float = 60.0) -> None:
    """Call `visit` on every record of `topic` up to its current end. The topic must exist (`assign_all` waits
    briefly for one created a moment ago, then raises)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             client_id=f"importer-scan-{uuid.uuid4().hex[:6]}", max_partition_fetch_bytes=4_000_000)
    try:
        parts = assign_all(consumer, [topic])  # from the beginning
        ends = {tp: end for tp, end in consumer.end_offsets(parts).items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end within {timeout_s}s")
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    if record.offset < ends.get(TopicPartition(record.topic, record.partition), 0):
                        visit(record)
    finally:
        consumer.close(autocommit=False)


def logged_state(bootstrap: str, topics: Topics) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """What the log already holds: (project id -> newest version, investor id -> newest version, feedback
    event ids). Values are parsed as plain JSON: a record that is not an event is simply not counted."""
    versions: dict[str, dict[str, int]] = {topics.projects: {}, topics.investors: {}}
    feedback_ids: set[str] = set()

    def entity(store: dict[str, int]) -> Callable[[ConsumerRecord], None]:
        def visit(record: ConsumerRecord) -> None:
            try:
                data = json.loads(record.value)
                eid, version = str(data["entity_id"]), int(data["entity_version"])
            except (TypeError, ValueError, KeyError):
                return
            store[eid] = max(store.get(eid, 0), version)
        return visit

    def feedback(record: ConsumerRecord) -> None:
        try:
            feedback_ids.add(str(json.loads(record.value)["event_id"]))
        except (TypeError, ValueError, KeyError):
            pass

    for topic, store in versions.items():
        _scan(bootstrap, topic, entity(store))
    _scan(bootstrap, topics.feedback, feedback)
    return versions[topics.projects], versions[topics.investors], feedback_ids


def import_events(events: Iterable[Event], bootstrap: str, topics: Topics, total: int | None = None,
                  progress: bool = True) -> ImportResult:
    """Publish the events the log does not have yet; returns what was produced and skipped."""
    start = time.monotonic()
    projects, investors, feedback_ids = logged_state(bootstrap, topics)
    known = {topics.projects: projects, topics.investors: investors}
    result = ImportResult()
    producer = EventProducer(bootstrap, timeout_s=30.0, linger_ms=20)
    try:
        for event in tqdm(events, total=total, desc="importing", unit="event", file=sys.stderr,
                          disable=not progress, mininterval=1.0):
            topic = topics.for_event_type(event.type)
            if topic in known:
                if known[topic].get(event.entity_id, 0) >= event.entity_version:
                    result.skipped += 1
                    continue
            elif str(event.event_id) in feedback_ids:
                result.skipped += 1
                continue
            producer.send_async(topic, event.entity_id.encode(), event.to_bytes())
            result.produced[event.type] = result.produced.get(event.type, 0) + 1
            if sum(result.produced.values()) % FLUSH_EVERY == 0:
                # Bounded in flight: queued all at once, the full history's 156k writes outlived their 30 s
                # delivery timeout on a broker that syncs every message (22k of them expired here).
                producer.flush()
        producer.flush()
    finally:
        producer.close()
    result.seconds = time.monotonic() - start
    return result


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a day as YYYY-MM-DD; got {value!r}") from None


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m consumers.importers", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="source", required=True)
    cb = sub.add_parser("crunchbase", help="the Crunchbase 2013 investment pairs and company exports")
    cb.add_argument("path", type=Path, help="folder with investments_2013snapshot_pairs.csv.gz and the rest")
    cb.add_argument("--until", type=_day, help="import only investments before this day (YYYY-MM-DD)")
    cb.add_argument("--open-since", type=_day, help="keep companies first funded on or after this day "
                                                    "(YYYY-MM-DD) open in deal feeds; the others are marked funded")
    cb.add_argument("--bootstrap", default=settings.kafka_bootstrap_servers)
    cb.add_argument("--prefix", default=settings.topic_prefix, help="topic prefix of the deployment")
    cb.add_argument("--limit-pairs", type=int, default=None, help="only the first N investments (date order)")
    args = parser.parse_args(argv)

    try:
        data = load_crunchbase(args.path)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    if args.limit_pairs is not None:
        if args.limit_pairs < 1:
            parser.error(f"--limit-pairs must be >= 1; got {args.limit_pairs}")
        data = data.slice(args.limit_pairs)
    topics = Topics(args.prefix)
    ensure_topics(args.bootstrap, topics, settings.topic_partitions, settings.topic_replication)
    events = list(crunchbase_events(data, until=args.until, open_since=args.open_since))
    print(f"{len(events)} events converted; reading what {args.prefix}.* already holds", file=sys.stderr)
    result = import_events(events, args.bootstrap, topics, total=len(events))
    print(json.dumps({"produced": result.produced, "skipped": result.skipped, "seconds": round(result.seconds, 1)}))
    if result.skipped:
        print(f"{result.skipped} events were in {args.prefix}.* already and were skipped: importing again with other "
              "--until/--open-since changes nothing that is there; import into a new TOPIC_PREFIX (--prefix) for "
              "that", file=sys.stderr)


if __name__ == "__main__":
    main()
