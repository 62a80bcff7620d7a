"""The service as deployed, for integration tests: broker, embedder stream, indexer, FAISS index."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from bootstrap import Container, build
from consumers.embedder import EmbedderThread
from matcher.encoder import Encoder
from models.settings import Settings


@contextmanager
def serving(settings: Settings, encoder: Encoder) -> Iterator[Container]:
    """A started container with an embedder stream beside it (in a thread); on exit the embedder stops first,
    then the container."""
    with ExitStack() as stack:
        container = build(settings, encoder=encoder)
        container.start()
        stack.callback(container.stop)
        stack.callback(EmbedderThread(settings, encoder).start().stop)
        yield container
