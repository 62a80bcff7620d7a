"""The API's pure pieces: request/response shapes, error wording, cursors, offset tokens, key resolution."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from fastapi import Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.testclient import TestClient
from kafka import TopicPartition
from pydantic import ValidationError

from api.app import create_app
from api.auth import ADMIN, FailedAuthThrottle, KeyRing, TooManyFailures, Unauthorized, hash_key
from api.consistency import LagProbe, OffsetToken
from api.deps import authenticate, client_address, principal
from api.errors import domain_error, validation_errors
from api.pagination import AFTER_KEY, MAX_OFFSET, decode_cursor, encode_cursor, next_cursor, plain_page
from api.policy import investor_private, investor_public
from api.routes.alerts import list_searches
from matcher.commands import Principal
from matcher.errors import InvalidRequest
from matcher.ports import Delivery
from matcher.versioned import Versioned
from matcher.view import ReadModel
from models.alerts import SavedSearch
from models.api import (
    FeedbackCreate,
    IntroCreate,
    InvestorCreate,
    InvestorPublic,
    InvestorUpdate,
    KeyCreate,
    ProjectCreate,
    ProjectPrivate,
    ProjectPublic,
    ProjectUpdate,
    RoadshowCreate,
    RoadshowExpire,
    RoadshowMove,
)
from models.api_alerts import AlertSettingsUpdate, SavedSearchCreate, SavedSearchUpdate
from models.entities import Investor, Project
from models.events import ApiKey, decode_event
from models.roadshows import Roadshow
from models.settings import Settings
from tests.factories import event, investor, project, roadshow


def test_request_shapes_carry_exactly_the_fields_a_caller_may_set():
    assert set(ProjectCreate.model_fields) == set(Project.model_fields) - {"status", "owner"}
    assert set(InvestorCreate.model_fields) == set(Investor.model_fields) - {"verification", "rejection_reason",
                                                                             "status"}


def test_public_shapes_have_no_contact_and_no_owner():
    assert not {"contact", "owner"} & set(ProjectPublic.model_fields)
    assert "contact" not in InvestorPublic.model_fields
    assert {"contact", "owner"} <= set(ProjectPrivate.model_fields)


@pytest.mark.parametrize(("verification", "status", "in_market"), [
    ("pending", "active", False), ("verified", "active", True), ("verified", "withdrawn", False)])
def test_an_investors_own_profile_says_whether_it_is_in_the_market(verification, status, in_market):
    found = Versioned("i-1", 1, investor(verification=verification, status=status), datetime(2026, 1, 1, tzinfo=UTC))
    assert investor_private(found).in_market is in_market
    assert "in_market" not in investor_public(found).model_dump()


def test_request_shapes_reject_like_the_entities_do():
    body = project().model_dump(exclude={"status", "owner"})
    with pytest.raises(ValidationError) as api_error:
        ProjectCreate.model_validate({**body, "stage": "series z"})
    with pytest.raises(ValidationError) as entity_error:
        Project.model_validate({**body, "stage": "series z"})
    assert validation_errors(api_error.value.errors()) == validation_errors(entity_error.value.errors())


@pytest.mark.parametrize(("error", "field", "message"), [
    ({"type": "literal_error", "loc": ("query", "stage", 0), "msg": "", "input": "series z",
      "ctx": {"expected": "'idea', 'seed' or 'a'"}}, "stage", "must be one of idea, seed, a; got 'series z'"),
    ({"type": "missing", "loc": ("body", "name"), "msg": "Field required", "input": {}}, "name", "is required"),
    ({"type": "greater_than", "loc": ("body", "amount_sought_cny"), "msg": "", "input": -5, "ctx": {"gt": 0}},
     "amount_sought_cny", "must be > 0; got -5"),
    ({"type": "value_error", "loc": ("body",), "msg": "Value error, ticket_min_cny must be <= ticket_max_cny",
      "input": {}}, "ticket_min_cny", "must be <= ticket_max_cny"),
    ({"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}, "body",
     "a JSON body is required"),
    # a body that is no JSON object: pydantic's "Input should be..." names no field
    ({"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be a valid dictionary or object to "
      "extract fields from", "input": [1, 2]}, "body", "must be a JSON object"),
    ({"type": "dict_type", "loc": ("body",), "msg": "Input should be a valid dictionary", "input": "str"}, "body",
     "must be a JSON object"),
])
def test_validation_errors_name_the_field_and_what_is_accepted(error, field, message):
    body = validation_errors([error])
    assert [(e.field, e.message) for e in body.errors] == [(field, message)]
    assert body.detail == f"{field}: {message}"


def test_domain_messages_gain_a_field_and_say_it_once():
    body = domain_error("ticket_min must be <= ticket_max")
    assert body.detail == "ticket_min: must be <= ticket_max" and body.errors[0].field == "ticket_min"
    assert body.errors[0].message == "must be <= ticket_max"
    assert domain_error("X-Wait-For must be an offset_token").detail == "X-Wait-For: must be an offset_token"
    assert domain_error("something odd").errors == []


def _problems(model: type, data: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    body = validation_errors(err.value.errors())
    assert body.detail == "; ".join(f"{e.field}: {e.message}" for e in body.errors)
    return {e.field: e.message for e in body.errors}


def test_a_field_named_by_its_own_message_is_said_once():
    assert _problems(FeedbackCreate, {"project_id": "p-1", "action": "passed"}) == {
        "reason": "is required when action is 'passed'"}
    assert _problems(FeedbackCreate, {"project_id": "p-1", "action": "liked"})["action"].startswith(
        "must be one of viewed, saved, unsaved, passed, unpassed")


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "\x00abc"}, "name"),
    ({"summary": "a\x1bb"}, "summary"),
    ({"traction": "\x7f"}, "traction"),
    ({"city": "宁\x08波"}, "city"),
    ({"incubator": "\x00"}, "incubator"),
    ({"contact": {"phone": "138\x00"}}, "contact.phone"),
])
def test_user_text_with_control_characters_is_rejected_naming_the_field(change, field):
    body = project().model_dump(exclude={"status", "owner"})
    problems = _problems(ProjectCreate, {**body, **change})
    assert list(problems) == [field] and problems[field].startswith("must not contain control characters (U+00")
    with pytest.raises(ValidationError, match="must not contain control characters"):
        Project.model_validate({**body, **change})  # the event payload rejects it too


def test_bidirectional_overrides_are_rejected_and_right_to_left_text_with_isolates_and_marks_is_fine():
    body = project().model_dump(exclude={"status", "owner"})
    problems = _problems(ProjectCreate, {**body, "name": "مرحبا بالعالم \u202e evil"})
    assert problems == {"name": "must not contain bidirectional embedding or override characters (U+202E)"}
    fine = "مرحبا بالعالم \u2067שלום\u2069 \u200fok"
    assert ProjectCreate.model_validate({**body, "name": fine}).name == fine
    logged = Project.model_validate({**body, "name": "old \u202d"}, context={"from_log": True})  # accepted before
    assert logged.name == "old \u202d"


def test_tabs_and_newlines_are_fine_in_user_text():
    body = project().model_dump(exclude={"status", "owner"})
    text = "第一行\n\tsecond line\r\nthird"
    assert ProjectCreate.model_validate({**body, "summary": text}).summary == text


_ROADSHOW = {"title": "t", "theme": "机器人", "date": "2026-12-10", "n_projects": 2, "m_investors": 2}


@pytest.mark.parametrize(("change", "field", "says"), [
    # the sector is named once, in the field (not "sector_quota: sector_quota[ai] must be...")
    ({"sector_quota": {"ai": True}}, "sector_quota.ai", "must be an integer, not true"),
    ({"sector_quota": {"ai": -1}}, "sector_quota.ai", "must be >= 0; got -1"),
    ({"date": "1900-01-01"}, "date", "must be between 2000-01-01 and 2099-12-31; got 1900-01-01"),
    ({"date": "2100-01-01"}, "date", "must be between 2000-01-01 and 2099-12-31; got 2100-01-01"),
    ({"title": "a\x00"}, "title", "must not contain control characters (U+0000)"),
    ({"sectors": ["rocketry"]}, "sectors", "sector must be one of ai, smart_manufacturing"),
])
def test_bad_roadshow_fields_are_rejected_by_the_request_and_the_entity(change, field, says):
    problems = _problems(RoadshowCreate, {**_ROADSHOW, **change})
    assert list(problems) == [field] and problems[field].startswith(says)
    with pytest.raises(ValidationError, match=field):
        roadshow(**change)
    assert RoadshowCreate.model_validate({**_ROADSHOW, "sector_quota": {"ai": 2}}).sector_quota == {"ai": 2}


@pytest.mark.parametrize(("url", "says"), [
    ("http://example.com:99999/", "port must be 1-65535; got '99999'"),
    ("http://example.com:0/", "port must be 1-65535; got '0'"),
    ("http://example.com:http/", "port must be 1-65535; got 'http'"),
    ("http://exa mple.com/", "must not contain spaces or control characters"),
    ("http://exa\tmple.com/", "must not contain spaces or control characters"),
    ("http://exa_mple.com/", "host 'exa_mple.com' is not a valid host name"),
    ("http://-bad-.example/", "is not a valid host name"),
    ("http://a..b/", "is not a valid host name"),
    ("http://[not-ip]/", "must be an http or https URL with a host"),
])
def test_a_bad_webhook_url_names_what_is_wrong(url, says):
    problems = _problems(AlertSettingsUpdate, {"webhook_url": url})
    assert list(problems) == ["webhook_url"] and says in problems["webhook_url"], problems


@pytest.mark.parametrize("url", ["https://hooks.example:8443/in?x=1", "http://[::1]:65535/x", "http://10.0.0.7/hook",
                                 "https://例子.中国/hook", "https://hooks.example./in"])
def test_good_webhook_urls_pass(url):
    assert AlertSettingsUpdate.model_validate({"webhook_url": url}).webhook_url == url


@pytest.mark.parametrize("offset", [0, 10, MAX_OFFSET])
def test_cursors_round_trip(offset):
    assert decode_cursor(encode_cursor(offset)) == offset


@pytest.mark.parametrize("cursor", ["x", "e30", encode_cursor(MAX_OFFSET + 1), "eyJvIjogLTF9", "eyJvIjogdHJ1ZX0",
                                    "WzFd", encode_cursor([1, "p-1"], AFTER_KEY)])
def test_foreign_cursors_are_rejected_naming_cursor(cursor):
    with pytest.raises(InvalidRequest, match="^cursor must be"):
        decode_cursor(cursor)


@pytest.mark.parametrize("cursor", [
    "x", "e30", "WzFd", "bnVsbA", encode_cursor("c" * 32, "b"),  # no JSON, {}, [1], null, the inbox's cursor
    encode_cursor([True, "p-1"], AFTER_KEY), encode_cursor(["2026-01-01", "p-1"], AFTER_KEY),
    encode_cursor([1], AFTER_KEY), encode_cursor([1, 2], AFTER_KEY), encode_cursor([1, "p-1", 3], AFTER_KEY),
])
def test_a_malformed_plain_list_cursor_is_a_422_naming_cursor_and_what_it_takes(cursor):
    with pytest.raises(InvalidRequest) as err:
        plain_page([], cursor, 10)
    assert domain_error(str(err.value)).errors[0].field == "cursor"
    assert str(err.value).startswith("cursor must be the next_cursor of this list's previous page (leave it out for "
                                     "the first page); got ")


@pytest.mark.parametrize("offset", [0, 2, 500])
def test_an_offset_cursor_from_before_keyset_paging_is_told_to_start_again(offset):
    with pytest.raises(InvalidRequest, match="an offset cursor, which this list no longer takes: start again from "
                                             "the first page$"):
        plain_page([], encode_cursor(offset), 10)


def test_only_a_page_with_more_after_it_has_a_next_cursor():
    assert next_cursor(0, 10, 3) is None and next_cursor(0, 10, 10) is None  # short, or ending the list exactly
    assert decode_cursor(next_cursor(20, 10, 11)) == 30


def _probe(view: ReadModel) -> LagProbe:
    indexer = SimpleNamespace(partitions=[TopicPartition("mm.projects", 0), TopicPartition("mm.projects", 1)],
                              end_offsets=lambda timeout_ms: {("mm.projects", 0): 5, ("mm.projects", 1): 2})
    return LagProbe(view, indexer)


def test_offset_tokens_are_parsed_and_checked_against_the_partitions_read():
    probe = _probe(ReadModel("fake"))
    assert probe.parse("mm.projects:1:42", "wait_for").offset == 42
    for bad in ("mm.projects:2:1", "1:2", "mm.projects:0:-1", "a b:0:1"):
        with pytest.raises(InvalidRequest, match="^wait_for must"):
            probe.parse(bad, "wait_for")


def test_lag_is_log_end_minus_applied_and_rises_with_our_own_writes():
    view = ReadModel("fake")
    probe = _probe(view)
    assert probe.lag() == 0  # nothing known yet
    probe.refresh()
    view.mark_offsets({("mm.projects", 0): 3})
    assert probe.lag_by_topic() == {"mm.projects": 2 + 2}
    probe.observe(Delivery("mm.projects", 1, 9))
    assert probe.lag() == 2 + 10
    assert probe.written(probe.parse("mm.projects:1:9", "t"))
    assert not probe.written(probe.parse("mm.projects:1:10", "t"))


def test_keys_resolve_to_principals_until_revoked_and_the_admin_key_needs_no_event():
    view = ReadModel("fake")
    ring = KeyRing(view, admin_key="a" * 32)
    assert (ring.resolve(hash_key("a" * 32)) == ADMIN and ring.resolve(hash_key("b" * 32)) is None
            and ring.resolve(hash_key("")) is None)
    issued = ApiKey(key_hash=hash_key("founder-key"), role="founder", entity_id="f-1")
    view.apply(event("ApiKeyIssued", "k-1", issued))
    who = ring.resolve(hash_key("founder-key"))
    assert who is not None and (who.key_id, who.role, who.entity_id) == ("k-1", "founder", "f-1")
    view.apply(event("ApiKeyRevoked", "k-1", issued.model_copy(update={"revoked": True}), version=2))
    assert ring.resolve(hash_key("founder-key")) is None
    assert KeyRing(view, admin_key=None).resolve(hash_key("a" * 32)) is None


def test_an_address_is_refused_after_limit_different_keys_until_the_oldest_is_a_window_old():
    now = [0.0]
    throttle = FailedAuthThrottle(limit=3, window_s=60.0, clock=lambda: now[0])
    for _ in range(10):  # a tab left open with a revoked key repeats it: one key, however often
        throttle.failed("10.0.0.1", "mmk_revoked")
    throttle.check("10.0.0.1")
    for second, key in ((10.0, "mmk_a"), (20.0, "mmk_b")):
        now[0] = second
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1", key)
    with pytest.raises(TooManyFailures) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.retry_after_s == 40 and "3 different unknown or revoked API keys" in str(refused.value)
    throttle.check("10.0.0.2")  # other addresses are not affected
    now[0] = 60.0  # the revoked key's failure has expired: one more is answered
    throttle.check("10.0.0.1")
    throttle.failed("10.0.0.1", "mmk_c")
    with pytest.raises(TooManyFailures):
        throttle.check("10.0.0.1")
    now[0] = 200.0
    throttle.check("10.0.0.1")
    assert "10.0.0.1" not in throttle._failures  # forgotten once nothing is left in the window


def test_the_throttle_forgets_the_least_recently_failing_addresses_first_and_limit_0_is_off():
    throttle = FailedAuthThrottle(limit=1, max_clients=2)
    for client in ("a", "b", "a", "c"):  # "b" failed least recently when "c" arrives
        throttle.failed(client, "mmk_x")
    throttle.check("b")
    for client in ("a", "c"):
        with pytest.raises(TooManyFailures):
            throttle.check(client)
    off = FailedAuthThrottle(limit=0)
    for n in range(100):
        off.failed("a", f"mmk_{n}")
    off.check("a")


def test_a_key_is_hashed_once_for_its_lookup_and_its_failure_and_a_refused_client_is_not_looked_up():
    throttle = FailedAuthThrottle(limit=1)
    request = SimpleNamespace(client=SimpleNamespace(host="10.0.0.1"))
    looked_up: list[str] = []
    assert authenticate(request, throttle, "mmk_x", looked_up.append) is None  # type: ignore[arg-type]
    assert looked_up == [hash_key("mmk_x")] and list(throttle._failures["10.0.0.1"]) == looked_up
    with pytest.raises(TooManyFailures):
        authenticate(request, throttle, "mmk_y", looked_up.append)  # type: ignore[arg-type]
    assert looked_up == [hash_key("mmk_x")]


class LaggingReplica:
    """What `principal` reads (svc.keys, svc.probe): a replica that applies the write a token names (issuing or
    revoking one key) only when a request waits for it."""

    def __init__(self, digest: str, issued: bool) -> None:
        self.digest, self.known = digest, not issued  # before the write: a revocation's key is still known
        self.issued = issued
        self.keys, self.probe = self, self
        self.failed_auth, self.read_wait_seconds = FailedAuthThrottle(limit=0), 2.0

    def resolve(self, digest: str):
        return Principal("k-1", "founder", "f-1") if digest == self.digest and self.known else None

    def written(self, token: OffsetToken) -> bool:
        return True

    def wait(self, token: OffsetToken, timeout: float) -> bool:
        self.known = self.issued
        return True

    def lag(self) -> int:
        return 0


@pytest.mark.parametrize("issued", [True, False], ids=["issued", "revoked"])
def test_a_request_waiting_for_a_keys_issue_or_revocation_is_answered_as_after_it(issued):
    svc = LaggingReplica(hash_key("mmk_x"), issued)
    request = SimpleNamespace(client=SimpleNamespace(host="10.0.0.1"), state=SimpleNamespace())
    credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials="mmk_x")
    token = OffsetToken("keys", 0, 5)
    if issued:
        response = Response()
        assert principal(request, response, svc, credentials, token).entity_id == "f-1"  # type: ignore[arg-type]
        assert response.headers["X-Consistency"] == "fresh"
    else:
        with pytest.raises(Unauthorized):
            principal(request, Response(), svc, credentials, token)  # type: ignore[arg-type]


def test_wrong_metrics_tokens_and_unknown_keys_count_together_and_no_header_counts_not_at_all():
    token = "scrape-" + "s" * 20
    settings = Settings(admin_api_key="a" * 32, metrics_token=token, auth_failures_per_minute=2)
    container = SimpleNamespace(settings=settings, view=ReadModel("fake"), commands=None, matches=None, indexer=None)
    with TestClient(create_app(container)) as client:
        for _ in range(5):  # a scraper not given the token yet is no guesser
            r = client.get("/metrics")
            assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
        r = client.get("/metrics", headers={"Authorization": "Bearer wrong-token"})
        assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert client.get("/v1/projects", headers={"Authorization": "Bearer mmk_unknown"}).status_code == 401
        for path, key in (("/metrics", token), ("/v1/projects", "a" * 32)):  # refused even with a valid one
            r = client.get(path, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 429 and "2 different unknown or revoked API keys" in r.json()["detail"]
            assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert client.get("/metrics").status_code == 401  # told what to send, as before


def test_an_ipv6_client_counts_by_its_64_and_others_by_their_address():
    def address(host: str) -> str:
        return client_address(SimpleNamespace(client=SimpleNamespace(host=host)))  # type: ignore[arg-type]

    assert address("2001:db8:1:2:aaaa::1") == address("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert address("2001:db8:1:3::1") != address("2001:db8:1:2::1")
    assert address("10.0.0.1") == "10.0.0.1" and address("testclient") == "testclient"


def test_an_ipv4_client_on_a_dual_stack_socket_counts_by_its_own_address():
    def address(host: str) -> str:
        return client_address(SimpleNamespace(client=SimpleNamespace(host=host)))  # type: ignore[arg-type]

    # uvicorn behind a dual-stack proxy reports IPv4 peers as IPv4-mapped IPv6 addresses, all in ::/64
    assert address("::ffff:203.0.113.9") == address("203.0.113.9") == "203.0.113.9"
    assert address("::ffff:203.0.113.9") != address("::ffff:198.51.100.7")
    throttle = FailedAuthThrottle(limit=1)
    request = SimpleNamespace(client=SimpleNamespace(host="::ffff:203.0.113.9"))
    authenticate(request, throttle, "guess", lambda digest: None)  # type: ignore[arg-type]
    with pytest.raises(TooManyFailures):
        authenticate(request, throttle, "guess-2", lambda digest: None)  # type: ignore[arg-type]
    other = SimpleNamespace(client=SimpleNamespace(host="::ffff:198.51.100.7"))
    assert authenticate(other, throttle, "k", lambda digest: "found") == "found"  # type: ignore[arg-type]


def test_the_saved_search_list_pages_past_the_ranked_lists_offset_cap():
    # a plain list: an admin's view of every account's searches must page to its end
    now = datetime(2026, 1, 1, tzinfo=UTC)
    searches = [Versioned(f"s-{n:04d}", 1, SavedSearch(owner_role="investor", owner_id=f"i-{n}", text="视觉"), now)
                for n in range(1200)]
    alerts = SimpleNamespace(searches=lambda who: searches)
    seen, cursor = [], None
    while True:
        page = list_searches(ADMIN, alerts, limit=100, cursor=cursor)
        seen += [s.id for s in page.data]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [s.id for s in searches]


# ---- true/false are no numbers, one shared check ------------------------------------------------------------
def _investor_body(**change: object) -> dict:
    from tests.factories import investor
    return {**investor().model_dump(mode="json", exclude={"verification", "rejection_reason", "status"}), **change}


def _project_body(**change: object) -> dict:
    return {**project().model_dump(mode="json", exclude={"status", "owner"}), **change}


@pytest.mark.parametrize(("model", "body", "field", "kind"), [
    (ProjectCreate, _project_body(amount_sought_cny=True), "amount_sought_cny", "an integer"),
    (ProjectCreate, _project_body(team_size=False), "team_size", "an integer"),
    (ProjectUpdate, _project_body(expected_version=True), "expected_version", "an integer"),
    (InvestorCreate, _investor_body(ticket_min_cny=True), "ticket_min_cny", "an integer"),
    (InvestorCreate, _investor_body(ticket_max_cny=True), "ticket_max_cny", "an integer"),
    (InvestorCreate, _investor_body(capacity_per_month=True), "capacity_per_month", "an integer"),
    (InvestorCreate, _investor_body(portfolio=[{"name": "x", "year": True}]), "portfolio.0.year", "an integer"),
    (InvestorUpdate, _investor_body(expected_version=True), "expected_version", "an integer"),
    (RoadshowCreate, {**_ROADSHOW, "n_projects": True}, "n_projects", "an integer"),
    (RoadshowCreate, {**_ROADSHOW, "slots": True}, "slots", "an integer"),
    (RoadshowCreate, {**_ROADSHOW, "fit_threshold": True}, "fit_threshold", "a number"),
    (RoadshowMove, {**_ROADSHOW, "expected_version": True}, "expected_version", "an integer"),
    (RoadshowMove, {**_ROADSHOW, "slot_minutes": True, "expected_version": 1}, "slot_minutes", "an integer"),
    (RoadshowExpire, {"older_than_hours": True}, "older_than_hours", "a number"),
    (AlertSettingsUpdate, {"max_per_hour": True}, "max_per_hour", "an integer"),
    (AlertSettingsUpdate, {"expected_version": False}, "expected_version", "an integer"),
])
def test_true_and_false_are_refused_where_a_number_is_asked(model, body, field, kind):
    problems = _problems(model, {k: v for k, v in body.items() if k in model.model_fields})
    said = str(body_value(body, field)).lower()
    assert list(problems) == [field] and problems[field] == f"must be {kind}, not {said}"


def body_value(body: dict, field: str) -> object:
    value: object = body
    for part in field.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]  # type: ignore[index]
    return value


def test_the_entities_refuse_booleans_too_and_float_fields_still_take_integers():
    with pytest.raises(ValidationError, match="amount_sought_cny\n  Value error, must be an integer, not true"):
        project(amount_sought_cny=True)
    with pytest.raises(ValidationError, match="fit_threshold"):
        roadshow(fit_threshold=False)
    assert RoadshowCreate.model_validate({**_ROADSHOW, "fit_threshold": 1}).fit_threshold == 1.0
    assert RoadshowExpire.model_validate({"older_than_hours": 5}).older_than_hours == 5.0
    assert ProjectCreate.model_validate(_project_body(team_size="12")).team_size == 12  # lax as before otherwise


def _numbers_without_the_shared_check(model: type, seen: set[type]) -> set[str]:
    """Every int or float a model (and the models inside it) holds that is not an `Int`/`Number` of
    models.entities (whose check refuses true and false)."""
    from typing import Annotated, get_args, get_origin

    from pydantic import BaseModel

    from models.entities import Int, Number

    shared = {get_args(Int)[1], get_args(Number)[1]}

    def walk(path: str, tp: object, metadata: list) -> set[str]:
        if get_origin(tp) is Annotated:
            base, *more = get_args(tp)
            return walk(path, base, [*metadata, *more])
        if tp in (int, float):
            return set() if shared & {m for m in metadata if not isinstance(m, dict | list)} else {path}
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return _numbers_without_the_shared_check(tp, seen)
        return set().union(*(walk(path, arg, []) for arg in get_args(tp))) if get_args(tp) else set()

    if model in seen:
        return set()
    seen.add(model)
    out: set[str] = set()
    for name, info in model.model_fields.items():
        out |= walk(f"{model.__name__}.{name}", info.annotation, list(info.metadata))
    return out


def test_every_number_of_a_request_or_an_entity_refuses_booleans_through_the_one_shared_type():
    from models.api import Body
    from models.events import PAYLOADS, Event

    def subclasses(cls: type) -> set[type]:
        return set(cls.__subclasses__()).union(*(subclasses(c) for c in cls.__subclasses__()))

    seen: set[type] = set()
    missing = set().union(*(_numbers_without_the_shared_check(m, seen)
                            for m in [*subclasses(Body), *PAYLOADS.values(), Event]))
    assert not missing, sorted(missing)


@pytest.mark.parametrize("text", ["🔋", ",,, ,", "***", "— · —"])
def test_saved_search_text_without_a_letter_or_digit_is_refused_naming_text(text):
    # as /v1/search's q: nothing to look for (",,, ," has no term at all, so it matched every counterpart)
    for model, body in ((SavedSearchCreate, {}), (SavedSearchUpdate, {"expected_version": 1})):
        problems = _problems(model, {**body, "text": text, "sectors": ["ai"]})
        assert problems == {"text": f"must contain a letter or digit (Chinese, English or mixed); got {text!r}"}


@pytest.mark.parametrize("body", [{}, {"name": "everything"}, {"min_score": 0}, {"text": "  ", "sectors": []}])
def test_a_saved_search_without_criteria_is_refused_saying_which_there_are(body):
    assert _problems(SavedSearchCreate, body) == {"body": "a saved search needs a criterion: text, sectors, stages, "
                                                          "cities, ticket_min_cny, ticket_max_cny or a min_score above "
                                                          "0 (one without any would match everything)"}


@pytest.mark.parametrize("body", [{"text": "储能"}, {"text": "AI, 🔋"}, {"sectors": ["ai"]}, {"stages": ["seed"]},
                                  {"cities": ["宁波"]}, {"ticket_min_cny": 0}, {"ticket_max_cny": 5_000_000},
                                  {"min_score": 0.3}])
def test_any_one_criterion_makes_a_saved_search(body):
    SavedSearchCreate.model_validate(body)
    SavedSearch.model_validate({**body, "owner_role": "investor", "owner_id": "i-1"})


def test_saved_searches_the_log_holds_without_criteria_or_with_symbols_only_still_load():
    for fields in ({}, {"text": "🔋"}, {"text": ",,, ,", "min_score": 0.0}):
        stored = SavedSearch.model_validate({**fields, "owner_role": "investor", "owner_id": "i-1"},
                                            context={"from_log": True})
        assert decode_event(event("SearchSaved", "s-1", stored).to_bytes()).payload == stored


def test_a_log_written_before_booleans_were_refused_still_validates():
    body = {**_project_body(amount_sought_cny=True, team_size=True), "status": "open"}
    assert Project.model_validate(body, context={"from_log": True}).amount_sought_cny == 1
    stored = Roadshow.model_validate({**roadshow().model_dump(mode="json"), "slots": True, "fit_threshold": False,
                                      "sector_quota": {"ai": True}}, context={"from_log": True})
    assert (stored.slots, stored.fit_threshold, stored.sector_quota) == (1, 0.0, {"ai": 1})


def test_a_log_written_before_roadshow_dates_and_times_had_to_be_written_still_validates():
    fields = {**roadshow().model_dump(mode="json"), "date": 86_400, "start_time": 5}  # seconds, as pydantic reads them
    stored = Roadshow.model_validate(fields, context={"from_log": True})
    assert (stored.date.isoformat(), stored.start_time.isoformat()) == ("1970-01-02", "00:00:05+00:00")
    assert _problems(Roadshow, {**fields, "date": True}) == {
        "date": "must be a date written YYYY-MM-DD, such as 2026-12-10; got true",
        "start_time": "must be a time of day written HH:MM, such as 14:00; got 5"}


# ---- messages in words ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "field", "says"), [
    ({"contact": {"email": "bad"}}, "contact.email", "must be an email address such as name@example.com; got 'bad'"),
    ({"name": "\ud800"}, "name", "must be Unicode text; it holds a lone surrogate (half of a UTF-16 pair, "
                                 "such as \\ud800); got '\\ud800'"),
])
def test_project_field_messages_say_what_is_accepted_in_words(change, field, says):
    assert _problems(ProjectCreate, _project_body(**change)) == {field: says}


def test_every_pattern_of_the_models_and_the_api_is_described_in_words():
    from fastapi import FastAPI

    from api.errors import pattern_words
    from api.routes import alerts, feedback, intros, investors, keys, matches, me, ops, projects, roadshows
    from models.api import Body
    from models.events import PAYLOADS

    app = FastAPI()
    for module in (projects, investors, matches, feedback, intros, keys, ops, roadshows, alerts, me):
        app.include_router(module.router)
    schemas = [app.openapi(), *(m.model_json_schema() for m in [*Body.__subclasses__(), *PAYLOADS.values()])]

    def patterns(node: object) -> set[str]:
        if isinstance(node, dict):
            found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
            return found.union(*(patterns(v) for v in node.values()))
        return set().union(*(patterns(v) for v in node)) if isinstance(node, list) else set()

    found = set().union(*(patterns(s) for s in schemas))
    assert len(found) >= 4 and {p for p in found if pattern_words(p) is None} == set()
    problems = _problems(IntroCreate, {"project_id": "../etc", "investor_id": "i-1"})
    assert problems == {"project_id": "must be an id of 1 to 64 letters, digits, '.', '_', ':' or '-', starting with "
                                      "a letter or digit (such as p-3f2a9c1b7d4e); got '../etc'"}


@pytest.mark.parametrize(("error", "says"), [
    # pydantic reads a number as a Unix time: "Datetimes provided to dates should have zero time"
    ({"type": "date_from_datetime_inexact", "loc": ("body", "date"), "msg": "Datetimes provided to dates should have "
      "zero time - e.g. be exact dates", "input": 1}, "must be a date written YYYY-MM-DD, such as 2026-12-10; got 1"),
    ({"type": "date_from_datetime_parsing", "loc": ("body", "date"), "msg": "", "input": "2026-13-01",
      "ctx": {"error": "month value is outside expected range of 1-12"}},
     "must be a date written YYYY-MM-DD, such as 2026-12-10 (month value is outside expected range of 1-12); "
     "got '2026-13-01'"),
    ({"type": "time_parsing", "loc": ("body", "date"), "msg": "", "input": "25:00",
      "ctx": {"error": "hour value is outside expected range of 0-23"}},
     "must be a time of day written HH:MM, such as 14:00 (hour value is outside expected range of 0-23); got '25:00'"),
    # a valid JSON body sent without Content-Type: application/json reaches the model as bytes
    ({"type": "model_attributes_type", "loc": ("body",), "msg": "", "input": b'{"name": "x"}'},
     "must be a JSON object sent with the header Content-Type: application/json"),
])
def test_pydantic_messages_become_what_is_accepted(error, says):
    assert [e.message for e in validation_errors([error]).errors] == [says]


def test_roadshow_dates_and_times_must_be_written_and_carry_no_offset():
    assert _problems(RoadshowCreate, {**_ROADSHOW, "date": 1}) == {
        "date": "must be a date written YYYY-MM-DD, such as 2026-12-10; got 1"}
    assert _problems(RoadshowCreate, {**_ROADSHOW, "start_time": 5}) == {
        "start_time": "must be a time of day written HH:MM, such as 14:00; got 5"}
    for model, extra in ((RoadshowCreate, {}), (RoadshowMove, {"expected_version": 1})):
        for offset in ("14:00-05:00", "14:00Z", "06:00+00:00"):
            body = {k: v for k, v in {**_ROADSHOW, **extra, "start_time": offset}.items() if k in model.model_fields}
            problems = _problems(model, body)
            assert list(problems) == ["start_time"], problems
            assert problems["start_time"].startswith("must be a time of day without a UTC offset, such as 14:00")
            assert "China Standard Time (UTC+8)" in problems["start_time"]
    assert RoadshowCreate.model_validate({**_ROADSHOW, "start_time": "09:30"}).start_time.isoformat() == "09:30:00"


def test_a_roadshow_whose_meetings_run_past_midnight_is_refused_naming_its_three_fields():
    problems = _problems(RoadshowCreate, {**_ROADSHOW, "start_time": "23:00", "slots": 50, "slot_minutes": 240})
    assert list(problems) == ["slots", "slot_minutes", "start_time"]
    assert problems["slots"] == (
        "slots, slot_minutes and start_time must keep the meetings within the roadshow's day (by midnight): 50 slots "
        "of 240 minutes from 23:00 end at 07:00 9 days later; 0 such slots fit before midnight, so use fewer or "
        "shorter slots or start earlier")
    assert "end at 00:20 the next day; 3 such slots fit" in _problems(
        RoadshowCreate, {**_ROADSHOW, "start_time": "23:00", "slots": 4})["slots"]
    ends_at_midnight = RoadshowCreate.model_validate({**_ROADSHOW, "start_time": "23:00", "slots": 3})
    assert ends_at_midnight.slots * ends_at_midnight.slot_minutes == 60


# ---- fields named by domain messages ---------------------------------------------------------------------------
@pytest.mark.parametrize(("message", "fields", "shown"), [
    ("recipient_role and recipient_id are required when an admin acts for someone", ["recipient_role", "recipient_id"],
     "recipient_role and recipient_id are required when an admin acts for someone"),
    ("investor_id or project_id is required when an admin saves a search", ["investor_id", "project_id"],
     "investor_id or project_id is required when an admin saves a search"),
    ("project_id of a saved search cannot change; save a new search instead", ["project_id"],
     "project_id of a saved search cannot change; save a new search instead"),
    ("project_id 'p-1' has no founder account to alert", ["project_id"],
     "project_id 'p-1' has no founder account to alert"),
    ("slots, slot_minutes and start_time must fit", ["slots", "slot_minutes", "start_time"],
     "slots, slot_minutes and start_time must fit"),
    ("pin must not name what exclude names: ['p-1']", ["pin"], "must not name what exclude names: ['p-1']"),
    ("X-Wait-For must be an offset_token", ["X-Wait-For"], "must be an offset_token"),
])
def test_domain_messages_name_every_field_they_start_with(message, fields, shown):
    body = domain_error(message)
    assert [(e.field, e.message) for e in body.errors] == [(f, shown) for f in fields]
    assert body.detail == "; ".join(f"{f}: {shown}" for f in fields)


def test_every_invalid_request_the_code_raises_names_a_field():
    """Each `InvalidRequest("...")` written in matcher/ and api/ (placeholders filled with a value) gets a field
    from domain_error, but a ValueError's message passed through as it is."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    messages = []
    for path in [*(root / "matcher").glob("*.py"), *(root / "api").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InvalidRequest" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    messages.append(arg.value)
                elif isinstance(arg, ast.JoinedStr):
                    messages.append("".join(v.value if isinstance(v, ast.Constant) else  # {x!r} is quoted
                                            "'x1'" if getattr(v, "conversion", -1) == ord("r") else "x1"
                                            for v in arg.values))
    nameless = {m for m in messages if not domain_error(m).errors}
    assert len(messages) >= 20
    assert nameless <= {"x1"}, nameless  # str(exc) of a ValueError: its own wording


@pytest.mark.parametrize("role", ["registrar", "admin"])
def test_a_key_for_a_role_without_an_entity_refuses_an_entity_id(role):
    assert _problems(KeyCreate, {"role": role, "entity_id": "x"}) == {
        "entity_id": f"is only for investor, founder and organizer keys; leave it out for a {role} key, which acts "
                     "for no one"}
    assert KeyCreate.model_validate({"role": role, "entity_id": None}).entity_id is None


@pytest.mark.parametrize("role", ["investor", "founder", "organizer"])
def test_a_key_for_a_role_with_an_entity_requires_its_id(role):
    assert _problems(KeyCreate, {"role": role}) == {
        "entity_id": f"is required for a {role} key (the {role} it acts for)"}
    assert KeyCreate.model_validate({"role": role, "entity_id": "e-1"}).entity_id == "e-1"
