"""Deal alerts without a broker: ids, signatures, backoff, rate limit, digests, the projection, the evaluator
and the commands' ownership rules (read model fed in-process, fake encoder)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import ValidationError

from api import policy
from api.routes.alerts import MatchNames, alert_out
from consumers.webhooks import BlockedDestination, pinned_destination
from matcher.alert_store import AlertStore
from matcher.alerts import MAX_SAVED_SEARCHES, AlertCommands, AlertEvaluator, AlertPolicy
from matcher.commands import CommandService, Principal
from matcher.delivery import (
    RateLimit,
    backoff_s,
    delivery_id,
    digest_batches,
    next_digest_at,
    non_public_host_reason,
    non_public_reason,
    signature,
    signed_headers,
    signing_secret,
    signing_secrets,
    verify,
    webhook_body,
)
from matcher.errors import Conflict, InvalidRequest, NotAllowed, NotFound
from models.alerts import AlertDelivery, AlertSettings, MatchAlert, SavedSearch, alert_id, settings_id
from models.events import Event
from tests.factories import event, investor
from tests.fakes import ApplyingPublisher
from tests.unit.test_matching import World, registry_world

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# ---- alert ids ----------------------------------------------------------------------------------------
def test_alert_id_is_deterministic_per_recipient_subject_and_version():
    a = alert_id("investor:i-1", "project", "p-1", 1)
    assert a == alert_id("investor:i-1", "project", "p-1", 1)
    assert len(a) == 32 and int(a, 16) >= 0
    others = {alert_id("investor:i-2", "project", "p-1", 1), alert_id("investor:i-1", "project", "p-1", 2),
              alert_id("investor:i-1", "project", "p-2", 1), alert_id("founder:i-1", "project", "p-1", 1),
              alert_id("investor:i-1", "investor", "p-1", 1)}
    assert a not in others and len(others) == 5


def test_an_alert_whose_id_does_not_match_its_content_is_rejected():
    fields = {"recipient_role": "investor", "recipient_id": "i-1", "subject_kind": "project", "subject_id": "p-1",
              "subject_version": 2, "matches": [{"investor_id": "i-1", "project_id": "p-1", "score": 0.8,
                                                 "via": ["profile"]}]}
    MatchAlert(alert_id=alert_id("investor:i-1", "project", "p-1", 2), **fields)
    with pytest.raises(ValidationError, match="alert_id must be"):
        MatchAlert(alert_id=alert_id("investor:i-1", "project", "p-1", 1), **fields)


# ---- signatures ---------------------------------------------------------------------------------------
def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"alerts":[]}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("whsec_x", 1700000000, body) == f"sha256={expected}"
    headers = signed_headers(["whsec_x"], 1700000000, body, "d1")
    assert headers["X-Matchmaker-Signature"] == f"sha256={expected}"
    assert headers["X-Matchmaker-Timestamp"] == "1700000000" and headers["X-Matchmaker-Delivery"] == "d1"


@pytest.mark.parametrize(("timestamp", "body", "secret", "ok"), [
    ("1700000000", b"{}", "whsec_x", True),
    ("1700000000", b"{ }", "whsec_x", False),  # body changed
    ("1700000000", b"{}", "whsec_y", False),  # another recipient's secret
    ("1699990000", b"{}", "whsec_x", False),  # too old: a replay
    ("", b"{}", "whsec_x", False),
    ("17e8", b"{}", "whsec_x", False),
])
def test_a_receiver_accepts_only_the_signed_body_with_a_recent_timestamp(timestamp, body, secret, ok):
    header = signature("whsec_x", 1700000000, b"{}")
    assert verify(secret, timestamp, header, body, now=1700000100) is ok


def test_signing_secrets_are_derived_per_recipient_and_stable():
    a = signing_secret("server-secret-0123456789", "investor:i-1")
    assert a == signing_secret("server-secret-0123456789", "investor:i-1")
    assert a.startswith("whsec_") and "server-secret" not in a
    assert a != signing_secret("server-secret-0123456789", "investor:i-2")
    assert a != signing_secret("another-server-secret-987", "investor:i-1")
    with pytest.raises(ValueError, match="server_secret"):
        signing_secret("", "investor:i-1")


def test_a_rotated_secret_is_new_and_the_old_one_signs_too_until_the_overlap_ends():
    server, recipient, body = "server-secret-0123456789", "investor:i-1", b'{"alerts":[]}'
    first = signing_secret(server, recipient)
    # version 1 is the secret recipients had before rotation existed
    assert first == "whsec_" + hmac.new(server.encode(), f"webhook-signing|{recipient}".encode(),
                                         hashlib.sha256).hexdigest()
    second = signing_secret(server, recipient, 2)
    assert second not in (first, signing_secret(server, "investor:i-2", 2), signing_secret(server, recipient, 3))
    assert signing_secrets(server, recipient, 2, previous_until=1000.0, now=999.0) == [second, first]
    assert signing_secrets(server, recipient, 2, previous_until=1000.0, now=1000.0) == [second]
    assert signing_secrets(server, recipient, 1, previous_until=None, now=0.0) == [first]
    header = signed_headers([second, first], 1700000000, body, "d1")["X-Matchmaker-Signature"]
    assert header.count("sha256=") == 2
    for secret in (first, second):  # a receiver with either secret accepts it during the overlap
        assert verify(secret, "1700000000", header, body, now=1700000001)
    assert not verify(signing_secret(server, recipient, 3), "1700000000", header, body, now=1700000001)
    after = signed_headers([second], 1700000000, body, "d1")["X-Matchmaker-Signature"]
    assert not verify(first, "1700000000", after, body, now=1700000001)  # the leaked one stops working


def test_webhook_body_is_canonical_json():
    one = webhook_body("d1", "investor:i-1", "instant", [{"b": 1, "a": "投资"}])
    assert one == webhook_body("d1", "investor:i-1", "instant", [{"a": "投资", "b": 1}])
    assert "投资".encode() in one


def test_delivery_ids_do_not_depend_on_alert_order_but_on_kind():
    assert delivery_id("digest", ["b" * 32, "a" * 32]) == delivery_id("digest", ["a" * 32, "b" * 32])
    assert delivery_id("digest", ["a" * 32]) != delivery_id("instant", ["a" * 32])


# ---- where webhooks may go --------------------------------------------------------------------------------
@pytest.mark.parametrize("address, reason", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"), ("::ffff:10.0.0.1", "private"),
    ("100.64.0.1", "not globally routable"), ("224.0.0.1", "multicast"), ("240.0.0.1", "private"),
    ("8.8.8.8", None), ("2001:4860:4860::8888", None), ("::ffff:8.8.8.8", None),
])
def test_only_public_internet_addresses_may_receive_webhooks(address, reason):
    assert non_public_reason(address) == reason


@pytest.mark.parametrize("host, reason", [
    ("localhost", "loopback"), ("LOCALHOST.", "loopback"), ("api.localhost", "loopback"), ("::1", "loopback"),
    ("10.0.0.7", "private"), ("hooks.example", None), ("localhost.example", None),
])
def test_hosts_written_as_local_names_or_addresses_are_refused_before_resolving(host, reason):
    assert non_public_host_reason(host) == reason


def resolving_to(*addresses: str):
    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]
    return getaddrinfo


def test_a_push_connects_to_the_address_checked_with_the_host_as_written(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to("93.184.216.34", "2606:2800:220:1::248"))
    urls, headers, extensions = pinned_destination("https://hooks.example:8443/in?x=1", allow_private=False)
    assert [str(u) for u in urls] == ["https://93.184.216.34:8443/in?x=1", "https://[2606:2800:220:1::248]:8443/in?x=1"]
    assert headers == {"Host": "hooks.example:8443"} and extensions == {"sni_hostname": "hooks.example"}
    urls, headers, extensions = pinned_destination("http://hooks.example/in", allow_private=False)
    assert ([str(u) for u in urls], headers, extensions) == (
        ["http://93.184.216.34/in", "http://[2606:2800:220:1::248]/in"], {"Host": "hooks.example"}, {})


@pytest.mark.parametrize("addresses", [("10.0.0.5",), ("93.184.216.34", "127.0.0.1"), ("::ffff:169.254.169.254",)])
def test_a_name_resolving_to_any_internal_address_is_refused_unless_allowed(monkeypatch, addresses):
    monkeypatch.setattr(socket, "getaddrinfo", resolving_to(*addresses))
    with pytest.raises(BlockedDestination, match=r"hooks\.example resolves to .*WEBHOOK_ALLOW_PRIVATE_NETWORKS"):
        pinned_destination("https://hooks.example/in", allow_private=False)
    urls, _, _ = pinned_destination("https://hooks.example/in", allow_private=True)
    assert [u.host for u in urls] == list(addresses)


def test_https_to_a_pinned_address_checks_the_certificate_against_the_name(tmp_path):
    """A real TLS server on 127.0.0.1 with a certificate for "localhost" only: the pinned request is verified
    against the name it was written with; without the server name it would be checked against the address."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hosts.append(self.headers.get("Host", ""))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        urls, host, extensions = pinned_destination(f"https://localhost:{port}/hook", allow_private=True)
        assert str(urls[0]) == f"https://127.0.0.1:{port}/hook"
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
            assert client.post(urls[0], content=b"{}", headers=host, extensions=extensions).status_code == 204
            assert hosts == [f"localhost:{port}"]
            with pytest.raises(httpx.ConnectError, match="certificate"):
                client.post(urls[0], content=b"{}", headers=host)
    finally:
        server.shutdown()
        server.server_close()


