"""The heuristic extractor, one rule per test, on small hand-written conversations."""

from __future__ import annotations

from tasktrace.config.extractor import CriteriaConfig
from tasktrace.extractor.base import ExtractionInput
from tasktrace.extractor.heuristic import HeuristicExtractor
from tasktrace.model import CreateTask, TaskStatus
from tests.unit.heuristic_helpers import NOW, assistant, call, messages, result, run, tasks_of, user

S = TaskStatus

HOTEL_SEARCH = (
    user("I need a hotel in Lisbon for two nights."),
    call("search_hotels", city="Lisbon", nights=2),
    result("search_hotels", [{"hotel_name": "Casa Azul", "price": 120, "phone_number": "123"}]),
    assistant("I found Casa Azul at 120 EUR a night."),
)


def test_first_request_creates_a_pending_task_linked_to_the_user_message() -> None:
    msgs = messages(user("Translate this paragraph into French."))
    (task,) = run(msgs)
    assert task.status is S.PENDING
    assert task.description == "Translate this paragraph into French."
    assert task.message_ids == ("m1",)


def test_a_new_request_after_a_finished_task_starts_a_second_task() -> None:
    tasks = tasks_of(
        user("What's the capital of Australia?"),
        assistant("The capital of Australia is Canberra."),
        user("Thanks. Now convert 250 AUD to EUR for me."),
        call("convert_currency", amount=250, from_currency="AUD", to_currency="EUR"),
        result("convert_currency", {"amount": 152.75}),
        assistant("250 AUD is about 152.75 EUR."),
    )
    assert [t.status for t in tasks] == [S.SUCCESS, S.SUCCESS]
    assert tasks[1].progress == (
        "convert_currency(amount=250, from_currency=AUD, to_currency=EUR)",
    )


def test_a_refinement_stays_in_the_current_task() -> None:
    tasks = tasks_of(
        *HOTEL_SEARCH,
        user("Anything else? Something cheaper instead."),
        call("search_hotels", city="Lisbon", nights=2, max_price=100),
        result("search_hotels", [{"hotel_name": "Pensao", "price": 80}]),
        assistant("Pensao costs 80 EUR a night."),
    )
    assert len(tasks) == 1
    assert [s.split("(")[0] for s in tasks[0].progress] == ["search_hotels", "search_hotels"]


def test_an_answer_to_the_assistants_question_stays_in_the_task() -> None:
    tasks = tasks_of(
        user("Book me a table for dinner."),
        assistant("Which city and for how many people?"),
        user("I want it in Porto for 4 people."),
        call("book_table", city="Porto", party_size=4),
        result("book_table", {"confirmation": "X1"}),
        assistant("Your table is booked."),
    )
    assert len(tasks) == 1
    assert tasks[0].status is S.SUCCESS


def test_a_question_about_the_results_stays_in_the_task() -> None:
    tasks = tasks_of(*HOTEL_SEARCH, user("What is their phone number?"), assistant("It is 123."))
    assert len(tasks) == 1


def test_accepting_an_offered_action_after_success_starts_a_task() -> None:
    tasks = tasks_of(*HOTEL_SEARCH, assistant("Would you like me to book it?"), user("Yes please."))
    assert len(tasks) == 2
    assert tasks[1].description.startswith("book it")


def test_tool_calls_become_progress_steps_with_their_key_arguments() -> None:
    tasks = tasks_of(*HOTEL_SEARCH)
    assert tasks[0].progress == ("search_hotels(city=Lisbon, nights=2)",)
    assert {"m2", "m3", "m4"} <= set(tasks[0].message_ids)


def test_a_tool_error_fails_the_task() -> None:
    tasks = tasks_of(
        user("Deploy the staging branch to the staging cluster."),
        call("run_deploy", branch="staging"),
        result("run_deploy", "PermissionError: lacks role", error=True),
        assistant("The deploy did not complete; someone must grant the role."),
    )
    assert tasks[0].status is S.FAILED


def test_an_empty_result_reported_as_nothing_found_fails_the_task() -> None:
    tasks = tasks_of(
        user("Find me a vegan bakery in Oslo."),
        call("find_places", kind="vegan bakery", city="Oslo"),
        result("find_places", []),
        assistant("I couldn't find any vegan bakery in Oslo."),
    )
    assert tasks[0].status is S.FAILED


def test_the_assistant_saying_it_could_not_fails_an_open_task_without_tools() -> None:
    tasks = tasks_of(user("Order me a pizza."), assistant("Sorry, I can't place orders."))
    assert tasks[0].status is S.FAILED


