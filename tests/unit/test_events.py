import json

import pytest

from models.events import PAYLOADS, InvalidEvent, decode_event
from tests.factories import event, investor, project, sample_payload


def _raw(**changes):
    data = json.loads(event("ProjectSubmitted", "p-1", project()).to_bytes())
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split(".")
        for p in parents:
            target = target[p]
        if value is KeyError:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(data, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"payload.stage": "series z"}, "payload.stage: stage must be one of idea, prototype, seed"),
        ({"payload.sectors": ["space_mining"]}, "sector must be one of ai,"),
        ({"payload.amount_sought_cny": -5}, "payload.amount_sought_cny"),
        ({"payload.name": KeyError}, "payload.name: Field required"),
        ({"entity_version": "two"}, "entity_version"),
        ({"type": "ProjectExploded"}, "type must be one of ProjectSubmitted"),
        ({"payload.summary": "x" * 5001}, "payload.summary"),
        ({"schema_version": 9}, "schema_version must be 1"),
    ],
)
def test_invalid_events_say_which_field_and_what_is_accepted(changes, expected):
    with pytest.raises(InvalidEvent, match=None) as err:
        decode_event(_raw(**changes))
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (None, "tombstone"),
        (b"{" + b" " * 1_000_001 + b"}", "at most 1000000"),
    ],
)
def test_undecodable_bytes_are_rejected_with_a_reason(raw, expected):
    with pytest.raises(InvalidEvent) as err:
        decode_event(raw)
    assert expected in str(err.value)


def test_negative_ticket_and_inverted_range_are_rejected():
    with pytest.raises(ValueError, match="ticket_min_cny must be <= ticket_max_cny"):
        investor(ticket_min_cny=5_000_000, ticket_max_cny=1_000_000)
    with pytest.raises(ValueError, match="ticket_min_cny"):
        investor(ticket_min_cny=-1)


def test_mixed_language_text_and_emoji_round_trip_unchanged():
    text = "AI 驱动的跨境电商选品 🚀 for Yiwu sellers，月GMV 增长 30%"
    e = event("ProjectSubmitted", "p-1", project(summary=text))
    assert decode_event(e.to_bytes()).payload.summary == text


def test_every_event_type_has_a_payload_model_and_round_trips():
    for kind in PAYLOADS:
        e = event(kind, "x-1", sample_payload(kind))
        assert decode_event(e.to_bytes()) == e
