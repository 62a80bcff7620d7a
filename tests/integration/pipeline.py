"""The service as deployed, for integration tests: broker, embedder stream, indexer, FAISS index."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from bootstrap import Container, build
from consumers.embedder import build_loop
from matcher.encoder import Encoder
from models.settings import Settings


@contextmanager
def serving(settings: Settings, encoder: Encoder) -> Iterator[Container]:
    """A started container with an embedder stream beside it (in a thread), both stopped on exit."""
    container = build(settings, encoder=encoder)
    container.start()
    loop, embedder = build_loop(settings, encoder)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield container
    finally:
        loop.stop()
        thread.join(10)
        loop.consumer.close(autocommit=False)
        embedder.producer.close()
        container.stop()
