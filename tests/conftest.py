"""Session fixtures: one real Kafka broker for the whole test session, started and stopped here."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from consumers.broker import REPO_ROOT, LocalBroker, free_port_pair  # noqa: E402


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker: KAFKA_BOOTSTRAP_SERVERS if set, else a fresh local KRaft broker for this session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    # a broker of this session's own (port and log directory), so concurrent sessions never collide
    broker = LocalBroker(home=REPO_ROOT / ".cache" / f"kafka-test-{os.getpid()}", port=free_port_pair())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop(kill=True)
        shutil.rmtree(broker.home, ignore_errors=True)


@pytest.fixture
def topic_prefix() -> str:
    """A prefix of its own per test, so tests never see each other's events."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def tmp_snapshot(tmp_path: Path) -> Path:
    return tmp_path / "snapshot.pkl"


@pytest.fixture(scope="session")
def real_encoder():
    """The default encoder of the service (see models/settings.py), loaded once per session."""
    from matcher.encoder import load_encoder
    from models.settings import Settings

    return load_encoder(os.environ.get("TEST_ENCODER", Settings().encoder), Settings().encoder_threads)
