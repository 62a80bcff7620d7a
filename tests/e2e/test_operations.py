"""Operations endpoints, lag headers and read-your-writes, over HTTP."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from api.app import create_app
from bootstrap import build
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import submit, uid
from tests.fakes import HashingEncoder

pytestmark = pytest.mark.kafka


def test_healthz_readyz_and_metrics_need_no_key_and_report_the_replica(deployment):
    anonymous = deployment.client()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    founder = deployment.as_role("founder", uid("f"))
    pid, token = submit(founder)
    assert founder.get(f"/v1/projects/{pid}", params={"wait_for": token}).status_code == 200

    deadline = time.monotonic() + 10
    while (r := anonymous.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert r.json()["status"] == "ready" and deployment.container.topics.projects in r.json()["lag"]

    text = anonymous.get("/metrics").text
    assert re.search(r'mm_http_request_duration_seconds_count\{method="GET",route="/v1/projects/\{project_id\}",'
                     r'status="200"\} [1-9]', text)
    assert f'mm_consumer_lag_records{{topic="{deployment.container.topics.projects}"}}' in text
    applied = re.search(r'mm_indexer_events_total\{outcome="applied"\} (\d+)', text)
    assert applied and int(applied.group(1)) >= 2
    assert 'mm_indexer_events_total{outcome="invalid"}' in text
    assert re.search(r'mm_read_model_entities\{kind="projects"\} [1-9]', text)


def test_with_a_metrics_token_set_metrics_need_it_and_health_checks_still_do_not(deployment, monkeypatch):
    monkeypatch.setattr(deployment.container.settings, "metrics_token", "scrape-" + "s" * 20)
    anonymous, admin = deployment.client(), deployment.client(deployment.admin_key)
    r = anonymous.get("/metrics")
    assert r.status_code == 401 and "METRICS_TOKEN" in r.json()["detail"]
    assert admin.get("/metrics").status_code == 401  # an API key is not the scrape token
    r = anonymous.get("/metrics", headers={"Authorization": "Bearer scrape-" + "s" * 20})
    assert r.status_code == 200 and "mm_read_model_entities" in r.text
    assert anonymous.get("/healthz").status_code == 200 and anonymous.get("/readyz").status_code == 200


def test_a_replica_that_has_not_caught_up_is_not_ready(deployment, tmp_path):
    founder = deployment.as_role("founder", uid("f"))
    submit(founder)
    settings = deployment.settings.model_copy(update={"snapshot_dir": tmp_path})
    lagging = build(settings, encoder=HashingEncoder())  # built, never started: it has applied nothing
    server = LiveServer(create_app(lagging)).start()
    try:
        r = httpx.get(f"{server.url}/readyz", timeout=10)
        assert r.status_code == 503 and r.json()["status"] == "catching_up"
        assert r.json()["lag"][settings.topic_prefix + ".projects"] >= 1
    finally:
        server.stop()
        lagging.stop()


def test_reads_report_their_lag_and_a_wait_that_times_out_says_stale(deployment):
    founder = deployment.as_role("founder", uid("f"))
    pid, token = submit(founder)
    r = founder.get(f"/v1/projects/{pid}", headers={"X-Wait-For": token})
    assert r.headers["X-Consistency"] == "fresh" and r.headers["X-Read-Lag"].isdigit()
    topic, partition, offset = token.rsplit(":", 2)
    future = f"{topic}:{partition}:{int(offset) + 1_000_000}"  # a record nobody has written
    started = time.monotonic()
    r = founder.get(f"/v1/projects/{pid}", params={"wait_for": future})
    waited = time.monotonic() - started
    assert r.status_code == 200 and r.headers["X-Consistency"] == "stale"
    assert deployment.settings.read_wait_seconds <= waited < deployment.settings.read_wait_seconds + 2
    # a 404 after the wait is "not applied here yet" as much as "does not exist": it says stale too
    r = founder.get("/v1/projects/p-not-applied-yet", params={"wait_for": future})
    assert r.status_code == 404 and r.headers["X-Consistency"] == "stale" and r.headers["X-Read-Lag"].isdigit()
