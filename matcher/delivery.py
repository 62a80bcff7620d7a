"""Pure parts of webhook delivery: signing, the retry schedule, the per-recipient rate limit, digest timing.

No I/O here: `consumers/webhooks.py` does the HTTP and the Kafka; the API shows recipients their secret.

Signature: `X-Matchmaker-Signature: sha256=<hex>` where hex = HMAC-SHA256(secret, f"{timestamp}.{body}") and
`X-Matchmaker-Timestamp` is the Unix time in seconds; a receiver recomputes it over the raw body and rejects
old timestamps (replays). The secret per recipient is HMAC(server secret, recipient key, rotation count): nothing
secret is ever written to the event log, and the server can recompute it at any time. After a rotation, pushes
carry two signatures (new secret's first, comma-separated) until the overlap ends.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import socket
from collections.abc import Iterable, Sequence
from typing import Any

TIMESTAMP_HEADER = "X-Matchmaker-Timestamp"
SIGNATURE_HEADER = "X-Matchmaker-Signature"
DELIVERY_HEADER = "X-Matchmaker-Delivery"


def signing_secret(server_secret: str, recipient: str, version: int = 1) -> str:
    """The secret a recipient verifies our signatures with, derived so that it never needs storing. `version`
    counts the recipient's rotations (`AlertSettings.secret_version`)."""
    if not server_secret:
        raise ValueError("server_secret must be a non-empty string")
    if version < 1:
        raise ValueError(f"version must be >= 1; got {version}")
    label = f"webhook-signing|{recipient}" if version == 1 else f"webhook-signing|{recipient}|{version}"
    digest = hmac.new(server_secret.encode(), label.encode(), hashlib.sha256).hexdigest()
    return f"whsec_{digest}"


def signing_secrets(server_secret: str, recipient: str, version: int, previous_until: float | None,
                    now: float) -> list[str]:
    """The secrets a push is signed with: the current one, and until `previous_until` (Unix seconds) the one it
    was rotated from, so that a receiver can switch to the new secret at any time during that overlap."""
    secrets = [signing_secret(server_secret, recipient, version)]
    if version > 1 and previous_until is not None and now < previous_until:
        secrets.append(signing_secret(server_secret, recipient, version - 1))
    return secrets


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp: str | None, signature_header: str | None, body: bytes, now: float,
           tolerance_s: float = 300.0) -> bool:
    """What a receiver does: one of the header's signatures (comma-separated; two during a rotation's overlap)
    matches the raw body and the timestamp is recent."""
    if not timestamp or not signature_header or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, given.strip()) for given in signature_header.split(","))


def signed_headers(secrets: list[str], timestamp: int, body: bytes, delivery_id: str) -> dict[str, str]:
    """`secrets`: the current one first (see `signing_secrets`)."""
    return {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: ", ".join(signature(s, timestamp, body) for s in secrets),
            DELIVERY_HEADER: delivery_id}


def delivery_id(kind: str, alert_ids: Iterable[str]) -> str:
    """Deterministic: the same alerts in the same kind of delivery are the same delivery, on any worker."""
    return hashlib.sha256(f"{kind}|{'|'.join(sorted(alert_ids))}".encode()).hexdigest()[:32]


def webhook_body(delivery: str, recipient: str, kind: str, alerts: Sequence[dict[str, Any]]) -> bytes:
    """The JSON body (compact, key order fixed) signed and posted; `alerts` are MatchAlert dumps."""
    return json.dumps({"type": "match_alerts", "delivery_id": delivery, "recipient": recipient, "kind": kind,
                       "alerts": list(alerts)}, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


# ---- where webhooks may go ------------------------------------------------------------------------------
# Webhook URLs come from users. Without a check any of them could make the server POST into its own network
# (server-side request forgery): an admin endpoint on localhost, a cloud metadata service at 169.254.169.254.
def non_public_reason(address: str) -> str | None:
    """Why an IP address is not a public internet address ("loopback", "private", ...); None when it is one."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    elif isinstance(ip, ipaddress.IPv6Address) and (ip.sixtofour or ip.teredo):
        # 6to4 (2002:7f00:1:: for 127.0.0.1) and Teredo addresses carry IPv4 addresses their relays forward to
        for embedded in [ip.sixtofour] if ip.sixtofour else list(ip.teredo or ()):
            reason = non_public_reason(str(embedded))
            if reason is not None:
                return reason
    for reason, applies in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                            ("private", ip.is_private), ("multicast", ip.is_multicast),
                            ("unspecified", ip.is_unspecified), ("reserved", ip.is_reserved)):
        if applies:
            return reason
    return None if ip.is_global else "not globally routable"


def non_public_host_reason(host: str) -> str | None:
    """For a URL's host as written: "loopback" for localhost names, the reason of an IP literal, None for other
    names (those are checked as they resolve, before each push)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    try:
        return non_public_reason(name)
    except ValueError:  # not an address as ipaddress writes them
        pass
    try:
        # the C resolver the worker uses reads 2130706433, 0x7f000001, 127.1 and 0 as IPv4 addresses too
        return non_public_reason(socket.inet_ntoa(socket.inet_aton(name)))
    except (OSError, ValueError):  # a name
        return None


# ---- retries ------------------------------------------------------------------------------------------
def backoff_s(failed_attempt: int, base_s: float, factor: float = 2.0, cap_s: float = 3600.0) -> float:
    """Seconds to wait after attempt number `failed_attempt` (1-based) failed: base * factor**(n-1), capped."""
    if failed_attempt < 1:
        raise ValueError(f"failed_attempt must be >= 1; got {failed_attempt}")
    if base_s < 0 or factor < 1:
        raise ValueError(f"base_s must be >= 0 and factor >= 1; got {base_s}, {factor}")
    return min(cap_s, base_s * factor ** (failed_attempt - 1))


# ---- rate limit ---------------------------------------------------------------------------------------
class RateLimit:
    """At most `limit` pushes in any window of `window_s` seconds (a sliding window over push times)."""

    def __init__(self, limit: int, window_s: float = 3600.0) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"limit must be >= 1 and window_s > 0; got {limit}, {window_s}")
        self.limit, self.window_s = limit, window_s

    def _recent(self, pushes: Iterable[float], now: float) -> list[float]:
        return sorted(t for t in pushes if now - self.window_s < t <= now)

    def allows(self, pushes: Iterable[float], now: float) -> bool:
        """May one more push start at `now`, given the start times of earlier pushes?"""
        return len(self._recent(pushes, now)) < self.limit


# ---- digests ------------------------------------------------------------------------------------------
def next_digest_at(queued_at: float, period_s: float) -> float:
    """The first period boundary (multiples of `period_s` since the Unix epoch, UTC) after `queued_at`."""
    if period_s <= 0:
        raise ValueError(f"period_s must be > 0; got {period_s}")
    return (math.floor(queued_at / period_s) + 1) * period_s


def digest_batches(queued: dict[str, float], now: float, period_s: float | None,
                   max_size: int) -> list[list[str]]:
    """Which queued alerts (alert id -> time queued) go out now, as batches of at most `max_size`, oldest
    first. `period_s=None` (instant mode: alerts deferred by the rate limit) means due at once; otherwise an
    alert is due once the period boundary after it was queued has passed. All due alerts go together, so a
    digest covers everything that waited."""
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1; got {max_size}")
    due = sorted((t, a) for a, t in queued.items() if period_s is None or next_digest_at(t, period_s) <= now)
    ids = [a for _, a in due]
    return [ids[i:i + max_size] for i in range(0, len(ids), max_size)]
