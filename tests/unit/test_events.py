import json

import pytest

from matcher.view import ReadModel
from models.events import PAYLOADS, EntityVector, InvalidEvent, decode_event, decode_vector, supersedes
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
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),  # json's parser recursed out of the stack
        (b'{"entity_version": ' + b"7" * 5000 + b"}", "4300 digits"),
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


def test_of_two_writes_at_one_version_the_later_wins_and_redeliveries_change_nothing():
    """Two API replicas that updated a project at once both chose version 2; every read model ends on the later
    one in the log (the one compaction keeps), whatever it re-reads from an earlier offset."""
    from matcher.view import ReadModel
    from models.events import EntityVector

    first = event("ProjectSubmitted", "p-1", project(summary="first"))
    a = event("ProjectUpdated", "p-1", project(summary="replica A"), version=2)
    b = event("ProjectUpdated", "p-1", project(summary="replica B"), version=2)
    assert supersedes(b, 2, str(a.event_id)) and not supersedes(b, 2, str(b.event_id)) and not supersedes(a, 3, "")
    live = ReadModel("fake")
    assert [live.apply(e) for e in (first, a, b, b)] == [True, True, True, False]
    assert live.projects["p-1"].value.summary == "replica B"
    for start in range(3):  # a restart re-reads a suffix of the log, in order
        again = ReadModel("fake")
        for e in (first, a, b)[:start]:
            again.apply(e)
        for e in (first, a, b)[start:]:
            again.apply(e)
        assert again.digest() == live.digest()
    assert not live.apply(event("ProjectSubmitted", "p-1", project(summary="older")))  # below the version

    def vector(content_hash: str, x: float) -> EntityVector:
        return EntityVector(entity_id="p-1", entity_version=2, model="fake", content_hash=content_hash,
                            vector=[x, 1.0])
    assert live.apply_vector("projects", vector("text-a", 1.0))
    assert live.apply_vector("projects", vector("text-b", -1.0))  # the later text's vector, same version
    assert not live.apply_vector("projects", vector("text-b", -1.0))  # redelivered
    assert live.project_index is not None and live.project_index.get("p-1")[0] < 0


def test_checks_added_later_refuse_new_input_but_never_an_event_the_log_already_holds():
    from pydantic import ValidationError

    from models.entities import Project
    from models.roadshows import Roadshow

    old = _raw(**{"payload.name": "\x00abc"})  # accepted before control characters were refused
    assert decode_event(old).payload.name == "\x00abc"
    fields = json.loads(old)["payload"]
    with pytest.raises(ValidationError, match="must not contain control characters \\(U\\+0000\\)"):
        Project.model_validate(fields)
    roadshow = {"organizer_id": "org-1", "title": "t", "theme": "t", "date": "1900-01-01", "n_projects": 1,
                "m_investors": 1, "sector_quota": {"ai": True}}
    stored = event("RoadshowCreated", "r-1", Roadshow.model_validate(roadshow, context={"from_log": True}))
    assert decode_event(stored.to_bytes()).payload.date.year == 1900
    with pytest.raises(ValidationError, match="date") as refused:
        Roadshow.model_validate(roadshow)
    assert "sector_quota" in str(refused.value)


def test_events_the_log_holds_from_before_the_newer_checks_still_decode():
    """Booleans for numbers, a start time with a UTC offset, meetings past midnight and a registrar key with an
    entity id were all accepted once: a replica replaying the log keeps them, while new input is refused."""
    from pydantic import ValidationError

    from models.events import ApiKey
    from models.roadshows import Roadshow
    from tests.factories import roadshow

    old_project = _raw(**{"payload.amount_sought_cny": True, "payload.team_size": True, "entity_version": 1})
    assert decode_event(old_project).payload.amount_sought_cny == 1
    fields = {**roadshow().model_dump(mode="json"), "start_time": "14:00:00-05:00", "slots": 50,
              "slot_minutes": 240, "fit_threshold": True}
    stored = decode_event(event("RoadshowCreated", "r-1", Roadshow.model_validate(
        fields, context={"from_log": True})).to_bytes()).payload
    assert stored.start_time.utcoffset().total_seconds() == -5 * 3600 and stored.slots == 50
    with pytest.raises(ValidationError) as refused:
        Roadshow.model_validate(fields)
    assert {e["loc"][0] for e in refused.value.errors()} == {"start_time", "fit_threshold"}
    key = ApiKey.model_validate({"key_hash": "a" * 64, "role": "registrar", "entity_id": "x"},
                                context={"from_log": True})
    assert decode_event(event("ApiKeyIssued", "k-1", key).to_bytes()).payload.entity_id == "x"
    with pytest.raises(ValidationError, match="entity_id is only for investor, founder and organizer keys"):
        ApiKey(key_hash="a" * 64, role="registrar", entity_id="x")
    with pytest.raises(ValidationError, match="entity_id is required for a founder key"):
        ApiKey(key_hash="a" * 64, role="founder")


def test_an_event_with_a_boolean_entity_version_is_read_as_the_log_wrote_it():
    assert decode_event(_raw(entity_version=True)).entity_version == 1


@pytest.mark.parametrize(("vector", "expected"), [("[NaN]", "finite"), ("[1e999, 0.5]", "finite"), ("[]", "at least 1"),
                                                  ("[" + ",".join(["0.1"] * 5000) + "]", "at most 4096")])
def test_vectors_that_no_index_could_hold_are_rejected_with_a_reason(vector, expected):
    raw = f'{{"entity_id":"p-1","entity_version":1,"model":"m","content_hash":"h","vector":{vector}}}'.encode()
    with pytest.raises(InvalidEvent, match=expected):
        decode_vector(raw)


def test_a_vector_of_another_size_is_refused_and_not_recorded_as_applied():
    view = ReadModel("m")
    view.vector_dim = 3
    vector = EntityVector(entity_id="p-1", entity_version=1, model="m", content_hash="h", vector=[0.1, 0.2])
    with pytest.raises(InvalidEvent, match="vector has 2 dimensions; m's have 3"):
        view.apply_vector("projects", vector)
    assert "p-1" not in view.project_vectors and view.project_index is None  # the first vector sets nothing
    assert view.apply_vector("projects", vector.model_copy(update={"vector": [0.6, 0.8, 0.0]}))
