"""The heuristic extractor on follow-up messages: confirmations, picks, corrections,
requests after an acknowledgement, and how stated values are recognised."""

from __future__ import annotations

from tasktrace.extractor.heuristic_prefs import stated_preferences, value_stated
from tasktrace.model import TaskStatus
from tests.unit.heuristic_helpers import assistant, call, result, tasks_of, user

S = TaskStatus

SONG_SEARCH = (
    user("I'm looking for songs by Nina Simone."),
    call("find_songs", artist="Nina Simone"),
    result("find_songs", [{"title": "Feeling Good", "album": "Gold"}]),
    assistant("I found Feeling Good from the album Gold."),
)


def _tools(task_progress: tuple[str, ...]) -> list[str]:
    return [s.split("(")[0] for s in task_progress]


# --- the assistant asks without a question mark ---------------------------------


def test_a_confirmation_request_without_a_question_mark_keeps_the_task_running() -> None:
    for reply in (
        "To confirm: a table for 2 at Nopa at 7 pm.",
        "Please verify the following: 2 rooms at the Hilton.",
        "In which city do you want me to look.",
        "Okay, what date would you like",
    ):
        tasks = tasks_of(user("I want to eat out tonight."), assistant(reply))
        assert tasks[0].status is S.RUNNING, reply


def test_a_request_with_effects_is_not_settled_by_a_reply_without_tools() -> None:
    tasks = tasks_of(
        user("I want to buy tickets for the Giants game."),
        assistant("Ok, I have 2 tickets for the Giants game on Friday."),
        user("Yes that works, what's the address?"),
        call("buy_tickets", event="Giants game", count=2),
        result("buy_tickets", {"address": "24 Willie Mays Plaza"}),
        assistant("Your tickets are booked. It is at 24 Willie Mays Plaza."),
    )
    assert len(tasks) == 1
    assert tasks[0].status is S.SUCCESS
    assert _tools(tasks[0].progress) == ["buy_tickets"]


def test_a_question_is_still_answered_directly_without_tools() -> None:
    tasks = tasks_of(user("What's the tallest mountain?"), assistant("Mount Everest, 8,849 m."))
    assert tasks[0].status is S.SUCCESS


# --- the user confirms, picks or corrects -----------------------------------------


def test_confirming_the_assistants_question_keeps_a_further_ask_in_the_task() -> None:
    tasks = tasks_of(
        user("Book me a table at Nopa tonight."),
        assistant("Can you confirm a table for 2 at Nopa at 7 pm?"),
        user("That suits me well. Can you also tell me their phone number?"),
        call("book_table", restaurant="Nopa", party_size=2, time="19:00"),
        result("book_table", {"phone": "415-864-8643"}),
        assistant("Booked. Their number is 415-864-8643."),
    )
    assert len(tasks) == 1
    assert _tools(tasks[0].progress) == ["book_table"]


def test_a_pick_followed_by_another_request_starts_a_task() -> None:
    tasks = tasks_of(*SONG_SEARCH, user("I like that one. Let me know my checking balance please."))
    assert len(tasks) == 2


def test_a_pick_alone_stays_in_the_task() -> None:
    tasks = tasks_of(*SONG_SEARCH, user("I like that one. It sounds good."))
    assert len(tasks) == 1


def test_picking_up_a_car_is_not_picking_a_result() -> None:
    tasks = tasks_of(*SONG_SEARCH, user("Thanks. Can you find me a car? I want to pick up at 11."))
    assert len(tasks) == 2


def test_saying_no_to_a_statement_corrects_the_task() -> None:
    tasks = tasks_of(
        user("I need a cab to the station."),
        assistant("A cab for 1 person to the station."),
        user("No, I need two seats to the station."),
        call("get_ride", destination="the station", seats=2),
        result("get_ride", {"eta": 5}),
        assistant("Your cab is on its way."),
    )
    assert len(tasks) == 1
    assert tasks[0].progress


