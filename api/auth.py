"""Bearer API keys -> Principal. Keys are stored as sha256 hashes (events on the auth topic); the admin key
comes from the environment and works before any event exists."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from matcher.commands import Principal
from matcher.view import ReadModel

ADMIN = Principal(key_id="admin-env", role="admin", entity_id=None)


class Unauthorized(Exception):
    """No key, or a key this deployment does not accept (unknown or revoked)."""

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        super().__init__(message)
        self.invalid_token = invalid_token


class TooManyFailures(Exception):
    """This client sent too many unknown keys lately; `retry_after_s` until the oldest of them expires."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class FailedAuthThrottle:
    """Refuses a client (its address; an IPv6 client by its /64) that sent `limit` different unknown or revoked keys
    within `window_s`, until the oldest of them is `window_s` old. Different keys: a guesser must vary them, while a
    tab left open with a revoked key repeats one, and must not lock out everyone behind the same office NAT. Keys
    are 256 random bits, so this does not stop guessing (nothing needs to); it stops a client from making the API
    hash and look up keys for it without end, and it protects a weak `METRICS_TOKEN`. Per replica, in memory;
    `limit` 0 turns it off. At most `max_clients` addresses are tracked (the least recently failing are forgotten
    first), so invented addresses cannot grow it without bound."""

    def __init__(self, limit: int, window_s: float = 60.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.max_clients, self.clock = limit, window_s, max_clients, clock
        self._failures: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()  # client -> key digest -> when
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Raise TooManyFailures when `client` is over the limit; before its key is even looked at."""
        if self.limit <= 0 or client not in self._failures:  # the usual case, without the lock
            return
        with self._lock:
            keys = self._failures.get(client)
            if keys is None or not self._expire(client, keys):
                return
            if len(keys) >= self.limit:
                wait = max(1, int(next(iter(keys.values())) + self.window_s - self.clock() + 0.999))
                raise TooManyFailures(
                    f"{len(keys)} different unknown or revoked API keys or wrong /metrics tokens came from this "
                    f"address in the last {self.window_s:.0f} s, the most this API answers; retry after {wait} s", wait)

    def failed(self, client: str, digest: str) -> None:
        """`client` sent a key (its `hash_key` digest) that is unknown or revoked (a wrong /metrics token counts as one
        too)."""
        if self.limit <= 0:
            return
        with self._lock:
            keys = self._failures.pop(client, None) or OrderedDict()
            self._expire(client, keys)
            keys.pop(digest, None)
            keys[digest] = self.clock()  # oldest first
            while len(keys) > self.limit:  # enough to refuse; more would only cost memory
                keys.popitem(last=False)
            self._failures[client] = keys  # now the most recently failing client
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def _expire(self, client: str, keys: OrderedDict[str, float]) -> bool:
        """Drop the failures older than the window; False (and the client forgotten) when none is left."""
        cutoff = self.clock() - self.window_s
        while keys and next(iter(keys.values())) <= cutoff:
            keys.popitem(last=False)
        if not keys:
            self._failures.pop(client, None)
        return bool(keys)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh secret: 256 bits, URL-safe, prefixed so that it is recognisable in a leak scan."""
    return "mmk_" + secrets.token_urlsafe(32)


class KeyRing:
    """Resolves keys, by their `hash_key` digest, against the read model's key events.

    The read model stores keys by key id; the hash -> id map is rebuilt only when the number of keys
    changed, and every hit is re-checked against the current event, so a revocation applies at once.
    """

    def __init__(self, view: ReadModel, admin_key: str | None) -> None:
        self.view = view
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._by_hash: dict[str, str] = {}
        self._seen = -1
        self._lock = threading.Lock()

    def resolve(self, digest: str) -> Principal | None:
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return ADMIN
        key_id = self._by_hash.get(digest)
        if key_id is None and len(self.view.api_keys) != self._seen:
            self._rebuild()
            key_id = self._by_hash.get(digest)
        if key_id is None:
            return None
        found = self.view.api_keys.get(key_id)
        if found is None or found.value.revoked or not hmac.compare_digest(found.value.key_hash, digest):
            return None
        return Principal(key_id=key_id, role=found.value.role, entity_id=found.value.entity_id)

    def _rebuild(self) -> None:
        with self._lock, self.view.lock:
            self._by_hash = {k.value.key_hash: key_id for key_id, k in self.view.api_keys.items()}
            self._seen = len(self.view.api_keys)
