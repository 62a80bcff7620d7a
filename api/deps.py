"""Request dependencies: the services a route needs, who is asking, and read-your-writes waiting."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import FailedAuthThrottle, KeyRing, Unauthorized, hash_key
from api.consistency import LagProbe, OffsetToken
from matcher.commands import Acknowledged, CommandService, Principal
from matcher.service import MatchService
from matcher.view import ReadModel
from models.api import Accepted

T = TypeVar("T")


@dataclass
class Services:
    """What routes use; built once per app from the composition root's container."""

    container: Any  # bootstrap.Container, or a lighter object with the same attributes (bench)
    view: ReadModel
    commands: CommandService
    matches: MatchService
    probe: LagProbe
    keys: KeyRing
    failed_auth: FailedAuthThrottle
    read_wait_seconds: float

    def accepted(self, result: Acknowledged) -> Accepted:
        """A write the broker acknowledged, as the 202 body; the replica learns the new log end."""
        self.probe.observe(result.delivery)
        return Accepted(entity_id=result.entity_id, version=result.version, offset_token=result.delivery.token)


def services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]
bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`.")


def wait_token(
    svc: ServicesDep,
    wait_for: Annotated[str | None, Query(max_length=300, description=(
        "an offset_token from a write: wait (briefly) until this replica has applied it"))] = None,
    x_wait_for: Annotated[str | None, Header(max_length=300, description="same as the wait_for query")] = None,
) -> OffsetToken | None:
    if wait_for is not None:
        return svc.probe.parse(wait_for, "wait_for")
    if x_wait_for is not None:
        return svc.probe.parse(x_wait_for, "X-Wait-For")
    return None


def client_address(request: Request) -> str:
    """Who failed authentication: the peer's address, an IPv6 one by its /64 (one host may use all of it), behind a
    proxy the proxy's, unless uvicorn trusts its forwarded headers (`FORWARDED_ALLOW_IPS`)."""
    host = request.client.host if request.client is not None else "unknown"
    if ":" in host:
        try:
            # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; by its /64 (::/64) every IPv4 client would
            # share one bucket, and one guesser could lock them all out.
            address = ipaddress.IPv6Address(host)
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        except ValueError:
            pass
    return host


def authenticate(request: Request, throttle: FailedAuthThrottle, key: str, find: Callable[[str], T | None]) -> T | None:
    """`find` applied to the digest of `key` (`hash_key`), after refusing a client that sent too many unknown keys
    lately (TooManyFailures, a 429); None, and one more failure for this client, when `find` knows no such key."""
    client = client_address(request)
    throttle.check(client)
    digest = hash_key(key)
    found = find(digest)
    if found is None:
        throttle.failed(client, digest)
    return found


def principal(
    request: Request,
    response: Response,
    svc: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[OffsetToken | None, Depends(wait_token)],
) -> Principal:
    """Who is asking; waits for `wait_for` first, so that a key issued a moment ago already works with it and a key
    revoked a moment ago no longer does."""
    if credentials is None:
        raise Unauthorized("an API key is required: send `Authorization: Bearer <key>`")
    waited: bool | None = None

    def find(digest: str) -> Principal | None:
        nonlocal waited
        # The write may have issued this key (still unknown here) or revoked it (still known): wait before looking it
        # up, but only for a record that exists, so that unauthenticated callers cannot park request threads with
        # invented tokens.
        if token is not None and svc.probe.written(token):
            waited = svc.probe.wait(token, svc.read_wait_seconds)
        return svc.keys.resolve(digest)

    who = authenticate(request, svc.failed_auth, credentials.credentials, find)
    if who is None:
        raise Unauthorized("the API key is unknown or revoked", invalid_token=True)
    if token is not None and waited is None:
        waited = svc.probe.wait(token, svc.read_wait_seconds)
    read = {"X-Read-Lag": str(svc.probe.lag())}
    if waited is not None:
        read["X-Consistency"] = "fresh" if waited else "stale"
    response.headers.update(read)
    # an error answer (a 404 for what is not applied yet) is a new response: the edge middleware adds these to it
    request.state.read_headers = read
    return who


Who = Annotated[Principal, Depends(principal)]
