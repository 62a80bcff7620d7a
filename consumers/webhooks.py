"""Webhook delivery of deal alerts: signed POSTs, retries with backoff, digests, per-recipient rate limits.

    python -m consumers.webhooks

One worker reads every partition of the alerts topic and stores its offsets in the group `<prefix>.webhooks`
(commits only: it assigns the partitions itself, as every worker here does; see `topics.assign_all`). Every
decision is an event on the deliveries topic (`AlertQueued`, `AlertDelivered`, `AlertDeliveryFailed` with status
retrying or dead), and that topic is the worker's state: at start-up it is replayed (with the settings and alerts
topics) into an `AlertStore`, which rebuilds the digest queues, the pending retries and the push times the rate
limit counts. Offsets of the alerts topic are committed only after each alert's outcome (pushed, failed and
scheduled for retry, or queued) is recorded and flushed. Alerts and delivery records are keyed by recipient, so the
work could later be split by partition between workers.

Per alert of a recipient with a webhook (mode not off):
- instant: pushed at once while the rate limit (`max_per_hour` pushes per `Settings.alert_rate_window_s`)
  allows; beyond it the alert is queued (`rate_limited`) and all queued alerts go out together as one digest
  push as soon as the limit allows again. Nothing is dropped.
- daily / weekly: queued (`digest`); one digest push per recipient at each period boundary.
- a push has `webhook_timeout_s` in all (not per read: a receiver cannot hold it by answering slowly), and only
  the status of the answer matters (at most 64 KiB of its body is read).
- a failed push (connection error, timeout, non-2xx) is retried after base, 2 base, 4 base... seconds; after
  `webhook_max_attempts` it is dead: an `AlertDeliveryFailed` with status dead, and a record on the
  dead-letter topic with the body that could not be delivered.
- a push connects to the address its host resolves to, once checked: a loopback, private, link-local or otherwise
  non-public address makes the delivery dead at once (unless `webhook_allow_private_networks`), so no user can
  point the server at its own network.
Only alerts created after the recipient's current settings were saved are pushed (a new webhook does not
receive the backlog, which stays in the API's inbox).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from kafka import KafkaConsumer
from kafka.consumer.fetcher import ConsumerRecord

from consumers.loop import ConsumerLoop, DeadLetters, configure_logging
from consumers.producer import EventProducer
from consumers.topics import Topics, assign_all, ensure_topics
from matcher.alert_store import AlertStore
from matcher.delivery import (
    RateLimit,
    backoff_s,
    delivery_id,
    digest_batches,
    non_public_reason,
    signed_headers,
    signing_secrets,
    webhook_body,
)
from models.alerts import MAX_ALERTS_PER_DELIVERY, AlertDelivery, AlertSettings, MatchAlert, settings_id
from models.events import Event, InvalidEvent, decode_event
from models.settings import Settings, get_settings

log = logging.getLogger(__name__)


def group_id(topics: Topics) -> str:
    return f"{topics.prefix}.webhooks"


class BlockedDestination(Exception):
    """The webhook URL's host resolves to an address webhooks may not go to; retrying would not help."""