def test_a_name_that_does_not_resolve_is_a_connection_error_and_retried(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(httpx.ConnectError, match="cannot resolve hooks.example"):
        pinned_destination("https://hooks.example/in", allow_private=False)


# ---- backoff ------------------------------------------------------------------------------------------
def test_backoff_doubles_from_the_base_and_is_capped():
    assert [backoff_s(n, base_s=1.0) for n in range(1, 5)] == [1.0, 2.0, 4.0, 8.0]
    assert [backoff_s(n, base_s=0.05) for n in range(1, 4)] == pytest.approx([0.05, 0.1, 0.2])
    assert backoff_s(20, base_s=1.0, cap_s=60.0) == 60.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: backoff_s(0, 1.0), "failed_attempt"),
    (lambda: backoff_s(1, -1.0), "base_s"),
    (lambda: backoff_s(1, 1.0, factor=0.5), "factor"),
])
def test_backoff_rejects_impossible_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---- rate limit ---------------------------------------------------------------------------------------
def test_rate_limit_allows_the_limit_per_sliding_window_then_frees_the_oldest_slot():
    limit = RateLimit(3, window_s=60)
    assert limit.allows([], now=0)
    assert limit.allows([0, 10], now=20)
    assert not limit.allows([0, 10, 20], now=30)
    assert not limit.allows([0, 10, 20], now=59.9)
    assert limit.allows([0, 10, 20], now=60)  # the push at 0 has left the window
    assert limit.allows([0, 10, 20, 200], now=201)  # only the recent push counts


