"""The roadshow workflow over the read model (events applied in-process; the broker path is in e2e)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from pydantic import ValidationError

from api.errors import domain_error
from consumers.topics import Topics
from matcher import roadshows
from matcher.commands import CommandService, Principal
from matcher.errors import Conflict, InvalidRequest, NotAllowed, SolverBusy
from matcher.roadshows import RoadshowService
from matcher.service import MatchService
from matcher.view import ReadModel
from models.events import Feedback
from models.roadshows import Invitation, Roadshow, ScheduledMeeting
from tests.factories import event, investor, project, roadshow
from tests.fakes import ApplyingPublisher, HashingEncoder

ORGANIZER = Principal("k-o", "organizer", "org-1")
OTHER_ORGANIZER = Principal("k-o2", "organizer", "org-2")


@pytest.fixture
def world():
    view = ReadModel(HashingEncoder.name)
    publisher = ApplyingPublisher(view)
    commands = CommandService(view, publisher, Topics("t").for_event_type)
    service = RoadshowService(commands, MatchService(view, HashingEncoder()), solver_seconds=3.0)
    for n in range(8):
        view.apply(event("ProjectSubmitted", f"p-{n}", project(name=f"智造项目{n}", owner=f"f-{n}",
                                                               summary=f"第{n}个工业视觉与机器人项目")))
    for n in range(6):
        view.apply(event("InvestorVerified", f"i-{n}", investor(
            name=f"投资人{n}", organization="同一基金" if n in (0, 1) else f"org{n}", verification="verified")))
    return view, service


def founder(n: int) -> Principal:
    return Principal(f"k-f{n}", "founder", f"f-{n}")


def answering(inv: Invitation) -> Principal:
    """Who answers an invitation: the investor itself, or the founder of the project (p-n belongs to f-n)."""
    return founder(int(inv.invitee_id.split("-")[1])) if inv.kind == "project" else \
        Principal("k", "investor", inv.invitee_id)


SMALL = {"title": "t", "theme": "工业视觉", "date": "2026-12-10", "n_projects": 2, "m_investors": 2, "min_fits": 0}


def invited(service: RoadshowService, **spec) -> str:
    """A small roadshow (SMALL, changed by `spec`), its roster proposed and invitations sent; its id."""
    rid = service.create(ORGANIZER, {**SMALL, **spec}).entity_id
    service.propose(ORGANIZER, rid)
    service.send_invitations(ORGANIZER, rid)
    return rid


def scheduled(service: RoadshowService) -> str:
    """A small roadshow whose invitees all accepted and whose meetings are scheduled; its id."""
    rid = invited(service, theme="工业视觉 机器人", slots=2, tables=2)
    for inv in service.view.roadshows[rid].value.invitations:
        service.answer(answering(inv), rid, inv.invitee_id, accept=True)
    service.build_schedule(ORGANIZER, rid)
    return rid


def test_create_propose_invite_decline_backfill_accept_schedule(world):
    view, service = world
    rid = service.create(ORGANIZER, {"title": "宁波智造路演", "theme": "工业视觉 机器人 智能工厂",
                                     "sectors": ["smart_manufacturing"], "city": "宁波", "date": "2026-12-10",
                                     "n_projects": 3, "m_investors": 3, "slots": 3, "tables": 3,
                                     "min_fits": 1}).entity_id
    service.propose(ORGANIZER, rid)
    rs = view.roadshows[rid].value
    assert rs.roster is not None and len(rs.roster.project_ids) == 3 and len(rs.roster.investor_ids) == 3
    orgs = [view.investors[i].value.organization for i in rs.roster.investor_ids]
    assert len(set(orgs)) == 3  # one seat per fund
    assert all(p.en and p.zh for p in rs.roster.picks)
    assert rs.roster.gap >= 0

    service.send_invitations(ORGANIZER, rid)
    rs = view.roadshows[rid].value
    first, second = rs.roster.project_ids[:2]
    n_first, n_second = int(first.split("-")[1]), int(second.split("-")[1])
    service.answer(founder(n_first), rid, first, accept=True)
    version = view.roadshows[rid].version
    service.answer(founder(n_second), rid, second, accept=False)
    rs = view.roadshows[rid].value
    assert view.roadshows[rid].version == version + 1  # decline and backfill are one event
    assert second not in rs.roster.project_ids and first in rs.roster.project_ids  # accepted never removed
    backfilled = [i for i in rs.invitations if i.replaces == second]
    assert len(backfilled) == 1 and backfilled[0].status == "pending"
    with pytest.raises(Conflict):  # applying the same decline again changes nothing
        service.answer(founder(n_second), rid, second, accept=False)

    for inv in rs.invitations:
        if inv.status == "pending":
            service.answer(answering(inv), rid, inv.invitee_id, accept=True)
    service.build_schedule(ORGANIZER, rid)
    rs = view.roadshows[rid].value
    slots = {}
    for m in rs.schedule:
        for who in (m.project_id, m.investor_id, f"table{m.table}"):
            assert (m.slot, who) not in slots  # no double booking
            slots[(m.slot, who)] = m
    accepted = {i.invitee_id for i in rs.invitations if i.status == "accepted"}
    assert {m.project_id for m in rs.schedule} <= accepted and {m.investor_id for m in rs.schedule} <= accepted

    # an investor suspended after accepting, and a project withdrawn since, meet no one in a rebuilt schedule
    suspended = next(m.investor_id for m in rs.schedule)
    withdrawn = next(m.project_id for m in rs.schedule)
    service.commands.review_investor(Principal("k-r", "registrar", None), suspended, verify=False, reason="complaint")
    service.commands.set_project_status(founder(int(withdrawn.split("-")[1])), withdrawn, "withdrawn")
    service.build_schedule(ORGANIZER, rid)
    rebuilt = view.roadshows[rid].value.schedule
    assert rebuilt and not {m.investor_id for m in rebuilt} & {suspended}
    assert withdrawn not in {m.project_id for m in rebuilt}


def test_an_accepted_invitee_can_still_decline_its_seat_is_backfilled_and_its_meetings_leave(world):
    view, service = world
    rid = scheduled(service)
    before = view.roadshows[rid].value.schedule
    leaving = before[0].investor_id
    investor_key = Principal("k", "investor", leaving)
    with pytest.raises(Conflict, match="already accepted"):
        service.answer(investor_key, rid, leaving, accept=True)

    service.answer(investor_key, rid, leaving, accept=False)  # plans changed
    rs = view.roadshows[rid].value
    assert rs.invitation(leaving).status == "declined"
    assert leaving not in {m.investor_id for m in rs.schedule} and rs.schedule  # the others keep theirs
    assert rs.dropped_meetings == [m for m in before if m.investor_id == leaving]  # calendars cancel them
    assert [i for i in rs.invitations if i.replaces == leaving and i.status == "pending"]
    with pytest.raises(Conflict, match="already declined"):
        service.answer(investor_key, rid, leaving, accept=True)


def test_a_meeting_that_leaves_the_schedule_stays_dropped_until_its_pair_is_scheduled_again():
    def meeting(slot: int, project_id: str, investor_id: str) -> ScheduledMeeting:
        return ScheduledMeeting(slot=slot, table=1, project_id=project_id, investor_id=investor_id, score=0.5)

    a, b, c = meeting(1, "p-1", "i-1"), meeting(2, "p-2", "i-2"), meeting(3, "p-3", "i-3")
    rs = roadshows._rescheduled(roadshow(schedule=[a, b]), [b])  # a's pair leaves
    assert rs.dropped_meetings == [a]
    again = meeting(3, "p-1", "i-1")  # the pair comes back, at another slot
    rs = roadshows._rescheduled(rs, [b, again])
    assert rs.dropped_meetings == []
    rs = roadshows._rescheduled(rs, [c])
    assert rs.schedule == [c] and rs.dropped_meetings == [b, again]  # as they were last scheduled


def test_a_backfill_drops_the_meetings_of_members_no_longer_eligible(world):
    view, service = world
    rid = scheduled(service)
    schedule = view.roadshows[rid].value.schedule
    withdrawn = schedule[0].project_id
    leaving = next(m.investor_id for m in schedule if m.project_id != withdrawn)
    service.commands.set_project_status(founder(int(withdrawn.split("-")[1])), withdrawn, "withdrawn")

    service.answer(Principal("k", "investor", leaving), rid, leaving, accept=False)  # the next backfill
    rs = view.roadshows[rid].value
    assert withdrawn not in rs.roster.project_ids and [i for i in rs.invitations if i.replaces == withdrawn]
    assert not {withdrawn, leaving} & ({m.project_id for m in rs.schedule} | {m.investor_id for m in rs.schedule})


def test_conflicts_pins_exclusions_and_ownership(world):
    view, service = world
    view.apply(event("FeedbackGiven", "i-2", Feedback(investor_id="i-2", project_id="p-1", action="passed",
                                                     reason="no")))
    rid = service.create(ORGANIZER, {"title": "t", "theme": "机器人", "date": "2026-12-10", "n_projects": 2,
                                     "m_investors": 2, "min_fits": 0}).entity_id
    service.adjust(ORGANIZER, rid, pin=["p-7"], exclude=["i-0", "i-1"], unpin=[])
    rs = view.roadshows[rid].value
    assert "p-7" in rs.roster.project_ids
    assert not {"i-0", "i-1"} & set(rs.roster.investor_ids)
    service.adjust(ORGANIZER, rid, pin=[], exclude=[], unpin=[], unexclude=["i-1"])  # released, not pinned
    rs = view.roadshows[rid].value
    assert rs.excluded == ["i-0"] and rs.pinned == ["p-7"]
    with pytest.raises(NotAllowed):
        service.propose(OTHER_ORGANIZER, rid)
    with pytest.raises(NotAllowed):
        service.get(Principal("k", "investor", "i-5"), rid)  # not invited (yet)


def test_an_adjustment_that_could_not_take_effect_is_refused_naming_the_field(world):
    view, service = world
    view.apply(event("InvestorRegistered", "i-pending", investor(name="待审投资人", verification="pending")))
    rid = service.create(ORGANIZER, {**SMALL, "sectors": ["smart_manufacturing"], "city": "宁波"}).entity_id
    for change, says in [({"pin": ["p-4"], "exclude": ["p-4"]}, "pin must not name what exclude names: ['p-4']"),
                         ({"pin": ["p-4"], "unpin": ["p-4"]}, "pin must not name what unpin names"),
                         ({"exclude": ["i-2"], "unexclude": ["i-2"]}, "exclude must not name what unexclude names"),
                         ({"pin": ["i-pending"]}, "'i-pending' is neither"),  # the solver could never seat it
                         ({"pin": ["p-none"]}, "'p-none' is neither"),
                         ({"exclude": ["x-typo"]}, "exclude must name projects and investors; 'x-typo' is neither")]:
        with pytest.raises(InvalidRequest, match=re.escape(says)):
            service.adjust(ORGANIZER, rid, **{"pin": [], "exclude": [], "unpin": [], **change})
    assert view.roadshows[rid].version == 1  # nothing was written
    service.adjust(ORGANIZER, rid, pin=[], exclude=["i-pending"], unpin=[])  # excluding the ineligible is fine
    view.apply(event("ProjectSubmitted", "p-bio", project(name="抗体新药", owner="f-9", sectors=["biomedicine"],
                                                          city="上海")))
    service.adjust(ORGANIZER, rid, pin=["p-bio"], exclude=[], unpin=[])  # off the theme's sectors and city: on purpose
    assert "p-bio" in view.roadshows[rid].value.roster.project_ids


def test_a_roster_that_cannot_be_met_names_the_field_that_sets_the_constraint(world):
    view, service = world
    rid = service.create(ORGANIZER, {**SMALL, "min_fits": 2, "fit_threshold": 0.99}).entity_id
    with pytest.raises(InvalidRequest, match=r"^min_fits cannot be met: no roster meets the constraints \(") as refused:
        service.propose(ORGANIZER, rid)
    assert domain_error(str(refused.value)).errors[0].field == "min_fits"


def test_a_roadshow_the_log_holds_from_before_the_time_checks_still_takes_pins_and_rosters(world):
    view, service = world
    old = Roadshow.model_validate({**roadshow(organizer_id=ORGANIZER.entity_id, n_projects=2, m_investors=2,
                                              min_fits=0).model_dump(mode="json"),
                                   "start_time": "14:00:00-05:00"}, context={"from_log": True})
    view.apply(event("RoadshowCreated", "r-old", old))
    service.adjust(ORGANIZER, "r-old", pin=["p-1"], exclude=[], unpin=[])  # its start time is not what changes
    assert "p-1" in view.roadshows["r-old"].value.roster.project_ids


def test_expired_invitations_are_backfilled(world):
    view, service = world
    rid = invited(service)
    before = set(view.roadshows[rid].value.roster.project_ids)
    service.expire(ORGANIZER, rid, older_than=timedelta(0))
    rs = view.roadshows[rid].value
    assert all(i.status == "expired" for i in rs.invitations if i.invitee_id in before)
    assert not before & set(rs.roster.project_ids)
    assert [i for i in rs.invitations if i.status == "pending" and i.replaces]


def test_solves_take_turns_and_a_long_wait_is_solver_busy(world, monkeypatch):
    view, service = world
    service.solver_seconds = 0.2  # a request waits up to 0.4 s for the solver
    first, second = (service.create(ORGANIZER, SMALL).entity_id for _ in range(2))
    solving, release = threading.Event(), threading.Event()
    real_solve = roadshows.solve_roster

    def held_solve(problem, time_limit):
        if not solving.is_set():  # the first solve keeps its slot until the test releases it
            solving.set()
            release.wait(10)
        return real_solve(problem, time_limit=time_limit)

    monkeypatch.setattr(roadshows, "solve_roster", held_solve)
    worker = threading.Thread(target=service.propose, args=(ORGANIZER, first))
    worker.start()
    assert solving.wait(10)
    with pytest.raises(SolverBusy, match="solver is busy"):
        service.propose(ORGANIZER, second)
    assert view.roadshows[second].value.roster is None
    release.set()
    worker.join(10)
    service.propose(ORGANIZER, second)  # the slot is free again
    assert view.roadshows[first].value.roster is not None and view.roadshows[second].value.roster is not None


def test_a_cancelled_roadshow_stays_readable_and_nothing_changes_it(world):
    view, service = world
    rid = invited(service)
    with pytest.raises(NotAllowed):
        service.cancel(OTHER_ORGANIZER, rid)
    service.cancel(ORGANIZER, rid)
    rs = view.roadshows[rid].value
    assert rs.status == "cancelled" and rs.invitations  # invitees still see it, and that it is off
    invitee = rs.invitations[0]
    who = answering(invitee)
    assert service.get(who, rid).status == "cancelled"
    for attempt in (lambda: service.answer(who, rid, invitee.invitee_id, accept=True),
                    lambda: service.build_schedule(ORGANIZER, rid), lambda: service.cancel(ORGANIZER, rid)):
        with pytest.raises(Conflict, match="is cancelled"):
            attempt()


def test_a_move_that_would_run_the_meetings_past_midnight_or_give_an_offset_is_refused(world):
    view, service = world
    rid = service.create(ORGANIZER, {**SMALL, "slots": 6}).entity_id  # 6 x 20 minutes from 14:00
    move = {"title": "t", "city": "宁波", "date": "2026-12-10", "start_time": "22:30", "slot_minutes": 20}
    with pytest.raises(InvalidRequest) as refused:
        service.move(ORGANIZER, rid, move, expected_version=1)
    fields = [e.field for e in domain_error(str(refused.value)).errors]
    assert fields == ["slots", "slot_minutes", "start_time"]  # the 422 the API answers names all three
    with pytest.raises(ValidationError, match="without a UTC offset"):
        service.move(ORGANIZER, rid, {**move, "start_time": "09:00+08:00"}, expected_version=1)
    assert view.roadshows[rid].version == 1
    service.move(ORGANIZER, rid, {**move, "start_time": "22:00"}, expected_version=1)  # ends at midnight
    assert str(view.roadshows[rid].value.start_time) == "22:00:00"


def test_a_roadshow_whose_stored_text_a_later_check_refuses_is_still_moved_and_the_move_is_checked(world):
    view, service = world
    old = Roadshow.model_validate({**roadshow(organizer_id=ORGANIZER.entity_id).model_dump(mode="json"),
                                   "theme": "industrial \u202e AI"}, context={"from_log": True})
    view.apply(event("RoadshowCreated", "r-old", old))
    move = {"title": "moved", "date": "2026-12-11"}  # city, start time and slot length as they are
    service.move(ORGANIZER, "r-old", move, expected_version=1)
    moved = view.roadshows["r-old"].value
    assert (moved.title, moved.theme, moved.city, moved.start_time) == ("moved", old.theme, old.city, old.start_time)
    with pytest.raises(InvalidRequest, match="by midnight"):
        service.move(ORGANIZER, "r-old", {**move, "start_time": "23:30"}, expected_version=2)
    with pytest.raises(ValidationError, match="bidirectional"):  # what the move itself brings is checked as new
        service.move(ORGANIZER, "r-old", {**move, "title": "t \u202e"}, expected_version=2)


def test_calendars_keep_the_utc_offset_of_a_start_time_the_log_holds():
    from datetime import date, time, timedelta, timezone

    from matcher.schedule import Meeting, to_ical

    meeting = [Meeting(2, 1, "p-1", "i-1", 0.5)]
    eastern = time(14, 0, tzinfo=timezone(timedelta(hours=-5)))
    lines = to_ical(meeting, "p-1", date(2026, 12, 10), eastern, 20).splitlines()
    assert "DTSTART:20261210T192000Z" in lines  # 14:20 at UTC-5, not 14:20 in China (06:20Z)
    lines = to_ical(meeting, "p-1", date(2026, 12, 10), time(14, 0), 20).splitlines()
    assert "DTSTART:20261210T062000Z" in lines  # without an offset: China time, as before


def leave(service: RoadshowService, participant: str) -> None:
    """`participant` leaves the market: a project is withdrawn by its founder, an investor withdraws."""
    if participant.startswith("p-"):
        service.commands.set_project_status(founder(int(participant.split("-")[1])), participant, "withdrawn")
    else:
        service.commands.withdraw_investor(Principal("k", "investor", participant), participant)


@pytest.mark.parametrize("side", ["project", "investor"])
def test_a_rebuild_after_everyone_on_one_side_left_empties_the_schedule_instead_of_refusing(world, side):
    view, service = world
    rid = scheduled(service)
    before = view.roadshows[rid].value
    leaving = list(before.roster.project_ids if side == "project" else before.roster.investor_ids)
    for participant in leaving:
        leave(service, participant)
    assert service.left(view.roadshows[rid].value) == leaving  # the organizer sees who left before rebuilding
    version = view.roadshows[rid].version

    service.build_schedule(ORGANIZER, rid)  # was 409: nobody accepted on that side is still in the market
    rs = view.roadshows[rid].value
    assert view.roadshows[rid].version == version + 1 and rs.status == "scheduled"
    assert rs.schedule == [] and rs.dropped_meetings == before.schedule  # calendars cancel every meeting
    with pytest.raises(Conflict, match=f"{leaving[0]}.* left"):  # nothing left to drop: nothing to build
        service.build_schedule(ORGANIZER, rid)


def test_a_participant_replaced_after_leaving_meets_no_one_when_it_comes_back(world):
    view, service = world
    rid = scheduled(service)
    rs = view.roadshows[rid].value
    withdrawn, declining = rs.roster.project_ids[0], rs.roster.investor_ids[0]
    leave(service, withdrawn)
    service.answer(Principal("k", "investor", declining), rid, declining, accept=False)  # backfills both seats
    assert withdrawn not in view.roadshows[rid].value.roster.project_ids
    service.commands.set_project_status(founder(int(withdrawn.split("-")[1])), withdrawn, "open")  # reopened

    service.build_schedule(ORGANIZER, rid)
    rs = view.roadshows[rid].value
    assert rs.invitation(withdrawn).status == "accepted"  # as the log has it, but its seat went to another
    assert withdrawn not in {m.project_id for m in rs.schedule} and service.left(rs) == []


def test_the_organizer_sees_the_seats_a_backfill_could_not_fill_after_the_city_moved(world):
    view, service = world
    rid = invited(service)  # no city: every open project is a candidate
    assert service.empty_seats(view.roadshows[rid].value) == (0, 0)
    service.move(ORGANIZER, rid, {"city": "上海"}, expected_version=view.roadshows[rid].version)  # no project there
    declining = view.roadshows[rid].value.roster.project_ids[0]
    service.answer(founder(int(declining.split("-")[1])), rid, declining, accept=False)
    rs = view.roadshows[rid].value
    assert not [i for i in rs.invitations if i.replaces == declining]  # nobody in 上海 to invite
    assert service.empty_seats(rs) == (1, 0)
    leave(service, rs.roster.investor_ids[0])  # a seat whose holder left is empty too (until the next backfill)
    assert service.empty_seats(view.roadshows[rid].value) == (1, 1)


def test_a_decline_is_taken_when_no_candidate_is_left_to_backfill_it(world):
    view, service = world
    rid = invited(service)
    service.move(ORGANIZER, rid, {"city": "上海"}, expected_version=view.roadshows[rid].version)
    rs = view.roadshows[rid].value
    for project_id in rs.roster.project_ids:  # no roster project open, and none in 上海
        leave(service, project_id)
    declining = rs.roster.investor_ids[0]
    service.answer(Principal("k", "investor", declining), rid, declining, accept=False)  # was 422 (no project)
    rs = view.roadshows[rid].value
    assert rs.invitation(declining).status == "declined" and service.empty_seats(rs) == (2, 1)


@pytest.mark.parametrize(("spec", "field", "says"), [
    ({"city": "上海"}, "city", "city must match at least one open project; none of the 8 open projects is in 上海"),
    ({"sectors": ["biomedicine"]}, "sectors", "sectors must match at least one open project; none of the 8 open "
                                              "projects is in biomedicine"),
])
def test_a_roster_with_no_candidate_names_the_filter_that_left_none(world, spec, field, says):
    _, service = world
    rid = service.create(ORGANIZER, {**SMALL, **spec}).entity_id
    with pytest.raises(InvalidRequest, match=re.escape(says)) as refused:
        service.propose(ORGANIZER, rid)
    assert [e.field for e in domain_error(str(refused.value)).errors] == [field]


def test_a_roster_that_cannot_be_met_says_how_the_city_and_the_fit_threshold_cut_the_pool(world):
    view, service = world
    view.apply(event("ProjectSubmitted", "p-hz", project(name="杭州视觉", owner="f-9", city="杭州")))
    rid = service.create(ORGANIZER, {**SMALL, "city": "杭州", "n_projects": 3, "m_investors": 3, "min_fits": 1,
                                     "fit_threshold": 0.99}).entity_id
    with pytest.raises(InvalidRequest, match=r"^min_fits cannot be met") as refused:
        service.propose(ORGANIZER, rid)
    assert "only 1 project can take the 3 project seats (n_projects): of 9 open projects, the city 杭州 leaves 1" \
        in str(refused.value)
    assert re.search(r"with fit_threshold 0\.99, \d+ of the 1 candidate projects and \d+ of the \d+ candidate "
                     r"investors have at least 1 counterpart that fits", str(refused.value))


def test_an_empty_adjustment_is_refused_naming_its_fields_and_writes_nothing(world):
    view, service = world
    rid = service.create(ORGANIZER, SMALL).entity_id
    with pytest.raises(InvalidRequest, match="at least one") as refused:
        service.adjust(ORGANIZER, rid, pin=[], exclude=[], unpin=[])
    assert [e.field for e in domain_error(str(refused.value)).errors] == ["pin", "unpin", "exclude", "unexclude"]
    assert view.roadshows[rid].version == 1 and view.roadshows[rid].value.roster is None


def test_the_seat_of_a_withdrawn_project_is_backfilled_when_its_own_invitation_is_declined(world):
    view, service = world
    rid = invited(service)
    withdrawn = view.roadshows[rid].value.roster.project_ids[0]
    leave(service, withdrawn)
    service.answer(founder(int(withdrawn.split("-")[1])), rid, withdrawn, accept=False)  # the only answer since
    rs = view.roadshows[rid].value
    assert withdrawn not in rs.roster.project_ids and len(rs.roster.project_ids) == 2  # was 1: the seat stayed empty
    assert [i for i in rs.invitations if i.replaces == withdrawn and i.status == "pending"]
    assert service.empty_seats(rs) == (0, 0)