def test_saying_no_to_an_offer_then_asking_for_more_starts_a_task() -> None:
    tasks = tasks_of(
        *SONG_SEARCH,
        assistant("Want me to play it?"),
        user("No. Can you find me a cab to the airport?"),
    )
    assert len(tasks) == 2


def test_that_is_not_right_corrects_a_finished_task() -> None:
    tasks = tasks_of(*SONG_SEARCH, user("That's not right. I want songs from 1965."))
    assert len(tasks) == 1
    assert tasks[0].status is S.RUNNING


# --- requests after an acknowledgement --------------------------------------------


def test_a_short_thanks_followed_by_a_request_starts_a_task() -> None:
    tasks = tasks_of(*SONG_SEARCH, user("Great, play it for me."))
    assert len(tasks) == 2


def test_a_short_thanks_alone_starts_nothing() -> None:
    tasks = tasks_of(*SONG_SEARCH, user("Great, thanks!"))
    assert len(tasks) == 1


FULLY_BOOKED = (
    user("Please book the 7pm table at Luigi's."),
    call("book_table", restaurant="Luigi's", time="19:00"),
    result("book_table", "Error: fully booked", error=True),
    assistant("Sorry, Luigi's is fully booked at 7pm."),
)


def test_thanks_again_does_not_reopen_a_failed_task() -> None:
    thanked = tasks_of(*FULLY_BOOKED, user("You too! Thanks again for your patience."))
    assert [t.status for t in thanked] == [S.FAILED]
    retried = tasks_of(*FULLY_BOOKED, user("Could you check again?"))
    assert [t.status for t in retried] == [S.RUNNING]


def test_requests_phrased_with_adverbs_or_counts_start_tasks() -> None:
    for text in (
        "Okay, thanks. I also would like to watch a movie tonight.",
        "Ok great. I'd like 4 tickets to that concert.",
        "i am also looking for a 3 star hotel",
        "Sounds perfect but find me a hotel near the venue.",
    ):
        assert len(tasks_of(*SONG_SEARCH, user(text))) == 2, text


def test_stop_words_shared_with_result_fields_do_not_make_a_question_about_results() -> None:
    tasks = tasks_of(
        user("Find free museums in Boston."),
        call("find_attractions", city="Boston"),
        result("find_attractions", [{"name": "MFA", "good_for_kids": True}]),
        assistant("The MFA is free on Wednesdays."),
        user("Cool. Can you find me a bus for the 12th?"),
    )
    assert len(tasks) == 2


def test_searching_the_same_thing_again_refines_the_search_even_with_also() -> None:
    tasks = tasks_of(
        user("Check the balance of my savings account."),
        call("check_balance", account="savings"),
        result("check_balance", {"balance": 100}),
        assistant("Your savings balance is $100."),
        user("Also please check the balance of my checking account."),
        call("check_balance", account="checking"),
        result("check_balance", {"balance": 50}),
        assistant("Your checking balance is $50."),
    )
    assert len(tasks) == 1
    assert _tools(tasks[0].progress) == ["check_balance", "check_balance"]


def test_accepting_an_action_put_as_a_short_question_starts_a_task() -> None:
    tasks = tasks_of(*SONG_SEARCH, assistant("So, play it now?"), user("Yes, go ahead."))
    assert len(tasks) == 2
    assert tasks[1].description.startswith("play it now")


# --- stated values ------------------------------------------------------------------


def test_initials_in_capitals_state_a_value_of_several_words() -> None:
    assert value_stated("city", "San Francisco", "A table in SF please")
    assert value_stated("origin", "New York", "leaving from NYC")
    assert not value_stated("city", "San Francisco", "a table in sf please")
    assert not value_stated("city", "San Diego", "A table in SF please")