def test_rate_limit_rejects_a_zero_limit():
    with pytest.raises(ValueError, match="limit must be >= 1"):
        RateLimit(0)


# ---- digests ------------------------------------------------------------------------------------------
def test_digest_boundaries_are_period_multiples_after_the_alert():
    assert next_digest_at(0.0, 10.0) == 10.0
    assert next_digest_at(9.99, 10.0) == 10.0
    assert next_digest_at(10.0, 10.0) == 20.0
    assert next_digest_at(T0.timestamp(), 86_400) == (T0 + timedelta(hours=12)).timestamp()  # next UTC midnight


def test_digest_batches_wait_for_the_boundary_then_go_together_oldest_first_in_bounded_batches():
    queued = {"c": 12.0, "a": 3.0, "b": 7.0, "d": 25.0}
    assert digest_batches(queued, now=9.0, period_s=10.0, max_size=100) == []
    assert digest_batches(queued, now=10.0, period_s=10.0, max_size=100) == [["a", "b"]]
    assert digest_batches(queued, now=21.0, period_s=10.0, max_size=2) == [["a", "b"], ["c"]]
    # instant mode: alerts deferred by the rate limit are due at once
    assert digest_batches(queued, now=0.0, period_s=None, max_size=3) == [["a", "b", "c"], ["d"]]
    assert digest_batches({}, now=100.0, period_s=10.0, max_size=3) == []


# ---- the projection -----------------------------------------------------------------------------------
def _delivery(kind: str, status: str, attempt: int, ids: list[str], **extra) -> Event:
    # as the worker records them: a queued alert's record is named after the alert, and is part of a digest
    d = AlertDelivery(delivery_id=delivery_id(kind, ids), recipient_role="investor", recipient_id="i-1",
                      alert_ids=ids, kind="digest" if kind == "queued" else kind, status=status,  # type: ignore[arg-type]
                      attempt=attempt, **extra)
    etype = {"queued": "AlertQueued", "delivered": "AlertDelivered"}.get(status, "AlertDeliveryFailed")
    return Event(type=etype, entity_id=d.delivery_id, entity_version=max(1, attempt), actor="t", payload=d,
                 occurred_at=T0 + timedelta(seconds=attempt))


