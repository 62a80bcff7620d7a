"""The Crunchbase importer against the real broker: its events validate, and a slice of 200 investments goes
through Kafka into a read model, the same way twice."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from consumers.importers import import_events, main
from consumers.indexer import Indexer
from consumers.topics import Topics, ensure_topics
from matcher.crunchbase import CrunchbaseData, company_id, crunchbase_events, investor_id, load_crunchbase
from matcher.view import ReadModel
from models.events import decode_event

pytestmark = pytest.mark.kafka

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crunchbase"
N_PAIRS = 200


@pytest.fixture(scope="module")
def data() -> CrunchbaseData:
    if not (DATA / "investments_2013snapshot_pairs.csv.gz").is_file():
        pytest.skip(f"the Crunchbase files are not at {DATA} (they are never copied into the repository)")
    return load_crunchbase(DATA)


def replay(bootstrap: str, topics: Topics) -> ReadModel:
    """A fresh read model fed from offset 0 of every topic, as an API replica starts."""
    view = ReadModel("none")
    indexer = Indexer(view, bootstrap, topics)
    try:
        indexer.catch_up(timeout=60)
    finally:
        indexer.stop()
    return view


def test_every_converted_event_validates_and_ids_are_stable(data):
    small = data.slice(2000)
    events = list(crunchbase_events(small))
    assert all(decode_event(e.to_bytes()) == e for e in events)
    counts = Counter(e.type for e in events)
    assert counts["ProjectSubmitted"] == counts["ProjectFunded"] == small.pairs["company"].nunique()
    assert counts["InvestorRegistered"] == counts["InvestorVerified"] == small.pairs["investor"].nunique()
    assert counts["FeedbackGiven"] == len(small.pairs)
    assert len({e.event_id for e in events}) == len(events)
    assert {e.payload.action for e in events if e.type == "FeedbackGiven"} == {"invested"}
    assert company_id("Facebook") == company_id("Facebook") != company_id("facebook")


def test_a_slice_imports_through_kafka_and_a_second_run_changes_nothing(data, kafka_bootstrap, topic_prefix,
                                                                       capsys):
    small = data.slice(N_PAIRS)
    topics = Topics(topic_prefix)
    ensure_topics(kafka_bootstrap, topics)
    events = list(crunchbase_events(small))
    companies, investors = small.pairs["company"].nunique(), small.pairs["investor"].nunique()

    first = import_events(events, kafka_bootstrap, topics, progress=False)
    assert first.produced == {"ProjectSubmitted": companies, "ProjectFunded": companies,
                              "InvestorRegistered": investors, "InvestorVerified": investors, "FeedbackGiven": N_PAIRS}
    view = replay(kafka_bootstrap, topics)
    assert len(view.projects) == companies and len(view.investors) == investors
    assert all(v.value.status == "funded" and v.version == 2 for v in view.projects.values())  # not in feeds
    assert all(v.value.verification == "verified" and v.version == 2 for v in view.investors.values())
    distinct = set(zip(small.pairs["investor"], small.pairs["company"], strict=True))
    assert view.feedback.invested == {(investor_id(i), company_id(c)) for i, c in distinct}
    assert len(view.seen_feedback) == N_PAIRS
    before = dict(view.offsets)

    # the second run goes through the command line, as an operator would run it
    main(["crunchbase", str(DATA), "--limit-pairs", str(N_PAIRS), "--bootstrap", kafka_bootstrap,
          "--prefix", topic_prefix])
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["produced"] == {} and second["skipped"] == len(events)
    again = replay(kafka_bootstrap, topics)
    assert again.offsets == before  # nothing was appended to any topic
    assert again.digest() == view.digest()
