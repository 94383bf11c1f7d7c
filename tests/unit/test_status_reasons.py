"""A reason for every status (issue 13 point 4), tool roles, and tasks that follow
the conversation (issue 13 point 1, issue 18 point 1). Pure logic."""

from __future__ import annotations

from datetime import timedelta

from tasktrace.config.extractor import CriteriaConfig, ToolRolesConfig
from tasktrace.extractor.apply import apply_ops, expire
from tasktrace.extractor.status_reasons import resolve, status_for
from tasktrace.extractor.tool_roles import ToolRole, ToolRoles
from tasktrace.model import CreateTask, Message, Role, SetStatus, StatusReason, TaskStatus
from tests.unit.heuristic_helpers import NOW, assistant, call, result, tasks_of, user

S = TaskStatus
R = StatusReason

CHANGE_REQUEST = (
    user("Hi, I need to change my flight to Denver to a later one."),
    assistant("Sure. What is your booking reference?"),
    user("It's ABC123."),
    call("get_booking", ref="ABC123"),
    result("get_booking", {"ref": "ABC123", "flight": "UA10", "fare": "basic"}),
)


def _one(*turns: object, criteria: CriteriaConfig | None = None) -> tuple[S, str]:
    (task,) = tasks_of(*turns, criteria=criteria)  # type: ignore[arg-type]
    return task.status, task.status_reason


# --- one test per status_reason ---------------------------------------------------------


def test_completed_when_the_write_succeeded_and_the_agent_said_so() -> None:
    assert _one(
        *CHANGE_REQUEST,
        assistant("I found UA10. Shall I move you to UA12 at 6 pm?"),
        user("Yes please."),
        call("change_flight", ref="ABC123", flight="UA12"),
        result("change_flight", {"status": "ok"}),
        assistant("Done: you are now on UA12 at 6 pm."),
    ) == (S.SUCCESS, R.COMPLETED)


def test_tool_error_when_the_last_attempt_failed() -> None:
    assert _one(
        user("Book a table for two at Nopa tonight."),
        call("book_table", restaurant="Nopa", party_size=2),
        result("book_table", "TimeoutError: reservation service down", error=True),
        assistant("I'm sorry, I couldn't make the booking."),
    ) == (S.FAILED, R.TOOL_ERROR)


def test_refused_when_the_agent_declines_under_a_rule() -> None:
    assert _one(
        *CHANGE_REQUEST,
        assistant("Unfortunately basic fares cannot be changed under our policy."),
    ) == (S.FAILED, R.REFUSED)


def test_escalated_by_a_handoff_tool_or_by_the_agents_words() -> None:
    by_tool = _one(
        *CHANGE_REQUEST,
        call("transfer_to_human_agents", summary="wants a change on a basic fare"),
        result("transfer_to_human_agents", "Transfer successful"),
        assistant("You are being transferred now."),
    )
    by_words = _one(
        user("I want to cancel my order 55."),
        assistant("I'm unable to do that here, so I'll transfer you to a human agent now."),
    )
    assert by_tool == by_words == (S.FAILED, R.ESCALATED)


def test_abandoned_when_the_user_gives_up_or_leaves() -> None:
    for leaving in ("Never mind, forget it.", "OK, I'll contact customer service myself."):
        assert _one(*CHANGE_REQUEST[:2], user(leaving)) == (S.FAILED, R.ABANDONED), leaving


def test_awaiting_user_when_the_agent_asked_and_no_answer_came() -> None:
    assert _one(*CHANGE_REQUEST[:2]) == (S.RUNNING, R.AWAITING_USER)


def test_in_progress_when_cut_mid_action() -> None:
    cut_mid_call = _one(*CHANGE_REQUEST[:4])
    cut_after_user = _one(*CHANGE_REQUEST[:3])
    assert cut_mid_call == cut_after_user == (S.RUNNING, R.IN_PROGRESS)


def test_expired_from_the_ttl() -> None:
    tasks = tasks_of(*CHANGE_REQUEST[:2])
    ops = expire(tasks, last_activity=NOW, now=NOW + timedelta(hours=1), ttl=60)
    (task,) = apply_ops(tasks, ops, session_id="s1", now=NOW, extractor="h", messages={})
    assert (task.status, task.status_reason) == (S.EXPIRED, R.EXPIRED)


