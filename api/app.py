"""The FastAPI application: routes under /v1, OpenAPI at /docs, domain errors mapped to HTTP statuses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import FailedAuthThrottle, KeyRing, TooManyFailures, Unauthorized
from api.consistency import LagProbe
from api.deps import Services
from api.errors import domain_error, unreadable_body, validation_errors
from api.metrics import ApiMetrics
from api.middleware import EdgeMiddleware
from api.routes import alerts, feedback, intros, investors, keys, matches, me, ops, projects, roadshows
from matcher.errors import Conflict, InvalidRequest, NotAllowed, NotFound, RetryLater
from matcher.ports import PublishFailed
from models.api import ErrorBody

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000
RETRY_AFTER_S = 2
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(container: Any, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The API over a built container (bootstrap.Container, or any object with `settings`, `view`, `commands`,
    `matches` and `indexer`, which may be None for a read model fed in-process). The caller starts and stops
    the container; the app only starts its own lag probe."""
    probe = LagProbe(container.view, container.indexer)
    services = Services(container=container, view=container.view, commands=container.commands,
                        matches=container.matches, probe=probe,
                        keys=KeyRing(container.view, container.settings.admin_api_key),
                        failed_auth=FailedAuthThrottle(container.settings.auth_failures_per_minute),
                        read_wait_seconds=container.settings.read_wait_seconds)
    metrics = ApiMetrics(container, probe)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        probe.start()
        try:
            yield
        finally:
            probe.stop()

    app = FastAPI(
        title="Matchmaker API", version="1.0.0", lifespan=lifespan,
        description="Investor-founder matchmaking. Writes answer 202 with an `offset_token`; pass it back as "
                    "`wait_for` (or `X-Wait-For`) to read your own write. Authenticate with "
                    "`Authorization: Bearer <key>`.",
    )
    app.state.services = services
    app.state.metrics = metrics
    app.state.readiness = {"caught_up": False}
    for router in (projects.router, investors.router, matches.router, feedback.router, intros.router,
                   keys.router, ops.router, roadshows.router, alerts.router, me.router):
        app.include_router(router)
    if WEB_DIR.is_dir():  # the web pages; mounted last so /v1, /docs and /healthz match first
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    _add_error_handlers(app)
    app.add_middleware(EdgeMiddleware, metrics=metrics, max_body_bytes=max_body_bytes)
    return app


def _error(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, validation_errors(exc.errors()))

    @app.exception_handler(ValidationError)
    async def payload_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return _error(422, validation_errors(exc.errors()))

    @app.exception_handler(InvalidRequest)
    async def invalid(_: Request, exc: InvalidRequest) -> JSONResponse:
        return _error(422, domain_error(str(exc)))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, ErrorBody(detail=str(exc)))

    @app.exception_handler(NotAllowed)
    async def not_allowed(_: Request, exc: NotAllowed) -> JSONResponse:
        return _error(403, ErrorBody(detail=str(exc)))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, ErrorBody(detail=str(exc)))

    @app.exception_handler(RetryLater)
    async def retry_later(_: Request, exc: RetryLater) -> JSONResponse:
        return _error(503, ErrorBody(detail=str(exc)), {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(PublishFailed)
    async def unavailable(_: Request, exc: PublishFailed) -> JSONResponse:
        log.warning("write not acknowledged: %s", exc)
        # Not "it did not happen": a write the broker stored but whose answer timed out can still land. The
        # client reads before it retries (a retried submit would add a second project).
        return _error(503, ErrorBody(detail="the event log did not acknowledge the write in time: it may not have "
                                            "happened, or may still land; read before you retry"),
                      {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        challenge = 'Bearer error="invalid_token"' if exc.invalid_token else "Bearer"
        return _error(401, ErrorBody(detail=str(exc)), {"WWW-Authenticate": challenge})

    @app.exception_handler(TooManyFailures)
    async def too_many_failures(_: Request, exc: TooManyFailures) -> JSONResponse:
        return _error(429, ErrorBody(detail=str(exc)), {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, too deep): a bad field like any other
            return _error(422, unreadable_body(exc.__cause__))
        return _error(exc.status_code, ErrorBody(detail=str(exc.detail)), getattr(exc, "headers", None))