def test_delivery_state_only_moves_forward_and_replays_change_nothing():
    store = AlertStore()
    a, b = "a" * 32, "b" * 32
    queued = [_delivery("queued", "queued", 0, [x], reason="rate_limited") for x in (a, b)]
    failed = _delivery("digest", "retrying", 1, [a, b], error="HTTP 500", next_attempt_at=T0)
    done = _delivery("digest", "delivered", 2, [a, b], http_status=200)
    for e in [*queued, failed, done]:
        assert store.apply(e)
    assert store.alert_status[a].status == "delivered" and store.alert_status[a].attempt == 2
    assert not store.queued["investor:i-1"] and not store.retrying
    assert list(store.pushes["investor:i-1"]) == [delivery_id("digest", [a, b])]  # first attempts only
    before = (dict(store.alert_status), dict(store.deliveries))
    for e in [*queued, failed, done, failed]:  # redelivered, and out of order
        assert not store.apply(e)
    assert (dict(store.alert_status), dict(store.deliveries)) == before


def test_queued_and_retrying_work_is_rebuilt_from_the_records():
    store = AlertStore()
    a, b = "a" * 32, "b" * 32
    store.apply(_delivery("queued", "queued", 0, [a], reason="digest"))
    store.apply(_delivery("instant", "retrying", 1, [b], error="timeout", next_attempt_at=T0))
    assert set(store.queued["investor:i-1"]) == {a}
    assert [d.alert_ids for d in store.retrying.values()] == [(b,)]


# ---- the evaluator ------------------------------------------------------------------------------------
FOUNDER = Principal("k-f", "founder", "f-1")


@pytest.fixture
def world() -> World:
    return registry_world()


def evaluator(w: World, min_score: float = 0.45) -> AlertEvaluator:
    """0.45: a strong fit (i-robot, p-vision) scores ~0.5 and the biotech investor ~0.15 with the default ranker."""
    return AlertEvaluator(w.service, AlertPolicy(default_min_score=min_score, max_recipients=50))


def save_search(w: World, sid: str, version: int = 1, **fields) -> None:
    w.view.apply(event("SearchSaved", sid, SavedSearch.model_validate(fields), version))


def test_a_new_project_alerts_the_fitting_investors_only(world):
    world.put_project("p-vision", owner="f-1")
    alerts = evaluator(world).for_project("p-vision")
    assert [(a.recipient, a.subject_id, a.subject_version) for a in alerts] == [("investor:i-robot", "p-vision", 1)]
    match = alerts[0].matches[0]
    assert match.via == ["profile"] and match.score == pytest.approx(world.service.explain("i-robot", "p-vision").score,
                                                                     abs=1e-5)
    assert {r.code for r in match.reasons} >= {"sectors", "stage"}


def test_a_sent_alert_and_a_pair_already_alerted_do_not_alert_again(world):
    world.put_project("p-vision", owner="f-1")
    ev = evaluator(world)
    first = ev.for_project("p-vision")
    for a in first:
        world.view.alerts.add_alert(a, T0)
    assert ev.for_project("p-vision") == []
    world.put_project("p-vision", event_type="ProjectUpdated", owner="f-1", traction="5家工厂试点")
    assert ev.for_project("p-vision") == []  # a new version of a match already told about is not news


def test_a_passed_or_invested_project_never_alerts_that_investor(world):
    save_search(world, "s-1", owner_role="investor", owner_id="i-robot", sectors=["ai"])
    world.put_investor("i-robot2", name="Robot Fund II")
    world.put_project("p-vision", owner="f-1")
    world.feedback("i-robot", "p-vision", "passed", "valuation too high")
    world.feedback("i-robot2", "p-vision", "invested")
    assert evaluator(world).for_project("p-vision") == []  # neither the profile nor the saved search
    # and a founder is not told about an investor who passed on its project
    world.put_investor("i-robot", name="Robot Fund", thesis="智能制造与工业视觉。Industrial vision.")
    assert evaluator(world).for_investor("i-robot") == []


def test_saved_searches_add_matches_with_their_own_filters_text_and_minimum(world):
    save_search(world, "s-vision", owner_role="investor", owner_id="i-bio", text="视觉 宁波", min_score=0.1)
    save_search(world, "s-city", owner_role="investor", owner_id="i-bio", cities=["上海"])
    save_search(world, "s-high", owner_role="investor", owner_id="i-bio", min_score=1.5)
    save_search(world, "s-robot", owner_role="investor", owner_id="i-robot", sectors=["ai"], text="视觉")
    world.put_project("p-vision", owner="f-1")
    alerts = {a.recipient_id: a for a in evaluator(world).for_project("p-vision")}
    assert set(alerts) == {"i-bio", "i-robot"}
    assert alerts["i-bio"].matches[0].via == ["s-vision"]
    assert alerts["i-robot"].matches[0].via == ["profile", "s-robot"]  # one alert, both reasons