def test_criteria_when_a_custom_rule_matched() -> None:
    criteria = CriteriaConfig(failure_patterns=(r"\bwaitlist\b",))
    assert _one(
        user("Book me on the 9am ferry."),
        call("book_ferry", time="09:00"),
        result("book_ferry", {"status": "ok"}),
        assistant("You're on the waitlist for the 9am ferry."),
        criteria=criteria,
    ) == (S.FAILED, R.CRITERIA)


# --- the status/reason table ---------------------------------------------------------


def test_a_reason_that_does_not_fit_the_status_falls_back_to_its_default() -> None:
    assert resolve(S.SUCCESS, R.TOOL_ERROR) == R.COMPLETED
    assert resolve(S.FAILED, "") == R.TOOL_ERROR
    assert resolve(S.RUNNING, R.AWAITING_USER) == R.AWAITING_USER
    assert resolve(S.PENDING, R.COMPLETED) == ""


def test_not_done_reasons_make_the_status_failed() -> None:
    for reason in (R.REFUSED, R.ESCALATED, R.ABANDONED):
        assert status_for(S.SUCCESS, reason) is S.FAILED
    assert status_for(S.SUCCESS, R.COMPLETED) is S.SUCCESS
    (task,) = apply_ops(
        (),
        [CreateTask(1, "x"), SetStatus(1, S.SUCCESS, "said bye", R.ABANDONED)],
        session_id="s1",
        now=NOW,
        extractor="h",
        messages={},
    )
    assert (task.status, task.status_reason) == (S.FAILED, R.ABANDONED)


# --- tool roles ----------------------------------------------------------------------


def test_tool_roles_come_from_the_words_of_the_name() -> None:
    roles = ToolRoles()
    assert roles.role("search_direct_flight") is ToolRole.READ
    assert roles.role("GetWeather") is ToolRole.READ
    assert roles.role("book_reservation") is ToolRole.WRITE
    assert roles.role("CancelOrder") is ToolRole.WRITE
    assert roles.role("transfer_to_human_agents") is ToolRole.HANDOFF
    assert roles.role("route", '{"to": "human"}') is ToolRole.HANDOFF


def test_config_extends_the_table_with_words_or_tool_names() -> None:
    config = ToolRolesConfig(write=("enqueue",), handoff=("page_oncall",))
    roles = ToolRoles.extended(config.handoff, config.write)
    assert roles.role("enqueue_job") is ToolRole.WRITE
    assert roles.role("page_oncall") is ToolRole.HANDOFF
    assert ToolRoles().role("enqueue_job") is ToolRole.READ


# --- segmentation that follows the conversation ----------------------------------------


def test_answers_choices_confirmations_arguing_and_thanks_stay_in_the_task() -> None:
    tasks = tasks_of(
        user("I need to change my return flight to a later one on May 27."),
        assistant("I can help. Could you give me your user id?"),
        user("Sure, my user ID is mia_li_3668."),
        call("get_user_details", user_id="mia_li_3668"),
        result("get_user_details", {"reservations": ["H9ZU1C"]}),
        call("search_flights", date="2026-05-27"),
        result("search_flights", [{"flight": "HAT1", "at": "18:00"}, {"flight": "HAT2"}]),
        assistant("1. HAT1 at 18:00 2. HAT2 at 20:00. Which one would you like?"),
        user("I'll go with the first option."),
        assistant("Shall I change your flight to HAT1 for a $50 fee?"),
        user("Yes, please proceed. Thank you!"),
        call("update_reservation_flights", reservation_id="H9ZU1C", flight="HAT1"),
        result("update_reservation_flights", {"status": "ok"}),
        assistant("Your reservation has been updated to HAT1."),
        user("Thanks, that's all!"),
    )
    assert [(t.status, t.status_reason) for t in tasks] == [(S.SUCCESS, R.COMPLETED)]
    assert [s.split("(")[0] for s in tasks[0].progress] == [
        "get_user_details",
        "search_flights",
        "update_reservation_flights",
    ]


def test_arguing_with_a_refusal_stays_in_the_task() -> None:
    tasks = tasks_of(
        *CHANGE_REQUEST,
        assistant("Unfortunately basic fares cannot be changed."),
        user("That is unfair, I really need a later flight. Can't you make an exception?"),
        assistant("I'm sorry, I cannot make an exception to the policy."),
    )
    assert [(t.status, t.status_reason) for t in tasks] == [(S.FAILED, R.REFUSED)]


