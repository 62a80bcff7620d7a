"""Read-modify-write commands against a read model that applies the log later, as the indexer does."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from consumers.topics import Topics
from matcher.commands import INTRO_ASK_AGAIN_AFTER, INTRO_WITHDRAWALS_BEFORE_PAUSE, CommandService, Principal
from matcher.errors import Conflict, NotAllowed, NotCaughtUp, NotFound, RetryLater
from matcher.ports import Delivery
from matcher.view import ReadModel
from models.entities import Investor
from models.events import Event
from tests.factories import event, investor, project
from tests.fakes import ApplyingPublisher
from tests.integration.kafka_helpers import wait_until

FOUNDER = Principal("k-f", "founder", "f-1")


class LaggingPublisher:
    """Acknowledges at once and applies each event `lag_s` later from another thread (None: never)."""

    def __init__(self, view: ReadModel, lag_s: float | None) -> None:
        self.view, self.lag_s, self.events = view, lag_s, []

    def publish(self, topic: str, event):
        self.events.append(event)
        offset = len(self.events) - 1
        if self.lag_s is not None:
            def apply() -> None:
                self.view.apply(event)
                self.view.mark_offsets({(topic, 0): offset + 1})
            threading.Timer(self.lag_s, apply).start()
        return Delivery(topic=topic, partition=0, offset=offset)


def setup(lag_s: float | None, catch_up_s: float = 5.0) -> tuple[ReadModel, CommandService]:
    view = ReadModel("none")
    view.apply(event("ProjectSubmitted", "p-1", project(owner="f-1")))
    return view, CommandService(view, LaggingPublisher(view, lag_s), Topics("t").for_event_type, catch_up_s)


INVESTOR = Principal("k-i", "investor", "i-1")


def verify_investor(view: ReadModel) -> None:
    view.apply(event("InvestorVerified", "i-1", investor(verification="verified")))


def asked_intro() -> tuple[ReadModel, CommandService, str]:
    """setup()'s project, a verified investor i-1, and the founder's intro request to it, applied."""
    view, commands = setup(lag_s=0.0)
    verify_investor(view)
    xid = commands.request_intro(FOUNDER, "p-1", "i-1", "hello").entity_id
    wait_until(lambda: xid in view.intros)
    return view, commands, xid


def applying_market() -> tuple[ReadModel, CommandService]:
    """Project p-1 and verified investor i-1, with every write applied as it is acknowledged."""
    view = ReadModel("none")
    view.apply(event("ProjectSubmitted", "p-1", project(owner="f-1")))
    verify_investor(view)
    return view, CommandService(view, ApplyingPublisher(view), Topics("t").for_event_type)


def test_a_command_builds_on_this_replicas_previous_write_even_before_the_read_model_has_it():
    view, commands = setup(lag_s=0.2)
    edited = {**project(owner="f-1", name="改名 Renamed").model_dump(exclude={"owner", "status"})}
    assert commands.update_project(FOUNDER, "p-1", edited, expected_version=1).version == 2
    assert view.projects["p-1"].version == 1  # not applied yet: the withdrawal must wait for it
    assert commands.set_project_status(FOUNDER, "p-1", "withdrawn").version == 3
    withdrawal = commands.publisher.events[-1].payload
    assert withdrawal.status == "withdrawn" and withdrawal.name == "改名 Renamed"  # the edit is kept


def test_a_read_model_that_never_catches_up_gets_a_clear_retry_instead_of_a_lost_write():
    _, commands = setup(lag_s=None, catch_up_s=0.1)
    commands.set_project_status(FOUNDER, "p-1", "funded")
    with pytest.raises(NotCaughtUp, match="'p-1' is not applied yet; retry"):
        commands.set_project_status(FOUNDER, "p-1", "withdrawn")


def test_an_intro_is_not_accepted_on_a_project_whose_withdrawal_this_replica_just_acknowledged():
    view, commands, xid = asked_intro()
    commands.publisher.lag_s = 0.3  # the withdrawal is acknowledged before the read model applies it
    commands.set_project_status(FOUNDER, "p-1", "withdrawn")
    with pytest.raises(Conflict, match="no longer open"):  # contacts would have been exchanged
        commands.answer_intro(INVESTOR, xid, accept=True, reason=None)
    with pytest.raises(Conflict, match="is withdrawn"):
        commands.request_intro(INVESTOR, "p-1", "i-1", "and again")


def test_a_replica_still_reading_the_log_refuses_writes_with_a_retry():
    view, commands = setup(lag_s=0.0)
    verify_investor(view)
    commands.writable = False  # Container.start, until catch-up ends
    with pytest.raises(RetryLater, match="still reading the event log"):
        commands.set_project_status(FOUNDER, "p-1", "withdrawn")
    with pytest.raises(RetryLater):
        commands.give_feedback(INVESTOR, "p-1", "saved", None)
    assert commands.publisher.events == []


@pytest.mark.parametrize(("before", "change", "by_staff", "after"), [
    ("verified", {"thesis": "只投硬科技"}, False, "verified"),  # the registrar checked who, not what it invests in
    ("verified", {"name": "冒名基金 Impostor Fund"}, False, "pending"),
    ("verified", {"organization": "另一家机构"}, False, "pending"),
    ("verified", {"name": "钱塘天使（更名）"}, True, "verified"),  # a registrar's own edit
    ("rejected", {"thesis": "附资金来源证明"}, False, "pending"),  # answering the rejection
    ("pending", {"name": "新名字"}, False, "pending"),
])
def test_an_edit_sends_a_profile_back_to_review_when_what_the_registrar_checked_changed(before, change, by_staff,
                                                                                        after):
    view = ReadModel("none")
    view.apply(event("InvestorRegistered", "i-1", investor(verification=before)))
    commands = CommandService(view, ApplyingPublisher(view), Topics("t").for_event_type)
    who = Principal("k-a", "admin", None) if by_staff else INVESTOR
    fields = investor(**change).model_dump(exclude={"verification", "rejection_reason", "status"})
    commands.update_investor(who, "i-1", fields, expected_version=1)
    assert commands.publisher.events[-1].payload.verification == after


@pytest.mark.parametrize(("who", "says"), [
    (Principal("k-j", "investor", "i-2"), "'i-1' is another investor's profile"),
    (Principal("k-r", "registrar", None), "only investor 'i-1' itself or an admin changes its profile, not a "
                                          "registrar key"),
    (Principal("k-f", "founder", "f-1"), "not a founder key"),
])
def test_an_investor_profile_refused_to_another_key_says_why_for_that_key(who, says):
    view = ReadModel("none")
    view.apply(event("InvestorRegistered", "i-1", investor()))
    commands = CommandService(view, ApplyingPublisher(view), Topics("t").for_event_type)
    fields = investor(thesis="只投硬科技").model_dump(exclude={"verification", "rejection_reason", "status"})
    with pytest.raises(NotAllowed, match=re.escape(says)):
        commands.update_investor(who, "i-1", fields, expected_version=1)


def test_a_rejected_investor_edits_its_profile_whatever_checks_came_after_the_registrars_reason():
    view = ReadModel("none")
    rejected = Investor.model_validate({**investor().model_dump(), "verification": "rejected",
                                        "rejection_reason": "来源不明 \u202e"}, context={"from_log": True})
    view.apply(event("InvestorRegistered", "i-1", rejected))
    commands = CommandService(view, ApplyingPublisher(view), Topics("t").for_event_type)
    fields = investor(thesis="附资金来源证明").model_dump(exclude={"verification", "rejection_reason", "status"})
    commands.update_investor(INVESTOR, "i-1", fields, expected_version=1)
    edited = commands.publisher.events[-1].payload
    assert (edited.verification, edited.rejection_reason) == ("pending", "来源不明 \u202e")  # back to review


def test_feedback_is_unversioned_and_does_not_hold_up_the_investors_next_edit():
    # feedback is keyed by the investor's id: had it counted as a produced investor version, writing() would
    # wait for an investor event that never comes
    view, commands = setup(lag_s=None, catch_up_s=0.1)
    verify_investor(view)
    who = INVESTOR
    assert commands.give_feedback(who, "p-1", "saved", None).version == 1
    assert commands.publisher.events[-1].entity_version == 1
    fields = investor(thesis="只投硬科技").model_dump(exclude={"verification", "rejection_reason", "status"})
    assert commands.update_investor(who, "i-1", fields, expected_version=1).version == 2


def test_read_model_lookups_raise_not_found_and_unknown_investors_are_not_in_market():
    view = ReadModel("none")
    view.apply(event("ProjectSubmitted", "p-1", project(owner="f-1")))
    view.apply(event("InvestorRegistered", "i-pending", investor(verification="pending")))
    view.apply(event("InvestorVerified", "i-ok", investor(verification="verified")))
    assert view.project("p-1") is view.projects["p-1"]
    assert view.investor("i-ok") is view.investors["i-ok"]
    with pytest.raises(NotFound, match="^project 'p-none' not found$"):
        view.project("p-none")
    with pytest.raises(NotFound, match="^investor 'i-none' not found$"):
        view.investor("i-none")
    assert [view.investor_in_market(i) for i in ("i-ok", "i-pending", "i-none")] == [True, False, False]


def test_the_side_that_asked_withdraws_an_unanswered_intro_and_may_then_ask_again():
    view, commands, xid = asked_intro()
    with pytest.raises(NotAllowed, match="only the side that asked"):
        commands.withdraw_intro(INVESTOR, xid)  # the investor was asked: it answers, it does not withdraw
    commands.withdraw_intro(FOUNDER, xid)
    wait_until(lambda: view.intros[xid].value.status == "withdrawn")
    with pytest.raises(Conflict, match="already withdrawn"):
        commands.answer_intro(INVESTOR, xid, accept=True, reason=None)  # nothing left to accept
    again = commands.request_intro(FOUNDER, "p-1", "i-1", "hello again").entity_id
    assert again != xid



def test_a_side_that_withdrew_twice_asks_the_same_pair_again_only_after_the_pause():
    view, commands = applying_market()
    for n in range(INTRO_WITHDRAWALS_BEFORE_PAUSE):
        commands.withdraw_intro(FOUNDER, commands.request_intro(FOUNDER, "p-1", "i-1", f"hello {n}").entity_id)
    pause = (r"the founder has withdrawn 2 intro requests between 'p-1' and 'i-1' since \d{4}-\d\d-\d\d; "
             r"it may ask again after [-\d]{10} [:\d]{5} UTC")
    with pytest.raises(Conflict, match=pause):
        commands.request_intro(FOUNDER, "p-1", "i-1", "hello once more")
    xid = commands.request_intro(INVESTOR, "p-1", "i-1", "hello").entity_id  # the other side may ask
    commands.withdraw_intro(INVESTOR, xid)
    # a month after the first withdrawal only one is recent: the founder may ask again
    first = next(v for v in view.intros.values() if v.value.message == "hello 0")
    view.apply(Event(type="IntroWithdrawn", entity_id=first.id, entity_version=first.version + 1, actor="test",
                     payload=first.value, occurred_at=datetime.now(UTC) - INTRO_ASK_AGAIN_AFTER - timedelta(days=1)))
    assert commands.request_intro(FOUNDER, "p-1", "i-1", "a month later").version == 1


def test_a_declined_side_asks_the_same_pair_again_only_after_the_pause_and_the_decliner_at_any_time():
    view, commands = applying_market()
    xid = commands.request_intro(INVESTOR, "p-1", "i-1", "hello").entity_id
    commands.answer_intro(FOUNDER, xid, accept=False, reason="not now")
    again_after = r"declined on \d{4}-\d\d-\d\d; the investor may ask again after [-\d]{10} [:\d]{5} UTC"
    with pytest.raises(Conflict, match=again_after):
        commands.request_intro(INVESTOR, "p-1", "i-1", "hello again")
    declined = view.intros[xid]
    long_ago = Event(type="IntroDeclined", entity_id=xid, entity_version=declined.version + 1, actor="test",
                     payload=declined.value, occurred_at=datetime.now(UTC) - INTRO_ASK_AGAIN_AFTER - timedelta(days=1))
    view.apply(long_ago)
    assert commands.request_intro(INVESTOR, "p-1", "i-1", "a month later").entity_id != xid
    # the founder declined that one too; the founder (the side that declined) may still ask at once
    commands.answer_intro(FOUNDER, commands.publisher.events[-1].entity_id, accept=False, reason="still no")
    assert commands.request_intro(FOUNDER, "p-1", "i-1", "changed my mind").version == 1


def test_a_decision_or_revocation_made_again_is_a_conflict_and_staff_keys_take_no_entity():
    view = ReadModel("none")
    view.apply(event("InvestorRegistered", "i-1", investor(verification="pending")))
    commands = CommandService(view, ApplyingPublisher(view), Topics("t").for_event_type)
    admin = Principal("k-a", "admin", None)
    commands.review_investor(admin, "i-1", verify=True, reason=None)
    with pytest.raises(Conflict, match="already verified"):
        commands.review_investor(admin, "i-1", verify=True, reason=None)
    commands.review_investor(admin, "i-1", verify=False, reason="funds unverifiable")
    with pytest.raises(Conflict, match="already rejected"):
        commands.review_investor(admin, "i-1", verify=False, reason="another reason")
    key_id = commands.issue_key(admin, "founder", "f-1", "", "a" * 64).entity_id
    commands.revoke_key(admin, key_id)
    with pytest.raises(Conflict, match="already revoked"):
        commands.revoke_key(admin, key_id)
    with pytest.raises(ValidationError, match="entity_id is only for investor, founder and organizer keys"):
        commands.issue_key(admin, "registrar", "x", "", "a" * 64)


def test_a_withdrawn_project_reopens_and_a_funded_one_does_not():
    view, commands = setup(lag_s=0.0)
    with pytest.raises(Conflict, match="becomes open only from withdrawn"):
        commands.set_project_status(FOUNDER, "p-1", "open")
    commands.set_project_status(FOUNDER, "p-1", "withdrawn")
    wait_until(lambda: view.projects["p-1"].value.status == "withdrawn")
    with pytest.raises(NotAllowed):
        commands.set_project_status(Principal("k-f2", "founder", "f-2"), "p-1", "open")
    commands.set_project_status(FOUNDER, "p-1", "open")
    wait_until(lambda: view.projects["p-1"].value.status == "open")
    assert commands.publisher.events[-1].type == "ProjectReopened"
    commands.set_project_status(FOUNDER, "p-1", "funded")
    wait_until(lambda: view.projects["p-1"].value.status == "funded")
    with pytest.raises(Conflict, match="is funded"):
        commands.set_project_status(FOUNDER, "p-1", "open")
