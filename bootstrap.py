"""The composition root: builds the running service from settings. Both entrypoints (the API process and
the consumer processes) and the tests call it; tests pass their own adapters."""

from __future__ import annotations

from dataclasses import dataclass

from consumers.indexer import Indexer
from consumers.producer import EventProducer
from consumers.topics import Topics, ensure_topics
from matcher.alerts import AlertCommands
from matcher.commands import CommandService
from matcher.encoder import Encoder, load_encoder
from matcher.ranking import DefaultRanker, Ranker
from matcher.roadshows import RoadshowService
from matcher.service import MatchService
from matcher.view import ReadModel
from models.settings import Settings


@dataclass
class Container:
    settings: Settings
    topics: Topics
    view: ReadModel
    matches: MatchService
    commands: CommandService
    indexer: Indexer
    producer: EventProducer
    encoder: Encoder
    roadshows: RoadshowService
    alerts: AlertCommands | None = None  # deal alerts: saved searches, delivery settings, inbox (api/routes/alerts.py)

    def start(self, catch_up_timeout: float | None = None) -> None:
        """Replay the log into the read model, then keep following it in the background. No time limit by default:
        a replica rebuilding a large log must not give up half way (it stays not ready, and refuses writes with a
        503, until it has caught up)."""
        self.commands.writable = False  # until the read model holds the log's versions (CommandService.writable)
        self.indexer.catch_up(timeout=catch_up_timeout)
        self.indexer.start()
        self.commands.writable = True

    def stop(self) -> None:
        self.indexer.stop()
        self.producer.close()


def load_ranker(settings: Settings) -> Ranker:
    path = settings.ranker_model_path
    if path is None:
        return DefaultRanker()
    from matcher.learned import LearnedRanker

    try:  # a configured model that cannot be used stops the start: serving default weights instead would hide it
        return LearnedRanker.load(path)
    except Exception as exc:
        raise ValueError(f"RANKER_MODEL_PATH={path} is not a usable ranker model "
                         f"(python -m matcher.learned train writes one): {type(exc).__name__}: {exc}") from None


def build(settings: Settings, encoder: Encoder | None = None, snapshot_name: str = "read-model.pkl") -> Container:
    topics = Topics(settings.topic_prefix)
    ensure_topics(settings.kafka_bootstrap_servers, topics, settings.topic_partitions, settings.topic_replication)
    encoder = encoder or load_encoder(settings.encoder, settings.encoder_threads)
    snapshot = settings.snapshot_dir / f"{settings.topic_prefix}-{snapshot_name}"
    view = ReadModel.load_or_new(snapshot, encoder.name, settings.exact_search_limit)
    view.vector_dim = encoder.dim  # a vector of another size on the topic is refused, not indexed
    producer = EventProducer(settings.kafka_bootstrap_servers)
    matches = MatchService(view, encoder, load_ranker(settings))
    commands = CommandService(view, producer, topics.for_event_type)
    commands.writable = False  # until `start` has caught up with the log
    return Container(
        settings=settings, topics=topics, view=view, matches=matches, commands=commands,
        indexer=Indexer(view, settings.kafka_bootstrap_servers, topics, snapshot),
        producer=producer, encoder=encoder, roadshows=RoadshowService(commands, matches),
        alerts=AlertCommands.from_settings(view, commands, settings),
    )