def pinned_destination(url: str, allow_private: bool) -> tuple[list[httpx.URL], dict[str, str], dict[str, str]]:
    """The URL with its host replaced by each address the host resolves to now (to be tried in order, as a socket
    connect would), once every one is checked, plus the Host header and the TLS server name of the host as written.
    Connecting to checked addresses, rather than letting the HTTP client resolve the name again, leaves no time for
    the name to be re-pointed at an internal address in between (DNS rebinding)."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not allow_private:
        for address in addresses:
            reason = non_public_reason(address)
            if reason is not None:
                raise BlockedDestination(
                    # not the address itself: the recipient reads this error, and it would answer DNS lookups of
                    # the server's own network for anyone who saves a name
                    f"webhook_url host {host} resolves to an address that is not public ({reason}); webhooks go to "
                    "public addresses only (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows private ones)")
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return [parsed.copy_with(host=a) for a in addresses], {"Host": parsed.netloc.decode("ascii")}, extensions


# Only the status of an answer matters: at most this much of its body is read, the rest never is (a receiver could
# send gigabytes).
MAX_RESPONSE_BYTES = 64 * 1024


class DeadlineExceeded(httpx.TimeoutException):
    """A push took longer than its deadline in all; retried later, like any timeout."""


def post_within(http: httpx.Client, url: httpx.URL, content: bytes, headers: dict[str, str],
                extensions: dict[str, Any], deadline: float) -> int:
    """POST and return the status, reading at most MAX_RESPONSE_BYTES of the body, all before `deadline`
    (time.monotonic()). httpx's timeouts bound each connect, read and write, not the whole exchange: a receiver
    sending a byte at a time just inside them, in its headers or its body, would hold the thread indefinitely. So a
    timer shuts the connection's socket down at the deadline (it is found through httpcore's trace hook; the
    worker's own client keeps no connections alive, so every push opens one)."""
    sockets: list[socket.socket] = []

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            sockets.append(info["return_value"].get_extra_info("socket"))

    def cut() -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.start()
    try:
        with http.stream("POST", url, content=content, headers=headers,
                         extensions={**extensions, "trace": trace}) as response:
            read = 0
            for chunk in response.iter_raw():  # raw: a compressed body is not inflated either
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    break
    except httpx.TransportError as exc:
        if time.monotonic() > deadline:  # whatever the cut socket raised, the cause is the deadline
            raise DeadlineExceeded(str(exc)) from exc
        raise
    finally:
        timer.cancel()
    if time.monotonic() > deadline:  # late, or cut off cleanly (a body that ends where the connection does)
        raise DeadlineExceeded("the answer was not complete before the deadline")
    return response.status_code


@dataclass(frozen=True)
class Push:
    delivery_id: str
    recipient: str
    kind: str  # instant | digest
    alert_ids: tuple[str, ...]
    attempt: int


