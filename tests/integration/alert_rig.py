"""Deal-alert test rig: a deployment (container and API), the alerting stream, the webhook worker, and a
real HTTP receiver (http.server in a thread on 127.0.0.1) that checks every signature."""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bootstrap import Container, build
from consumers import alerts as alerting
from consumers import webhooks
from consumers.embedder import EmbedderThread
from matcher.commands import Principal
from matcher.delivery import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from models.settings import Settings
from tests.factories import investor, project
from tests.fakes import HashingEncoder
from tests.integration.kafka_helpers import wait_until

REGISTRAR = Principal("k-reg", "registrar", None)
SERVER_SECRET = "test-signing-secret-" + secrets.token_hex(8)


@dataclass
class Received:
    path: str
    status: int
    valid: bool
    delivery: str
    body: dict[str, Any]
    at: float
    host: str  # the Host header

    @property
    def alert_ids(self) -> list[str]:
        return [a["alert_id"] for a in self.body.get("alerts", [])]


@dataclass
class Answer:
    """How a path answers after its status line: `header_lines` extra header lines, then a body of `body` bytes
    written `chunk` bytes at a time, waiting `pause` seconds before each line and each write."""
    body: int = 0
    chunk: int = 1
    header_lines: int = 0
    pause: float = 0.0


class Receiver:
    """Answers each path with its script of statuses (the last one repeats) and its `Answer` (an empty body at
    once by default); a request whose signature does not verify with the path's secret gets 401 and is recorded as
    invalid. `body_sent` counts the body bytes per path that went out before the client hung up."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[int]] = {}
        self.secrets: dict[str, str] = {}
        self.answers: dict[str, Answer] = {}
        self.body_sent: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                secret = receiver.secrets.get(self.path, "")
                valid = bool(secret) and verify(secret, self.headers.get(TIMESTAMP_HEADER),
                                                self.headers.get(SIGNATURE_HEADER), raw, now=time.time())
                with receiver._lock:
                    seen = sum(1 for r in receiver.requests if r.path == self.path)
                    script = receiver.scripts.get(self.path, [200])
                    status = script[min(seen, len(script) - 1)] if valid else 401
                    receiver.requests.append(Received(self.path, status, valid, self.headers.get(DELIVERY_HEADER, ""),
                                                      json.loads(raw), time.monotonic(),
                                                      self.headers.get("Host", "")))
                answer = receiver.answers.get(self.path, Answer())
                data = b"x" * answer.chunk
                try:
                    self.send_response(status)
                    self.flush_headers()
                    for _ in range(answer.header_lines):
                        time.sleep(answer.pause)
                        self.wfile.write(b"X-Slow: 1\r\n")
                    self.send_header("Content-Length", str(answer.body))
                    self.end_headers()
                    for start in range(0, answer.body, answer.chunk):
                        time.sleep(answer.pause)
                        part = data[:answer.body - start]
                        self.wfile.write(part)
                        receiver.body_sent[self.path] = receiver.body_sent.get(self.path, 0) + len(part)
                except OSError:  # the client hung up: what a webhook sender does with a huge or slow answer
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Rig:
    settings: Settings
    container: Container
    alerter: alerting.Alerter | None = None
    worker: webhooks.WebhookWorker | None = None
    embedder: EmbedderThread | None = None

    @property
    def view(self):
        return self.container.view

    def start_alerter(self) -> alerting.Alerter:
        self.alerter = alerting.build(self.settings, vectors_of=HashingEncoder())
        self.alerter.catch_up(timeout=60)
        self.alerter.start()
        return self.alerter

    def stop_alerter(self, snapshot: bool = True) -> None:
        if self.alerter is not None:
            self.alerter.stop(snapshot)
            self.alerter = None

    def start_worker(self) -> webhooks.WebhookWorker:
        self.worker = webhooks.build(self.settings)
        self.worker.start()
        return self.worker

    def start_embedder(self) -> None:
        self.embedder = EmbedderThread(self.settings, HashingEncoder()).start()

    def register(self, iid: str, verify: bool = True, **fields: Any) -> None:
        who = Principal(f"k-{iid}", "investor", iid)
        self.container.commands.register_investor(who, investor(**fields).model_dump())
        wait_until(lambda: iid in self.view.investors, what=f"{iid} applied")
        if verify:
            self.container.commands.review_investor(REGISTRAR, iid, True, None)
            wait_until(lambda: self.view.investors[iid].value.verification == "verified", what=f"{iid} verified")

    def submit(self, founder: str = "f-1", **fields: Any):
        who = Principal(f"k-{founder}", "founder", founder)
        return self.container.commands.submit_project(who, project(**fields).model_dump(exclude={"owner", "status"}))

    def alerts_for(self, role: str, rid: str) -> list:
        store = self.view.alerts
        with self.view.lock:
            return [store.alerts[a].value for a in store.by_recipient.get(f"{role}:{rid}", [])]

    def stop(self) -> None:
        self.stop_alerter()
        if self.worker is not None:
            self.worker.stop()
            self.worker.close()
        if self.embedder is not None:
            self.embedder.stop()
        self.container.stop()


def start_rig(bootstrap: str, snapshot_dir: Path, **overrides: Any) -> Rig:
    options: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap, "topic_prefix": f"al{uuid.uuid4().hex[:10]}",
        "snapshot_dir": snapshot_dir, "admin_api_key": secrets.token_urlsafe(24),
        "alerts_signing_secret": SERVER_SECRET, "webhook_retry_base_s": 0.05, "webhook_max_attempts": 3,
        # no vectors and a corpus of a few texts: the fitting pair scores ~0.29 here, unrelated ones < 0.05
        "webhook_timeout_s": 3.0, "alert_default_min_score": 0.25,
        "webhook_allow_private_networks": True,  # the receiver listens on 127.0.0.1
        **overrides,
    }
    settings = Settings(**options)
    container = build(settings, encoder=HashingEncoder())
    container.start()
    return Rig(settings, container)