@pytest.mark.parametrize("text", ["視覺 ningbo", "ＡＩ 质检", "宁波市", "工业视觉 VisionQC"])
def test_a_saved_search_matches_as_search_does_in_either_script_and_by_either_city_name(world, text):
    save_search(world, "s-1", owner_role="investor", owner_id="i-bio", text=text, min_score=0.0)
    world.put_project("p-vision", owner="f-1")  # 视觉质检 VisionQC in 宁波 (smart manufacturing, AI)
    alerts = {a.recipient_id: a for a in evaluator(world).for_project("p-vision")}
    assert alerts["i-bio"].matches[0].via == ["s-1"]


@pytest.mark.parametrize(("text", "alerted"), [("电商", True), ("跨境 电商", False), ("芯片", False),
                                              ("市", False), ("city", False), ("Shoplane stage", False),
                                              ("shop", False), ("shoplane", True)])
def test_a_saved_search_word_that_names_a_sector_matches_that_sectors_projects(world, text, alerted):
    save_search(world, "s-1", owner_role="investor", owner_id="i-bio", text=text, min_score=0.0)
    world.put_project("p-shop", owner="f-1", name="Shoplane", summary="独立站建站工具", sectors=["ecommerce"])
    alerts = {a.recipient_id: a for a in evaluator(world).for_project("p-shop")}
    # every term must find it as search would: 跨境 is in no text of p-shop; 市, city and stage are in every text
    # (labels) and find nothing; Latin words are whole (shop is not Shoplane)
    assert ("i-bio" in alerts) is alerted


def test_a_founders_saved_search_finds_an_investor_by_name(world):
    world.put_project("p-vision", owner="f-1")
    save_search(world, "s-name", owner_role="founder", owner_id="f-1", project_id="p-vision", text="Robot Fund",
                min_score=0.0)
    alerts = evaluator(world, min_score=1.5).for_investor("i-robot")  # the implicit search finds nothing
    assert [(a.recipient, a.matches[0].via) for a in alerts] == [("founder:f-1", ["s-name"])]


def test_deleted_searches_and_profile_alerts_off_do_not_alert(world):
    save_search(world, "s-1", owner_role="investor", owner_id="i-bio", min_score=0.01)  # ~ everything
    save_search(world, "s-1", version=2, owner_role="investor", owner_id="i-bio", min_score=0.01, deleted=True)
    world.view.apply(event("AlertSettingsUpdated", settings_id("investor", "i-robot"),
                           AlertSettings(recipient_role="investor", recipient_id="i-robot", profile_alerts=False)))
    world.put_project("p-vision", owner="f-1")
    assert evaluator(world).for_project("p-vision") == []


def test_a_newly_verified_investor_alerts_founders_once_with_all_their_fitting_projects(world):
    world.put_project("p-vision", owner="f-1")
    world.put_project("p-vision2", owner="f-1", name="工业视觉二号")
    world.put_project("p-drug", owner="f-2", name="抗体新药", summary="新型双抗药物研发。", sectors=["biomedicine"],
                      stage="a", amount_sought_cny=20_000_000, city="杭州")
    world.put_project("p-anon")  # imported without a founder account: nobody to alert
    world.put_investor("i-new", name="New Robot Fund", verification="pending")
    ev = evaluator(world)
    assert ev.for_investor("i-new") == []  # pending: not matchable yet
    world.put_investor("i-new", event_type="InvestorVerified", name="New Robot Fund")
    alerts = ev.for_investor("i-new")
    assert [(a.recipient, a.subject_version) for a in alerts] == [("founder:f-1", 2)]
    assert {m.project_id for m in alerts[0].matches} == {"p-vision", "p-vision2"}


