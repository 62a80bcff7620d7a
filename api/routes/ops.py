"""Operations: liveness, readiness, metrics. Load balancers and orchestrators call /healthz and /readyz without
a key. /metrics (entity counts, route latencies) takes `METRICS_TOKEN` as a bearer token when that is set, as
Prometheus scrape configs can send one; without it, serve it on an internal network only."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.auth import Unauthorized, hash_key
from api.deps import authenticate
from models.api import Health, Readiness

router = APIRouter(tags=["operations"])
# Once caught up, a replica stays ready while its indexer runs and lags by less than this many records, so a
# burst of writes does not flap it out of the load balancer.
READY_LAG_LIMIT = 1000


@router.get("/healthz")
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "still catching up with the log, or the broker "
                                                                  "does not answer"}})
def readyz(request: Request) -> Readiness | JSONResponse:
    """200 once the read model has caught up with the log end; else 503 with the lag per topic."""
    svc = request.app.state.services
    indexer = svc.container.indexer
    state = request.app.state.readiness
    if indexer is None:
        return Readiness(status="ready", lag={})
    if svc.probe.refresh():
        lag = svc.probe.lag_by_topic()
        total = sum(lag.values())
        if indexer.running and (total == 0 or (state["caught_up"] and total < READY_LAG_LIMIT)):
            state["caught_up"] = True
            return Readiness(status="ready", lag=lag)
    else:  # the broker does not answer: the lag is the last known, and writes fail until it is back
        body = Readiness(status="broker_unreachable", lag=svc.probe.lag_by_topic(), error=svc.probe.error)
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "1"})
    body = Readiness(status="catching_up", lag=lag)
    return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "1"})


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"},
                       401: {"description": "METRICS_TOKEN is set and the request does not carry it"}})
def metrics(request: Request) -> Response:
    """Prometheus metrics: request latency by route and status, consumer lag, applied and invalid events."""
    svc = request.app.state.services
    token = svc.container.settings.metrics_token
    if token is not None:
        given, expected = request.headers.get("authorization", ""), hash_key(f"Bearer {token}")

        def the_token(digest: str) -> bool | None:
            return True if hmac.compare_digest(digest, expected) else None

        # No header is no failure. A wrong one counts like an unknown key: an operator's token may be weaker than ours.
        if not given or authenticate(request, svc.failed_auth, given, the_token) is None:
            raise Unauthorized("/metrics needs `Authorization: Bearer <METRICS_TOKEN>`", invalid_token=bool(given))
    body, content_type = request.app.state.metrics.render()
    return Response(content=body, media_type=content_type)
