from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tasktrace.config.extractor import CriteriaConfig, LLMExtractorConfig
from tasktrace.extractor.base import ExtractionInput
from tasktrace.extractor.llm_prompt import (
    INSTRUCTIONS,
    MAX_FINISHED_TASKS,
    InvalidOutput,
    build_messages,
    parse_operations,
    reprompt,
)
from tasktrace.extractor.llm_schema import OUTPUT_SCHEMA, response_format
from tasktrace.model import (
    AddPreference,
    AppendProgress,
    CreateTask,
    Message,
    Role,
    SetStatus,
    Task,
    TaskStatus,
    ToolCall,
    UpdateDescription,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
CONFIG = LLMExtractorConfig(recent_progress=2)


def make_message(seq: int, role: Role = Role.USER, content: str = "", **kw: Any) -> Message:
    return Message(
        id=f"msg-{seq}",
        session_id="s1",
        seq=seq,
        role=role,
        content=content or f"message number {seq}",
        **kw,
    )


def make_task(
    order: int,
    status: TaskStatus = TaskStatus.RUNNING,
    description: str = "",
    progress: tuple[str, ...] = (),
    preferences: tuple[str, ...] = (),
) -> Task:
    return Task(
        id=f"task-{order}",
        session_id="s1",
        order=order,
        description=description or f"task number {order}",
        status=status,
        created_at=NOW,
        updated_at=NOW,
        progress=progress,
        preferences=preferences,
    )


def make_request(
    messages: tuple[Message, ...],
    tasks: tuple[Task, ...] = (),
    context: tuple[Message, ...] = (),
) -> ExtractionInput:
    return ExtractionInput(
        session_id="s1", tasks=tasks, messages=messages, now=NOW, context=context
    )


def user_prompt(request: ExtractionInput) -> str:
    messages = build_messages(request, CONFIG, CriteriaConfig())
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_system_message_is_the_static_block_so_providers_can_cache_it() -> None:
    one = build_messages(make_request((make_message(1),)), CONFIG, CriteriaConfig())
    two = build_messages(make_request((make_message(7),)), CONFIG, CriteriaConfig())
    assert one[0] == two[0]
    assert one[0]["content"].startswith(INSTRUCTIONS)


def test_criteria_text_is_added_to_the_instructions() -> None:
    criteria = CriteriaConfig(success="the booking id is shown", failure="payment declined")
    system = build_messages(make_request((make_message(1),)), CONFIG, criteria)[0]["content"]
    assert "the booking id is shown" in system
    assert "payment declined" in system


def test_new_messages_are_labelled_with_role_tool_calls_and_tool_results() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments='{"city": "Paris"}')
    messages = (
        make_message(10, Role.USER, "weather in Paris?"),
        make_message(11, Role.ASSISTANT, "checking", tool_calls=(call,)),
        make_message(12, Role.TOOL, "rain", tool_name="get_weather", tool_call_id="c1"),
        make_message(13, Role.TOOL, "timeout", tool_name="get_news", error=True),
    )
    prompt = user_prompt(make_request(messages))
    assert "m1 user: weather in Paris?" in prompt
    assert 'm2 assistant: checking [calls get_weather({"city": "Paris"})]' in prompt
    assert "m3 tool get_weather result: rain" in prompt
    assert "m4 tool get_news ERROR: timeout" in prompt


def test_open_tasks_show_status_preferences_and_only_recent_progress() -> None:
    task = make_task(
        3,
        description="book a table",
        progress=("step one", "step two", "step three"),
        preferences=("vegetarian",),
    )
    prompt = user_prompt(make_request((make_message(1),), tasks=(task,)))
    assert "#3 [running] book a table" in prompt
    assert "preference: vegetarian" in prompt
    assert "step two" in prompt and "step three" in prompt
    assert "step one" not in prompt


def test_only_the_last_finished_tasks_are_shown() -> None:
    finished = tuple(make_task(i, TaskStatus.SUCCESS) for i in range(1, 31))
    open_task = make_task(31, TaskStatus.PENDING)
    prompt = user_prompt(make_request((make_message(1),), tasks=(*finished, open_task)))
    assert prompt.count("[success]") == MAX_FINISHED_TASKS
    assert "#31 [pending]" in prompt
    assert "task number 1\n" not in prompt
    assert "older tasks not shown" in prompt