def test_a_founders_search_finds_investors_for_its_own_project_only(world):
    world.put_project("p-drug", owner="f-2", name="抗体新药", summary="新型双抗药物研发。", sectors=["biomedicine"],
                      stage="a", amount_sought_cny=20_000_000, city="杭州")
    world.put_project("p-vision", owner="f-1")
    save_search(world, "s-f2", owner_role="founder", owner_id="f-2", project_id="p-drug", text="创新药", min_score=0.0)
    save_search(world, "s-f2-wrong", owner_role="founder", owner_id="f-2", project_id="p-vision", min_score=0.01)
    alerts = evaluator(world, min_score=1.5).for_investor("i-bio")  # the implicit search finds nothing
    assert [(a.recipient, [m.project_id for m in a.matches], a.matches[0].via) for a in alerts] == [
        ("founder:f-2", ["p-drug"], ["s-f2"])]


def test_withdrawn_projects_and_unknown_subjects_alert_nobody(world):
    world.put_project("p-vision", owner="f-1", status="withdrawn")
    ev = evaluator(world)
    assert ev.for_project("p-vision") == [] and ev.for_project("p-none") == [] and ev.for_investor("i-none") == []


# ---- the commands -------------------------------------------------------------------------------------
@pytest.fixture
def commands(world) -> AlertCommands:
    world.put_project("p-vision", owner="f-1")
    publisher = ApplyingPublisher(world.view)
    from consumers.topics import Topics

    return AlertCommands(world.view, CommandService(world.view, publisher, Topics("t").for_event_type),
                         "server-secret-0123456789")


def test_investors_and_founders_manage_only_their_own_searches(commands):
    investor = Principal("k-i", "investor", "i-robot")
    sid = commands.save_search(investor, {"sectors": ["ai"], "min_score": 0.5}).entity_id
    assert commands.search(investor, sid).value.owner_id == "i-robot"
    with pytest.raises(NotAllowed):
        commands.search(Principal("k-j", "investor", "i-bio"), sid)
    with pytest.raises(NotAllowed):
        commands.delete_search(FOUNDER, sid)
    with pytest.raises(NotAllowed, match="another founder"):
        commands.save_search(Principal("k-g", "founder", "f-9"), {"project_id": "p-vision"})
    with pytest.raises(InvalidRequest, match="project_id is required"):
        commands.save_search(FOUNDER, {})
    fid = commands.save_search(FOUNDER, {"project_id": "p-vision", "text": "机器人"}).entity_id
    assert [s.id for s in commands.searches(FOUNDER)] == [fid]
    assert {s.id for s in commands.searches(Principal("k-a", "admin", None))} == {sid, fid}
    commands.delete_search(investor, sid)
    with pytest.raises(NotFound):
        commands.search(investor, sid)


def test_an_account_holds_at_most_fifty_saved_searches(commands):
    investor = Principal("k-i", "investor", "i-robot")
    kept = [commands.save_search(investor, {"text": f"词{n}"}).entity_id for n in range(MAX_SAVED_SEARCHES)]
    with pytest.raises(Conflict, match="at most 50 saved searches"):
        commands.save_search(investor, {"text": "one too many"})
    commands.delete_search(investor, kept[0])
    commands.save_search(investor, {"text": "room again"})


def test_the_cap_counts_searches_this_replica_wrote_before_the_read_model_holds_them(commands, monkeypatch):
    investor = Principal("k-i", "investor", "i-robot")
    publisher = commands.commands.publisher
    monkeypatch.setattr(publisher.view, "apply", lambda event: False)  # acknowledged, not applied yet
    for n in range(MAX_SAVED_SEARCHES):
        commands.save_search(investor, {"text": f"词{n}"})
    with pytest.raises(Conflict, match="at most 50 saved searches"):  # 16 saves at once kept 64
        commands.save_search(investor, {"text": "one too many"})
    assert len(publisher.events) == MAX_SAVED_SEARCHES


def test_one_accounts_many_searches_cost_one_scoring_per_change(world):
    for n in range(20):  # none reaches its minimum: each used to score the pair again
        save_search(world, f"s-{n}", owner_role="investor", owner_id="i-robot", text="视觉", min_score=2.0)
    scorer = evaluator(world)
    explained = []
    real = scorer.matches.explain
    scorer.matches.explain = lambda *pair: explained.append(pair) or real(*pair)  # type: ignore[method-assign]
    world.put_project("p-vision", owner="f-1")
    scorer.for_project("p-vision")
    assert explained.count(("i-robot", "p-vision")) <= 1



