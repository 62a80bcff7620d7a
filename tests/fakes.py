"""Fakes for unit tests and for Kafka tests whose subject is not the model."""

from __future__ import annotations

import hashlib

import numpy as np


class HashingEncoder:
    """Deterministic bag-of-character-bigrams vectors: similar texts get similar vectors, no model needed."""

    name = "fake:hashing-bigrams"
    dim = 64

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:], strict=False):
                out[row, int(hashlib.md5((a + b).encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def encode_documents(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


class ApplyingPublisher:
    """A publisher that applies each event to a read model at once, as the indexer would after the broker."""

    def __init__(self, view) -> None:
        self.view = view
        self.events: list = []

    def publish(self, topic: str, event):
        from matcher.ports import Delivery

        self.events.append(event)
        self.view.apply(event)
        return Delivery(topic=topic, partition=0, offset=len(self.events) - 1)