def test_context_messages_are_shown_but_not_labelled_for_reference() -> None:
    context = (make_message(4, Role.ASSISTANT, "which city?"),)
    prompt = user_prompt(make_request((make_message(5, Role.USER, "Berlin"),), context=context))
    assert "- assistant: which city?" in prompt
    assert "m1 user: Berlin" in prompt
    assert "m2" not in prompt


def _simulated_prompts(total: int, chunk: int) -> list[str]:
    """Feed a session of ``total`` messages in chunks; one task per chunk,
    finished in the next one, each with growing progress."""
    roles = (Role.USER, Role.ASSISTANT)
    history = [make_message(seq, roles[seq % 2]) for seq in range(total)]
    tasks: list[Task] = []
    prompts = []
    for start in range(0, total, chunk):
        new = tuple(history[start : start + chunk])
        context = tuple(history[max(0, start - 4) : start])
        prompts.append(user_prompt(make_request(new, tuple(tasks), context)))
        tasks = [make_task(t.order, TaskStatus.SUCCESS, progress=t.progress) for t in tasks] + [
            make_task(len(tasks) + 1, progress=tuple(f"step {i}" for i in range(start)))
        ]
    return prompts


def test_prompt_size_stays_flat_as_a_session_grows_to_500_messages() -> None:
    prompts = _simulated_prompts(total=500, chunk=16)
    full_chunks = prompts[MAX_FINISHED_TASKS + 1 : -1]  # once the finished-task window is full
    sizes = [len(p) for p in full_chunks]
    # what varies is the width of the numbers in "message number 123"
    assert max(sizes) <= 1.1 * min(sizes)
    assert "message number 3\n" not in prompts[-1]
    assert "message number 499" in prompts[-1]


# --- parsing -----------------------------------------------------------------


def answer(*ops: dict[str, object]) -> str:
    return json.dumps({"operations": list(ops)})


def test_a_create_takes_the_next_free_order_and_maps_labels_to_message_ids() -> None:
    request = make_request(
        (make_message(20), make_message(21), make_message(22)), tasks=(make_task(4),)
    )
    text = answer(
        {
            "op": "create",
            "description": "find a flight",
            "reason": "asked",
            "status": "pending",
            "messages": ["m1", "m3"],
        },
        {
            "op": "create",
            "description": "book a hotel",
            "reason": "asked",
            "status": "running",
            "messages": [2],
        },
    )
    assert parse_operations(text, request) == (
        CreateTask(5, "find a flight", TaskStatus.PENDING, ("msg-20", "msg-22"), "asked"),
        CreateTask(6, "book a hotel", TaskStatus.RUNNING, ("msg-21",), "asked"),
    )


def test_operations_on_existing_and_just_created_tasks_are_kept() -> None:
    request = make_request((make_message(1), make_message(2)), tasks=(make_task(1),))
    text = answer(
        {"op": "update_description", "task": 1, "description": "new text"},
        {
            "op": "create",
            "description": "other",
            "reason": "",
            "status": "pending",
            "messages": ["m2"],
        },
        {"op": "append_progress", "task": 2, "step": "searched", "messages": ["m2", "m9"]},
        {"op": "set_status", "task": 1, "reason": "done", "status": "success"},
        {"op": "add_preference", "task": 2, "text": "window seat"},
    )
    ops = parse_operations(text, request)
    assert ops[0] == UpdateDescription(1, "new text")
    assert ops[2] == AppendProgress(2, "searched", ("msg-2",))
    assert ops[3] == SetStatus(1, TaskStatus.SUCCESS, "done")
    assert ops[4] == AddPreference(2, "window seat")


def test_operations_on_unknown_tasks_are_dropped() -> None:
    request = make_request((make_message(1),), tasks=(make_task(1),))
    text = answer({"op": "set_status", "task": 7, "reason": "", "status": "failed"})
    assert parse_operations(text, request) == ()


