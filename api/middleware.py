"""The ASGI edge of the app: request latency metrics, the request body size limit, security headers."""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import ApiMetrics


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body must be at most {limit} bytes")


# Every response: no MIME sniffing, no framing (clickjacking), no referrer. The web pages and the API load only
# their own scripts and styles; the interactive API docs (FastAPI's Swagger UI and ReDoc) load theirs from a CDN, so
# they get no content security policy.
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer")]
CSP = (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")


class EdgeMiddleware:
    """Pure ASGI (no per-request task or body buffering): rejects bodies over `max_body_bytes` from their
    Content-Length, or while they are read when there is none, and times every request by route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body_bytes = app, metrics, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def timed_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                extra = SECURITY_HEADERS if scope["path"].startswith(DOCS_PATHS) else [*SECURITY_HEADERS, CSP]
                headers = message.get("headers", [])
                have = {name.lower() for name, _ in headers}
                read = scope.get("state", {}).get("read_headers", {})  # api.deps.principal's, for error answers too
                extra = [*extra, *((k.lower().encode(), v.encode()) for k, v in read.items()
                                   if k.lower().encode() not in have)]
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await _drain(receive, 16 * self.max_body_bytes)
                await _reject(timed_send, BodyTooLarge(self.max_body_bytes))
                return
            seen = 0

            async def limited_receive() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_body_bytes:
                        raise BodyTooLarge(self.max_body_bytes)
                return message

            try:
                await self.app(scope, limited_receive, timed_send)
            except BodyTooLarge as exc:  # raised outside the routes' own error handling
                if started:
                    raise
                await _reject(timed_send, exc)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope.get("method", ""), template, status, time.perf_counter() - start)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _drain(receive: Receive, cap: int) -> None:
    """Read (and drop) what the client is sending, so it sees our 413 instead of a reset connection."""
    read = 0
    while read <= cap:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _reject(send: Any, exc: HTTPException) -> None:
    body = json.dumps({"detail": exc.detail, "errors": []}).encode()
    await send({"type": "http.response.start", "status": exc.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