def test_a_value_cut_short_or_without_its_short_words_is_stated() -> None:
    assert value_stated("city", "San Francisco", "somewhere in san fran")
    assert value_stated("origin", "Las Vegas", "flying out of vegas")
    assert not value_stated("city", "San Francisco", "somewhere in san jose")


def test_a_number_written_otherwise_is_stated() -> None:
    assert value_stated("rating", "3.60", "at least 3.6 stars")
    assert value_stated("amount", "1790", "send 1,790 bucks")
    assert not value_stated("amount", "1790", "send 1,791 bucks")


def test_an_abbreviated_value_the_user_said_first_is_a_preference() -> None:
    texts = [(True, "Find me a hotel in SF"), (False, "Which hotel in San Francisco?")]
    assert list(stated_preferences('{"city": "San Francisco"}', texts)) == ["city=San Francisco"]
    offered = [(True, "Find me a hotel"), (False, "How about San Francisco?"), (True, "Yes SF")]
    assert list(stated_preferences('{"city": "San Francisco"}', offered)) == []


def test_asking_to_hear_the_rest_of_the_results_stays_in_the_search() -> None:
    for ask in ("Let's hear the others.", "Tell me the rest."):
        tasks = tasks_of(*SONG_SEARCH, user(ask), assistant("There is also Sinnerman."))
        assert len(tasks) == 1, ask


def test_wanna_without_i_is_a_request_after_a_finished_task() -> None:
    tasks = tasks_of(
        user("Send $20 to Amir."),
        call("transfer_money", recipient="Amir", amount=20),
        result("transfer_money", {"recipient": "Amir", "amount": 20}),
        assistant("Alright, it's done."),
        user("Great, just wanna re-check my savings balance then"),
    )
    assert len(tasks) == 2


def test_a_title_starting_with_how_to_is_not_a_question_that_starts_a_task() -> None:
    tasks = tasks_of(
        user("Find animated movies in Santa Rosa."),
        call("find_movies", genre="Animation", location="Santa Rosa"),
        result("find_movies", [{"movie_name": "How to Train Your Dragon"}]),
        assistant("1 movie matched: How to Train Your Dragon."),
        user("How to Train Your Dragon will work."),
        assistant("Do you want to buy tickets now?"),
        user("No not now."),
        assistant("Can I assist you in another way?"),
        user("What times do they show?"),
        call("get_times_for_movie", movie_name="How to Train Your Dragon"),
        result("get_times_for_movie", [{"show_time": "21:00"}]),
        assistant("A show is at 9 pm."),
    )
    assert [t.description for t in tasks] == [
        "Find animated movies in Santa Rosa.",
        "What times do they show?",
    ]


def test_a_question_after_a_result_that_only_echoes_the_call_is_a_new_request() -> None:
    transfer = (
        user("Send $20 from my checking account to Amir."),
        call("transfer_money", account_type="checking", amount=20, recipient="Amir"),
        result("transfer_money", {"account_type": "checking", "amount": 20, "recipient": "Amir"}),
        assistant("Your transfer was a success."),
    )
    echoed = tasks_of(*transfer, user("What is my checking account balance?"))
    told = tasks_of(
        *transfer[:2],
        result("transfer_money", {"account_type": "checking", "reference": "T-881"}),
        transfer[3],
        user("What is the reference number?"),
    )
    assert (len(echoed), len(told)) == (2, 1)


def test_that_is_confirmed_answers_the_confirmation_even_with_also() -> None:
    tasks = tasks_of(
        user("I need to book 2 bus tickets to Long Beach for Monday."),
        assistant("Please confirm to book 2 tickets to Long Beach on March 4th."),
        user("That is confirmed. Also let me know the ticket cost for this booking."),
        call("buy_bus_ticket", destination="Long Beach", group_size=2),
        result("buy_bus_ticket", {"destination": "Long Beach", "price": 40}),
        assistant("Your tickets are booked; they cost $40."),
    )
    assert len(tasks) == 1
    assert _tools(tasks[0].progress) == ["buy_bus_ticket"]
