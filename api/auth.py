"""Bearer API keys -> Principal. Keys are stored as sha256 hashes (events on the auth topic); the admin key
comes from the environment and works before any event exists."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

from matcher.commands import Principal
from matcher.view import ReadModel

MAX_KEY_CHARS = 200
ADMIN = Principal(key_id="admin-env", role="admin", entity_id=None)


class Unauthorized(Exception):
    """No key, or a key this deployment does not accept (unknown or revoked)."""

    def __init__(self, message: str, *, invalid_token: bool = False) -> None:
        super().__init__(message)
        self.invalid_token = invalid_token


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh secret: 256 bits, URL-safe, prefixed so that it is recognisable in a leak scan."""
    return "mmk_" + secrets.token_urlsafe(32)


class KeyRing:
    """Resolves plaintext keys against the read model's key events.

    The read model stores keys by key id; the hash -> id map is rebuilt only when the number of keys
    changed, and every hit is re-checked against the current event, so a revocation applies at once.
    """

    def __init__(self, view: ReadModel, admin_key: str | None) -> None:
        self.view = view
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._by_hash: dict[str, str] = {}
        self._seen = -1
        self._lock = threading.Lock()

    def resolve(self, key: str) -> Principal | None:
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        digest = hash_key(key)
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
