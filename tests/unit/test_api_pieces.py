"""The API's pure pieces: request/response shapes, error wording, cursors, offset tokens, key resolution."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from pydantic import ValidationError

from api.auth import ADMIN, FailedAuthThrottle, KeyRing, TooManyFailures, hash_key
from api.consistency import LagProbe
from api.errors import domain_error, validation_errors
from api.pagination import MAX_OFFSET, decode_cursor, encode_cursor, next_cursor
from api.routes.alerts import list_searches
from matcher.errors import InvalidRequest
from matcher.ports import Delivery
from matcher.versioned import Versioned
from matcher.view import ReadModel
from models.alerts import SavedSearch
from models.api import (
    FeedbackCreate,
    InvestorCreate,
    InvestorPublic,
    ProjectCreate,
    ProjectPrivate,
    ProjectPublic,
    RoadshowCreate,
)
from models.api_alerts import AlertSettingsUpdate
from models.entities import Investor, Project
from models.events import ApiKey
from tests.factories import event, project, roadshow


def test_request_shapes_carry_exactly_the_fields_a_caller_may_set():
    assert set(ProjectCreate.model_fields) == set(Project.model_fields) - {"status", "owner"}
    assert set(InvestorCreate.model_fields) == set(Investor.model_fields) - {"verification", "rejection_reason",
                                                                             "status"}


def test_public_shapes_have_no_contact_and_no_owner():
    assert not {"contact", "owner"} & set(ProjectPublic.model_fields)
    assert "contact" not in InvestorPublic.model_fields
    assert {"contact", "owner"} <= set(ProjectPrivate.model_fields)


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


def test_tabs_and_newlines_are_fine_in_user_text():
    body = project().model_dump(exclude={"status", "owner"})
    text = "第一行\n\tsecond line\r\nthird"
    assert ProjectCreate.model_validate({**body, "summary": text}).summary == text


_ROADSHOW = {"title": "t", "theme": "机器人", "date": "2026-12-10", "n_projects": 2, "m_investors": 2}


@pytest.mark.parametrize(("change", "field", "says"), [
    ({"sector_quota": {"ai": True}}, "sector_quota", "sector_quota[ai] must be an integer >= 0; got True"),
    ({"sector_quota": {"ai": -1}}, "sector_quota", "sector_quota[ai] must be an integer >= 0; got -1"),
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


@pytest.mark.parametrize("cursor", ["x", "e30", encode_cursor(MAX_OFFSET + 1), "eyJvIjogLTF9", "eyJvIjogdHJ1ZX0"])
def test_foreign_cursors_are_rejected_naming_cursor(cursor):
    with pytest.raises(InvalidRequest, match="^cursor must be"):
        decode_cursor(cursor)


def test_a_short_page_has_no_next_cursor():
    assert next_cursor(0, 3, 10) is None and decode_cursor(next_cursor(20, 10, 10)) == 30


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
    assert ring.resolve("a" * 32) == ADMIN and ring.resolve("b" * 32) is None and ring.resolve("") is None
    issued = ApiKey(key_hash=hash_key("founder-key"), role="founder", entity_id="f-1")
    view.apply(event("ApiKeyIssued", "k-1", issued))
    who = ring.resolve("founder-key")
    assert who is not None and (who.key_id, who.role, who.entity_id) == ("k-1", "founder", "f-1")
    view.apply(event("ApiKeyRevoked", "k-1", issued.model_copy(update={"revoked": True}), version=2))
    assert ring.resolve("founder-key") is None
    assert KeyRing(view, admin_key=None).resolve("a" * 32) is None


def test_an_address_is_refused_after_limit_failures_until_the_oldest_is_a_window_old():
    now = [0.0]
    throttle = FailedAuthThrottle(limit=3, window_s=60.0, clock=lambda: now[0])
    for second in (0.0, 10.0, 20.0):
        now[0] = second
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    with pytest.raises(TooManyFailures) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.retry_after_s == 40 and "3 unknown or revoked API keys" in str(refused.value)
    throttle.check("10.0.0.2")  # other addresses are not affected
    now[0] = 60.0  # the first failure has expired: one more is answered
    throttle.check("10.0.0.1")
    throttle.failed("10.0.0.1")
    with pytest.raises(TooManyFailures):
        throttle.check("10.0.0.1")
    now[0] = 200.0
    throttle.check("10.0.0.1")


def test_the_throttle_forgets_the_least_recently_failing_addresses_first_and_limit_0_is_off():
    throttle = FailedAuthThrottle(limit=1, max_clients=2)
    for client in ("a", "b", "a", "c"):  # "b" failed least recently when "c" arrives
        throttle.failed(client)
    throttle.check("b")
    for client in ("a", "c"):
        with pytest.raises(TooManyFailures):
            throttle.check(client)
    off = FailedAuthThrottle(limit=0)
    for _ in range(100):
        off.failed("a")
    off.check("a")


def test_the_saved_search_list_pages_past_the_ranked_lists_offset_cap():
    # a plain list: an admin's view of every account's searches must page to its end
    now = datetime(2026, 1, 1, tzinfo=UTC)
    searches = [Versioned(f"s-{n:04d}", 1, SavedSearch(owner_role="investor", owner_id=f"i-{n}"), now)
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