def test_someone_elses_alert_is_not_found_as_an_unknown_one_is(commands, world):
    alert = evaluator(world).for_project("p-vision")[0]  # i-robot's: its id anyone can compute (`alert_id`)
    commands.store.add_alert(alert, datetime.now(UTC))
    assert commands.alert(ROBOT, alert.alert_id).value == alert
    assert commands.alert(ADMIN, alert.alert_id).value == alert
    for who in (Principal("k-j", "investor", "i-bio"), FOUNDER):
        with pytest.raises(NotFound, match="^alert '[0-9a-f]+' not found$"):
            commands.alert(who, alert.alert_id)
    with pytest.raises(NotAllowed, match="only investors, founders and admins"):
        commands.alert(Principal("k-o", "organizer", "o-1"), alert.alert_id)


@pytest.mark.parametrize("role", ["registrar", "organizer"])
def test_other_roles_have_no_alerts(commands, role):
    who = Principal("k-x", role, "x-1")
    with pytest.raises(NotAllowed):
        commands.searches(who)
    with pytest.raises(NotAllowed):
        commands.settings(who)
    with pytest.raises(NotAllowed):
        commands.save_search(who, {"sectors": ["ai"]})


def test_settings_show_the_signing_secret_to_the_recipient_only(commands):
    investor = Principal("k-i", "investor", "i-robot")
    value, version, secret = commands.settings(investor)
    assert version == 0 and value.mode == "instant"
    assert secret == signing_secret("server-secret-0123456789", "investor:i-robot")
    commands.update_settings(investor, {"webhook_url": "https://hooks.example/x", "mode": "daily"})
    value, version, _ = commands.settings(investor)
    assert (value.webhook_url, value.mode, version) == ("https://hooks.example/x", "daily", 1)

    commands.rotate_secret(investor, now=T0)
    with pytest.raises(Conflict, match="rotated already; the previous one signs too until"):
        commands.rotate_secret(investor, now=T0 + timedelta(seconds=1))  # a double click: once
    value, version, rotated = commands.settings(investor)
    assert rotated == signing_secret("server-secret-0123456789", "investor:i-robot", 2) != secret
    assert (value.secret_version, value.previous_secret_until, version) == (2, T0 + timedelta(days=1), 2)
    commands.update_settings(investor, {"webhook_url": "https://hooks.example/y"})  # a PUT keeps the rotation
    value, _, shown = commands.settings(investor)
    assert (value.secret_version, value.previous_secret_until, shown) == (2, T0 + timedelta(days=1), rotated)
    with pytest.raises(NotAllowed):
        commands.rotate_secret(Principal("k-j", "investor", "i-bio"), "investor", "i-robot")
    commands.rotate_secret(Principal("k-a", "admin", None), "investor", "i-robot")  # an admin, for a leak
    assert commands.settings(investor)[0].secret_version == 3
    admin = Principal("k-a", "admin", None)
    _, _, admin_secret = commands.settings(admin, "investor", "i-robot")
    assert admin_secret is None
    with pytest.raises(InvalidRequest, match="recipient_role"):
        commands.settings(admin)


def test_admins_act_for_existing_recipients_only_and_unverified_investors_save_no_searches(commands, world):
    admin = Principal("k-a", "admin", None)
    with pytest.raises(NotFound, match="investor 'i-none'"):
        commands.settings(admin, "investor", "i-none")
    with pytest.raises(NotFound, match="founder 'f-none'"):
        commands.update_settings(admin, {"mode": "daily"}, "founder", "f-none")
    with pytest.raises(NotFound, match="investor 'i-none'"):
        commands.save_search(admin, {"investor_id": "i-none", "text": "视觉"})
    assert commands.settings(admin, "founder", "f-1")[1] == 0  # f-1 owns p-vision
    world.view.apply(event("InvestorRegistered", "i-new", investor(verification="pending")))
    with pytest.raises(Conflict, match="saved searches open once a registrar has verified"):
        commands.save_search(Principal("k-n", "investor", "i-new"), {"text": "视觉"})
    # a withdrawn profile is not reopened by a registrar: say so, not "once a registrar has verified"
    world.view.apply(event("InvestorWithdrawn", "i-gone", investor(verification="verified", status="withdrawn")))
    with pytest.raises(Conflict, match="is verified and withdrawn; saved searches open only for an active profile, "
                                       "and withdrawing cannot be undone") as refused:
        commands.save_search(Principal("k-g", "investor", "i-gone"), {"text": "视觉"})
    assert "registrar" not in str(refused.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "https://[::1]/x", "http://localhost/x",
                                 "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/hook"])