def test_a_success_report_after_a_tool_result_succeeds_the_task() -> None:
    tasks = tasks_of(
        user("Book a table for two at 8pm."),
        call("book_table", party_size=2, time="20:00"),
        result("book_table", {"confirmation": "BK-1"}),
        assistant("Booked: confirmation BK-1."),
    )
    assert tasks[0].status is S.SUCCESS
    assert [h.status for h in tasks[0].history] == [S.PENDING, S.RUNNING, S.SUCCESS]


def test_a_task_is_pending_until_the_agent_acts() -> None:
    tasks = tasks_of(*HOTEL_SEARCH, user("Great. Now book me a taxi to the airport."))
    assert [t.status for t in tasks] == [S.SUCCESS, S.PENDING]


def test_a_task_is_running_while_a_tool_call_is_open() -> None:
    tasks = tasks_of(
        user("Find open bug issues and post a digest to #dev."),
        call("search_issues", label="bug"),
        result("search_issues", [{"number": 12}]),
        call("post_message", channel="#dev"),
    )
    assert tasks[0].status is S.RUNNING
    assert len(tasks[0].progress) == 2


def test_a_task_is_running_while_a_question_to_the_user_is_open() -> None:
    tasks = tasks_of(user("Book me a flight to Rome."), assistant("Which day do you want to fly?"))
    assert tasks[0].status is S.RUNNING


def test_tool_arguments_the_user_stated_become_preferences() -> None:
    tasks = tasks_of(
        user("Reserve a table for 4 people in Porto at 7:30 pm."),
        call("book_table", city="Porto", party_size=4, time="19:30", restaurant="Tasca"),
        result("book_table", {"ok": True}),
        assistant("Done, booked."),
    )
    # "for 4 people" is also a stated constraint in words (see heuristic_constraints)
    assert set(tasks[0].preferences) == {"city=Porto", "party_size=4", "time=19:30", "passengers=4"}


def test_a_standing_preference_attaches_to_the_next_task() -> None:
    tasks = tasks_of(
        user("From now on, I always want answers in bullet points."),
        assistant("Got it."),
        user("What are the main benefits of writing unit tests?"),
        assistant("- Catch regressions early"),
    )
    assert len(tasks) == 1
    assert any("bullet points" in p for p in tasks[0].preferences)


def test_a_complaint_reopens_a_finished_task() -> None:
    tasks = tasks_of(
        user("Book a table for two at 8pm."),
        call("book_table", party_size=2),
        result("book_table", {"confirmation": "BK-1"}),
        assistant("Booked."),
        user("That booking is wrong, it was meant for 9pm."),
    )
    assert tasks[0].status is S.RUNNING
    assert tasks[0].history[-1].reason.startswith("reopened")
    assert S.SUCCESS in [h.status for h in tasks[0].history]


def test_giving_up_fails_an_open_task() -> None:
    tasks = tasks_of(
        user("Book me a flight to Rome."),
        assistant("Which day?"),
        user("Never mind, forget it."),
    )
    assert tasks[0].status is S.FAILED


def test_criteria_patterns_override_the_built_in_cues() -> None:
    criteria = CriteriaConfig(failure_patterns=(r"\bpending approval\b",))
    turns = (
        user("Refund order 42."),
        call("refund", order=42),
        result("refund", {"state": "queued"}),
        assistant("The refund is pending approval."),
    )
    assert tasks_of(*turns)[0].status is S.SUCCESS
    assert tasks_of(*turns, criteria=criteria)[0].status is S.FAILED


def test_a_conversation_fed_in_chunks_gives_the_same_tasks_as_fed_at_once() -> None:
    msgs = messages(
        *HOTEL_SEARCH,
        user("What is their phone number?"),
        assistant("It is 123."),
        assistant("Would you like me to book it?"),
        user("Yes please, for 2 nights."),
        call("book_hotel", hotel_name="Casa Azul", nights=2),
        result("book_hotel", [], error=True),
        assistant("Sorry, I couldn't book it."),
        user("Try again please."),
        call("book_hotel", hotel_name="Casa Azul", nights=2),
        result("book_hotel", {"confirmation": "H1"}),
        assistant("Booked."),
    )
    whole = run(msgs)
    for chunk in (1, 2, 3, 5):
        assert run(msgs, chunk=chunk) == whole
    assert [t.status for t in whole] == [S.SUCCESS, S.SUCCESS]
    assert [s.split("(")[0] for s in whole[1].progress] == ["book_hotel", "book_hotel"]


async def test_the_extractor_wraps_the_pure_function() -> None:
    extractor = HeuristicExtractor(CriteriaConfig())
    request = ExtractionInput(
        session_id="s1", tasks=(), messages=messages(user("Book a taxi.")), now=NOW
    )
    result_ = await extractor.extract(request)
    await extractor.aclose()
    assert extractor.name == "heuristic"
    assert isinstance(result_.ops[0], CreateTask)