class WebhookWorker:
    def __init__(self, settings: Settings, producer: EventProducer, http: httpx.Client | None = None,
                 client_id: str = "webhooks", max_parallel: int = 8) -> None:
        if settings.alerts_signing_secret is None:
            raise ValueError("ALERTS_SIGNING_SECRET must be set: every webhook is signed with a secret derived "
                             "from it")
        self.settings, self.producer = settings, producer
        self.topics = Topics(settings.topic_prefix)
        self.secret = settings.alerts_signing_secret
        # no keep-alive: post_within can cut only connections it saw opened
        self.http = http or httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False,
                                         limits=httpx.Limits(max_keepalive_connections=0))
        self.store = AlertStore()
        bootstrap = settings.kafka_bootstrap_servers
        # the state: settings, alerts and delivery records of every recipient (read whole, no group)
        self.state = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                   client_id=f"{client_id}-state", reconnect_backoff_max_ms=1000,
                                   fetch_max_wait_ms=100)
        self.state_partitions = assign_all(self.state, [self.topics.alert_settings, self.topics.alerts,
                                                        self.topics.alert_deliveries])
        self.state_invalid = 0
        # the work: every alert, from the offsets committed to the group (a new group starts at the beginning)
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id(self.topics),
                                      client_id=client_id, enable_auto_commit=False,
                                      reconnect_backoff_max_ms=1000, fetch_max_wait_ms=100)
        assign_all(self.consumer, [self.topics.alerts], self.consumer.committed)
        # invalid alerts (from the loop) and pushes that stayed failed (from _execute)
        self.dead_letters = DeadLetters(producer, self.topics.deadletter, "webhooks")
        self.loop = ConsumerLoop(self.consumer, self.handle, self.dead_letters,
                                 on_batch=self.push_batch, poll_timeout_ms=100, max_records=500)
        self.pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="webhook")
        self._now_pushes: list[Push] = []
        self.pushes_attempted = 0
        self._thread: threading.Thread | None = None

    # ---- state --------------------------------------------------------------------------------------
    def _apply_state(self, record: ConsumerRecord) -> None:
        try:
            self.store.apply(decode_event(record.value))
        except (InvalidEvent, TypeError) as exc:  # the embedder's group dead-letters them (once per deployment)
            self.state_invalid += 1
            log.warning("invalid state record %s:%s:%s: %s", record.topic, record.partition, record.offset, exc)

    def poll_state(self, timeout_ms: int = 0) -> int:
        seen = 0
        for records in self.state.poll(timeout_ms=timeout_ms, max_records=5000).values():
            for record in records:
                self._apply_state(record)
                seen += 1
        return seen

    def catch_up_state(self, timeout: float = 60.0) -> None:
        """Apply every state record up to the log end as of now (start-up and every new assignment)."""
        ends = self.state.end_offsets(self.state_partitions)
        deadline = time.monotonic() + timeout
        while any(self.state.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook worker state did not catch up in {timeout}s")
            self.poll_state(timeout_ms=100)

    def _settings(self, recipient_role: str, recipient_id: str) -> AlertSettings | None:
        found = self.store.settings_for(recipient_role, recipient_id)
        if found is None or found.mode == "off" or not found.webhook_url:
            return None
        return found

    def _limit(self, s: AlertSettings) -> RateLimit:
        return RateLimit(s.max_per_hour, self.settings.alert_rate_window_s)

    # ---- new alerts ---------------------------------------------------------------------------------
    def handle(self, record: ConsumerRecord) -> bool:
        event = decode_event(record.value)
        alert = event.payload
        if not isinstance(alert, MatchAlert):
            raise InvalidEvent(f"type must be MatchAlerted on the alerts topic; got {event.type!r}")
        self.store.add_alert(alert, event.occurred_at)
        aid, recipient = alert.alert_id, alert.recipient
        if aid in self.store.alert_status or any(aid in p.alert_ids for p in self._now_pushes):
            return False  # handled before (a redelivery, or a second copy of the alert)
        s = self._settings(alert.recipient_role, alert.recipient_id)
        saved = self.store.settings.get(settings_id(alert.recipient_role, alert.recipient_id))
        if s is None or saved is None or event.occurred_at < saved.updated_at:
            return False  # in the inbox only
        now = time.time()
        if s.mode == "instant":
            pushes = self.store.pushes[recipient].values()
            if not self.store.queued.get(recipient) and self._limit(s).allows(pushes, now):
                did = delivery_id("instant", [aid])
                self.store.note_push(recipient, did, now)
                self._now_pushes.append(Push(did, recipient, "instant", (aid,), 1))
                return True
            reason = "rate_limited"
        else:
            reason = "digest"
        self._record("AlertQueued", AlertDelivery(
            delivery_id=delivery_id("queued", [aid]), recipient_role=alert.recipient_role,
            recipient_id=alert.recipient_id, alert_ids=[aid], kind="digest", status="queued", reason=reason))
        return True

    def push_batch(self) -> None:
        """The instant pushes this batch decided, in parallel; their outcomes are recorded before the loop
        flushes and commits."""
        pushes, self._now_pushes = self._now_pushes, []
        self._execute(pushes)

    # ---- due work: retries and digests ---------------------------------------------------------------
    def due(self, now: float) -> list[Push]:
        pushes = []
        for state in list(self.store.retrying.values()):
            role, _, rid = state.recipient.partition(":")
            if (state.next_attempt_at is not None and state.next_attempt_at.timestamp() <= now
                    and self._settings(role, rid) is not None):
                pushes.append(Push(state.delivery_id, state.recipient, state.kind, state.alert_ids, state.attempt + 1))
        for recipient, queued in list(self.store.queued.items()):
            if not queued:
                continue
            role, _, rid = recipient.partition(":")
            s = self._settings(role, rid)
            if s is None:
                continue  # off or no webhook: the queue waits
            period = {"instant": None, "daily": self.settings.digest_daily_s,
                      "weekly": self.settings.digest_weekly_s}[s.mode]
            batches = digest_batches(queued, now, period, MAX_ALERTS_PER_DELIVERY)
            if batches and self._limit(s).allows(self.store.pushes[recipient].values(), now):
                did = delivery_id("digest", batches[0])
                self.store.note_push(recipient, did, now)
                pushes.append(Push(did, recipient, "digest", tuple(batches[0]), 1))
        return pushes

    def tick(self) -> int:
        pushes = self.due(time.time())
        if pushes:
            self._execute(pushes)
            self.producer.flush()
        return len(pushes)

    # ---- pushing ------------------------------------------------------------------------------------
    def _execute(self, pushes: list[Push]) -> None:
        if not pushes:
            return
        self.pushes_attempted += len(pushes)
        outcomes = list(self.pool.map(self._attempt, pushes))
        for push, (body, outcome) in zip(pushes, outcomes, strict=True):
            kind = "AlertDelivered" if outcome.status == "delivered" else "AlertDeliveryFailed"
            self._record(kind, outcome)
            if outcome.status == "dead":
                self.dead_letters.send_raw(
                    push.recipient.encode(), body,
                    f"webhook delivery dead after {push.attempt} attempt(s): {outcome.error}",
                    f"delivery:{push.delivery_id}", [("recipient", push.recipient.encode())])

    def _attempt(self, push: Push) -> tuple[bytes, AlertDelivery]:
        """One POST; returns the body and the outcome to record. Runs on the pool: touches no shared state."""
        role, _, rid = push.recipient.partition(":")
        s = self.store.settings_for(role, rid)
        alerts = [self.store.alerts[a].value.model_dump(mode="json") for a in push.alert_ids if a in self.store.alerts]
        body = webhook_body(push.delivery_id, push.recipient, push.kind, alerts)
        now = time.time()
        until = s.previous_secret_until.timestamp() if s is not None and s.previous_secret_until else None
        secrets = signing_secrets(self.secret, push.recipient, s.secret_version if s is not None else 1, until, now)
        headers = signed_headers(secrets, int(now), body, push.delivery_id)
        status: int | None = None
        blocked = False
        try:
            if s is None or not s.webhook_url:
                raise BlockedDestination("the recipient has no webhook URL any more")
            urls, host, extensions = pinned_destination(s.webhook_url, self.settings.webhook_allow_private_networks)
            deadline = time.monotonic() + self.settings.webhook_timeout_s
            for n, url in enumerate(urls):
                try:
                    answered = post_within(self.http, url, body, {**headers, **host}, extensions, deadline)
                    break
                except httpx.ConnectError:
                    if n == len(urls) - 1:
                        raise
            status = answered
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except (BlockedDestination, httpx.InvalidURL) as exc:  # retrying would not help (InvalidURL: no HTTPError)
            error, blocked = str(exc), True
        except DeadlineExceeded:
            error = f"the receiver took longer than {self.settings.webhook_timeout_s:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
        common = {"delivery_id": push.delivery_id, "recipient_role": role, "recipient_id": rid,
                  "alert_ids": list(push.alert_ids), "kind": push.kind, "attempt": push.attempt, "http_status": status}
        if error is None:
            return body, AlertDelivery(**common, status="delivered")
        if blocked or push.attempt >= self.settings.webhook_max_attempts:
            log.warning("delivery %s to %s dead after %d attempts: %s", push.delivery_id, push.recipient,
                        push.attempt, error)
            return body, AlertDelivery(**common, status="dead", error=error)
        wait = backoff_s(push.attempt, self.settings.webhook_retry_base_s)
        next_at = datetime.fromtimestamp(time.time() + wait, UTC)
        return body, AlertDelivery(**common, status="retrying", error=error, next_attempt_at=next_at)

    def _record(self, kind: str, d: AlertDelivery) -> None:
        """Queue the delivery event (flushed before the commit) and apply it here at once."""
        event = Event(type=kind, entity_id=d.delivery_id, entity_version=max(1, d.attempt), actor="webhooks",
                      payload=d)
        self.producer.send_async(self.topics.alert_deliveries, d.recipient.encode(), event.to_bytes())
        self.store.apply(event)

    # ---- running ------------------------------------------------------------------------------------
    def run_once(self) -> None:
        self.poll_state()
        self.loop.poll_once()
        self.tick()

    def run(self) -> None:
        self.catch_up_state()
        while not self.loop.stopping.is_set():
            self.run_once()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.loop.stop()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.state.close(autocommit=False)
        self.pool.shutdown(wait=True)
        self.http.close()
        self.producer.close()


def build(settings: Settings, client_id: str = "webhooks") -> WebhookWorker:
    ensure_topics(settings.kafka_bootstrap_servers, Topics(settings.topic_prefix), settings.topic_partitions,
                  settings.topic_replication)
    return WebhookWorker(settings, EventProducer(settings.kafka_bootstrap_servers), client_id=client_id)


def main() -> None:
    configure_logging()
    worker = build(get_settings())
    worker.loop.stop_on_signals()
    log.info("webhook worker running")
    try:
        worker.run()
    finally:
        worker.close()
        log.info("webhook worker stopped: %d pushes attempted, %s", worker.pushes_attempted, worker.loop.counters)


if __name__ == "__main__":
    main()