def test_a_fenced_json_answer_is_accepted() -> None:
    request = make_request((make_message(1),))
    assert parse_operations('```json\n{"operations": []}\n```', request) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("Sure! Here are the tasks", "not JSON"),
        ('{"ops": []}', "operations"),
        ('{"operations": [{"op": "delete", "task": 1}]}', "operations.0"),
        (
            '{"operations": [{"op": "set_status", "task": 1, "reason": "", "status": "done"}]}',
            "status",
        ),
        (
            '{"operations": [{"op": "create", "description": " ", "reason": "", '
            '"status": "pending", "messages": []}]}',
            "description",
        ),
    ],
)
def test_invalid_answers_raise_a_readable_error(text: str, expected: str) -> None:
    with pytest.raises(InvalidOutput) as caught:
        parse_operations(text, make_request((make_message(1),)))
    assert expected in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) in reprompt(caught.value)["content"]


def test_schema_is_strict_and_lists_every_operation() -> None:
    fmt = response_format("json_schema")
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == OUTPUT_SCHEMA
    defs = OUTPUT_SCHEMA["$defs"]
    assert {d["properties"]["op"]["const"] for d in defs.values()} == {
        "create",
        "update_description",
        "append_progress",
        "set_status",
        "add_preference",
    }
    for definition in defs.values():
        assert definition["additionalProperties"] is False
        assert definition["required"] == list(definition["properties"])
        assert next(iter(definition["properties"])) == "op"
    assert "oneOf" not in json.dumps(OUTPUT_SCHEMA)
    assert response_format("json_object") == {"type": "json_object"}


def test_only_the_last_few_context_messages_are_shown() -> None:
    context = tuple(make_message(seq, Role.ASSISTANT, f"earlier reply {seq}") for seq in range(40))
    prompt = user_prompt(make_request((make_message(40),), context=context))
    assert "earlier reply 39" in prompt
    assert "earlier reply 30" not in prompt


def call_message(seq: int, name: str, arguments: str) -> Message:
    return make_message(
        seq, Role.ASSISTANT, " ", tool_calls=(ToolCall(f"c{seq}", name, arguments),)
    )


def create(*labels: str, description: str = "find a flight") -> dict[str, object]:
    return {
        "op": "create",
        "description": description,
        "reason": "",
        "status": "running",
        "messages": list(labels),
    }


def progress_of(ops: tuple[object, ...]) -> list[tuple[int, str, tuple[str, ...]]]:
    return [(o.order, o.step, o.message_ids) for o in ops if isinstance(o, AppendProgress)]


def test_a_tool_call_becomes_a_step_written_from_the_call_in_place_of_the_models_words() -> None:
    request = make_request(
        (make_message(1), call_message(2, "search_flights", '{"to": "Rome", "stops": 0}'))
    )
    text = answer(
        create("m1"),
        {"op": "append_progress", "task": 1, "step": "looked for flights", "messages": ["m2"]},
    )
    assert progress_of(parse_operations(text, request)) == [
        (1, "search_flights(to=Rome, stops=0)", ("msg-2",))
    ]


def test_a_tool_call_goes_to_the_task_of_the_nearest_linked_message_before_it() -> None:
    request = make_request(
        (
            make_message(1),
            call_message(2, "search_flights", "{}"),
            make_message(3),
            call_message(4, "book_hotel", '{"city": "Rome"}'),
        )
    )
    text = answer(create("m1"), create("m3", description="book a hotel"))
    assert progress_of(parse_operations(text, request)) == [
        (1, "search_flights()", ("msg-2",)),
        (2, "book_hotel(city=Rome)", ("msg-4",)),
    ]


def test_an_unlinked_tool_call_goes_to_the_newest_open_task_and_prose_steps_stay() -> None:
    tasks = (make_task(1, TaskStatus.SUCCESS), make_task(2, TaskStatus.RUNNING))
    request = make_request((call_message(7, "check_weather", '{"city": "Oslo"}'),), tasks=tasks)
    text = answer({"op": "append_progress", "task": 1, "step": "told the user", "messages": []})
    assert progress_of(parse_operations(text, request)) == [
        (1, "told the user", ()),
        (2, "check_weather(city=Oslo)", ("msg-7",)),
    ]


def test_a_tool_call_with_no_task_to_go_to_adds_no_step() -> None:
    request = make_request((call_message(1, "ping", "{}"),))
    assert parse_operations(answer(), request) == ()