def test_a_new_request_never_absorbs_a_failed_task() -> None:
    """Issue 18 point 1: the hotel request after a failed return booking."""
    tasks = tasks_of(
        user("Book me a flight from Boston to Lisbon on May 3. I prefer a window seat."),
        call("book_flight", origin="Boston", destination="Lisbon", seat="window"),
        result("book_flight", {"confirmation": "ABC123"}),
        assistant("Your flight is booked, confirmation ABC123, window seat."),
        user("Now book the return flight from Lisbon to Boston on May 10."),
        call("book_flight", origin="Lisbon", destination="Boston"),
        result("book_flight", "RuntimeError: booking backend unavailable", error=True),
        assistant("I'm sorry, the booking system failed. Would you like me to try later?"),
        user("Can you find me a hotel in Lisbon for May 3 to May 10?"),
        call("search_hotels", city="Lisbon"),
        result("search_hotels", [{"name": "Hotel Avenida", "price": 120}]),
        assistant("I found Hotel Avenida for $120 a night."),
    )
    flight, back, hotel = tasks
    assert (back.status, back.status_reason) == (S.FAILED, R.TOOL_ERROR)
    assert (hotel.status, hotel.status_reason) == (S.SUCCESS, R.COMPLETED)
    assert set(back.message_ids).isdisjoint(hotel.message_ids)
    assert hotel.description.startswith("Can you find me a hotel")
    assert flight.status is S.SUCCESS


def test_a_new_task_takes_its_messages_and_their_traces_from_another() -> None:
    msgs = {
        "m1": Message("m1", "s1", 1, Role.USER, "a", trace_id="t1"),
        "m2": Message("m2", "s1", 2, Role.USER, "b", trace_id="t2"),
    }
    ops = [CreateTask(1, "a", message_ids=("m1", "m2")), CreateTask(2, "b", message_ids=("m2",))]
    first, second = apply_ops((), ops, session_id="s1", now=NOW, extractor="h", messages=msgs)
    assert (first.message_ids, first.trace_ids) == (("m1",), ("t1",))
    assert (second.message_ids, second.trace_ids) == (("m2",), ("t2",))


def test_a_preference_for_the_whole_trip_is_carried_to_the_next_request() -> None:
    """Issue 18 point 8: only when the user says it is for the whole trip."""

    def second_task_preferences(first: str) -> tuple[str, ...]:
        tasks = tasks_of(
            user(first),
            call("book_flight", origin="Boston", destination="Lisbon"),
            result("book_flight", {"confirmation": "ABC123"}),
            assistant("Your flight is booked."),
            user("Now book the return flight from Lisbon to Boston on May 10."),
        )
        return tasks[1].preferences

    whole = "Book a flight from Boston to Lisbon. I prefer a window seat for the whole trip."
    once = "Book a flight from Boston to Lisbon. I prefer a window seat."
    assert second_task_preferences(whole) == ("I prefer a window seat for the whole trip",)
    assert second_task_preferences(once) == ()


# --- preferences -----------------------------------------------------------------------


def test_identifiers_are_not_preferences_but_the_kind_the_user_chose_is() -> None:
    from tasktrace.extractor.heuristic_prefs import stated_preferences

    arguments = (
        '{"user_id": "mia_li_3668", "reservation_id": "H9ZU1C", "cabin": "economy",'
        ' "payment_methods": [{"payment_id": "gift_card_7091239", "amount": 120}]}'
    )
    said = [(True, "My user id is mia_li_3668, booking H9ZU1C. Economy, paid with my gift card.")]
    assert list(stated_preferences(arguments, said)) == ["cabin=economy", "payment=gift_card"]


# --- a look-up that puts forward what it found ------------------------------------------

HOTEL_SEARCH = (
    user("Search for a hotel in Denver with wifi, I need to book one room."),
    call("search_hotels", city="Denver", wifi=True),
    result("search_hotels", [{"name": "The Grand", "stars": 3}, {"name": "Inn 7", "stars": 2}]),
)


def test_a_look_up_that_proposes_a_found_item_served_the_request() -> None:
    assert _one(*HOTEL_SEARCH, assistant("I found 2. How about The Grand, 3 stars?")) == (
        S.SUCCESS,
        R.COMPLETED,
    )


def test_a_look_up_that_asks_for_more_still_waits_on_the_user() -> None:
    assert _one(
        *HOTEL_SEARCH, assistant("I found 2. For which nights should I book the room?")
    ) == (S.RUNNING, R.AWAITING_USER)