def test_settings_refuse_webhooks_into_the_servers_own_network_unless_allowed(commands, url):
    investor = Principal("k-i", "investor", "i-robot")
    with pytest.raises(InvalidRequest, match="webhook_url must point to a public address"):
        commands.update_settings(investor, {"webhook_url": url})
    assert commands.settings(investor)[1] == 0  # nothing was saved
    commands.allow_private_webhooks = True
    commands.update_settings(investor, {"webhook_url": url})
    assert commands.settings(investor)[0].webhook_url == url


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "https://user:pw@hooks.example/x", "not a url", "https:///x",
                                 "http://①②⑦.0.0.1/x"])  # Python's IDNA 2003 reads it as 127.0.0.1
def test_webhook_urls_must_be_http_or_https_without_credentials(url):
    with pytest.raises(ValidationError, match="webhook_url"):
        AlertSettings(recipient_role="investor", recipient_id="i-1", webhook_url=url)


# ---- the names the inbox gives ------------------------------------------------------------------------
@pytest.fixture
def market(world) -> World:
    """f-1's open and withdrawn projects, f-2's project, a funded one, and a withdrawn investor beside
    registry_world's verified i-robot and i-bio and pending i-pending."""
    world.put_project("p-vision", owner="f-1")
    world.put_project("p-shelved", owner="f-1", name="搁置项目 Shelved", status="withdrawn")
    world.put_project("p-other", owner="f-2", name="别人的项目 Other")
    world.put_project("p-sold", owner="f-2", name="已融资 Sold", status="funded")
    world.put_investor("i-gone", event_type="InvestorWithdrawn", name="Gone Fund", status="withdrawn")
    return world


ADMIN = Principal("k-a", "admin", None)
ROBOT = Principal("k-i", "investor", "i-robot")


@pytest.mark.parametrize(("who", "kind", "entity_id", "name"), [
    (FOUNDER, "investor", "i-robot", "Robot Fund"),
    (FOUNDER, "investor", "i-pending", None),  # not verified: GET answers the founder 404
    (FOUNDER, "investor", "i-gone", None),  # withdrawn: 404 too
    (FOUNDER, "project", "p-vision", "视觉质检 VisionQC"),
    (FOUNDER, "project", "p-shelved", "搁置项目 Shelved"),  # its own, withdrawn: which of its projects it was for
    (FOUNDER, "project", "p-other", None),  # another founder's: 403
    (ROBOT, "project", "p-vision", "视觉质检 VisionQC"),
    (ROBOT, "project", "p-shelved", None),  # no longer open: no longer available, though GET still reads it
    (ROBOT, "project", "p-sold", None),
    (ROBOT, "investor", "i-robot", "Robot Fund"),  # itself
    (ROBOT, "investor", "i-bio", None),  # another investor: 403
    (Principal("k-p", "investor", "i-pending"), "project", "p-vision", None),  # the library is closed to it: 409
    (Principal("k-g", "investor", "i-gone"), "investor", "i-gone", "Gone Fund"),  # its own profile it always reads
    (ADMIN, "project", "p-other", "别人的项目 Other"),
    (ADMIN, "project", "p-shelved", None),
    (ADMIN, "investor", "i-gone", None),
    (FOUNDER, "investor", "i-none", None),
    (ADMIN, "project", "p-none", None),
])
def test_an_alert_names_what_the_reader_may_read_while_it_is_in_the_market(market, who, kind, entity_id, name):
    names = MatchNames(market.view, who)
    assert (names.investor if kind == "investor" else names.project)(entity_id) == name
    if name is not None:  # never more than the reader's own GET shows
        read = policy.read_investor if kind == "investor" else policy.read_project
        assert read(market.view, who, entity_id).name == name


@pytest.mark.parametrize(("reader", "verification", "shown"), [("i-robot", "verified", True),
                                                                ("i-robot", "rejected", False)])
def test_an_alerts_reasons_are_shown_while_the_reader_may_read_the_counterpart(market, commands, reader,
                                                                              verification, shown):
    alert = evaluator(market).for_project("p-vision")[0]
    assert alert.recipient_id == reader and alert.matches[0].reasons
    commands.store.add_alert(alert, datetime.now(UTC))
    market.put_investor(reader, event_type="InvestorRejected" if verification == "rejected" else "InvestorVerified",
                        name="Robot Fund", verification=verification)
    who = Principal("k-i", "investor", reader)
    out = alert_out(commands.alert(who, alert.alert_id), commands, False, MatchNames(market.view, who))
    assert (out.matches[0].project_name is not None, bool(out.matches[0].reasons)) == (shown, shown)
