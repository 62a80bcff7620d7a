"""A whole deployment per test module: real broker topics, the container, the embedder stream (fake encoder)
and the app served by a real uvicorn server on a free localhost port; clients talk HTTP to it."""

from __future__ import annotations

import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from bootstrap import Container
from models.settings import Settings
from tests.fakes import HashingEncoder
from tests.integration.pipeline import serving


class LiveServer:
    """uvicorn in a thread, on a socket bound here (so the port is known and never raced for)."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=30))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                       name=f"uvicorn-{self.port}")

    def start(self, timeout: float = 15.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@dataclass
class Deployment:
    url: str
    admin_key: str
    settings: Settings
    container: Container
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30.0)
        self.clients.append(client)
        return client

    def issue_key(self, role: str, entity_id: str | None = None, label: str = "") -> tuple[str, str, str]:
        """(secret, key id, offset token) of a new key; the token makes its first use wait for it."""
        r = self.client(self.admin_key).post("/v1/keys", json={"role": role, "entity_id": entity_id, "label": label})
        assert r.status_code == 202, r.text
        body = r.json()
        return body["key"], body["entity_id"], body["offset_token"]

    def as_role(self, role: str, entity_id: str | None = None) -> httpx.Client:
        """A client holding a fresh key; its first request waits until the key is applied."""
        key, _, token = self.issue_key(role, entity_id)
        client = self.client(key)
        r = client.get("/v1/intros", params={"wait_for": token})
        assert r.status_code != 401, r.text  # the wait happens before authorisation
        return client


def start_deployment(bootstrap: str, snapshot_dir: Path, **overrides: Any) -> tuple[Deployment, Callable[[], None]]:
    """Returns the deployment (its `Settings` with `overrides`) and a function that stops every part of it."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=f"e2e{uuid.uuid4().hex[:10]}",
                        admin_api_key=secrets.token_urlsafe(24), snapshot_dir=snapshot_dir, **overrides)
    with ExitStack() as stack:  # a part that fails to start stops the ones started before it
        container = stack.enter_context(serving(settings, HashingEncoder()))
        server = LiveServer(create_app(container)).start()
        stack.callback(server.stop)
        running = stack.pop_all()
    deployment = Deployment(url=server.url, admin_key=settings.admin_api_key or "", settings=settings,
                            container=container)

    def stop() -> None:
        for client in deployment.clients:
            client.close()
        running.close()  # the server, then the embedder, then the container

    return deployment, stop


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    dep, stop = start_deployment(kafka_bootstrap, tmp_path_factory.mktemp("snapshots"))
    try:
        yield dep
    finally:
        stop()
