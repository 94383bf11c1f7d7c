"""Prompt building and answer parsing for the ``llm`` extractor. Pure; no I/O.

The prompt is the static :data:`INSTRUCTIONS` (plus criteria) as the system
message, so providers can cache it, and one user message holding the current
tasks (bounded), a little context and the new messages labelled ``m1, m2, ...``.
Its size depends on the number of new messages and open tasks, never on the
length of the transcript.
"""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from tasktrace.config.extractor import CriteriaConfig, LLMExtractorConfig
from tasktrace.extractor.base import ExtractionInput
from tasktrace.extractor.llm_schema import (
    AddPreferenceOp,
    AppendProgressOp,
    CreateOp,
    Operations,
    SetStatusOp,
    UpdateDescriptionOp,
)
from tasktrace.extractor.tool_steps import tool_step
from tasktrace.model import (
    AddPreference,
    AppendProgress,
    CreateTask,
    Message,
    Role,
    SetStatus,
    Task,
    TaskOp,
    TaskStatus,
    UpdateDescription,
)

INSTRUCTIONS = """\
You track the tasks in a conversation between a user and an AI assistant (which may call tools).
A task is one thing the user asked the assistant to do or find out, e.g. "book a table for two \
in Berkeley on Friday". Small talk, greetings and thanks are not tasks. A follow-up that refines \
an existing task (a new date, a different city) changes that task instead of creating a new one.

Each task has a number, a description, progress steps, user preferences and a status:
- pending: asked for, but the assistant has not started on it yet (e.g. it asked a question back)
- running: the assistant is working on it (calling tools, waiting for the user's confirmation)
- success: the assistant did what was asked, or the user confirmed it was done
- failed: it cannot be done (a tool error that was not recovered, a refusal, the user gave up)
Every status comes with a "status_reason": for pending "none"; for running "in_progress" (the \
assistant is acting) or "awaiting_user" (it asked the user something); for success "completed"; \
for failed "tool_error" (the last attempt of a needed tool call failed), "refused" (the \
assistant declined, e.g. under a policy), "escalated" (handed to a human) or "abandoned" (the \
user gave up or left); "criteria" when a success or failure criterion below decided it.

You receive the current tasks and the NEW messages, labelled m1, m2, ... Reply with JSON only:
{"operations": [...]}, where each operation is one of
- {"op": "create", "description": "...", "reason": "...", "status": "...", "status_reason": \
"...", "messages": ["m1"]}
  a new task; new tasks are numbered after the existing ones, in the order you create them
- {"op": "update_description", "task": 1, "description": "..."}  the user changed what they want
- {"op": "append_progress", "task": 1, "step": "...", "messages": ["m2", "m3"]}  a tool call or \
answer that moved the task forward, one short line
- {"op": "set_status", "task": 1, "reason": "...", "status": "success", "status_reason": \
"completed"}
- {"op": "add_preference", "task": 1, "text": "..."}  a constraint the user stated (budget, time)
"messages" lists the labels of the new messages an operation is based on. Only "create" makes \
a task: the other operations must name a task number that is listed under "Current tasks" or \
that you created earlier in the same answer. If nothing changed, reply {"operations": []}.

Example. Current tasks: none. New messages:
m1 user: Find me a cheap flight to Rome on May 3, I prefer mornings.
m2 assistant: [calls search_flights({"to": "Rome", "date": "2024-05-03"})]
m3 tool search_flights result: [{"flight": "AZ 611", "depart": "08:10", "price": 120}]
m4 assistant: AZ 611 leaves at 08:10 for $120.
Answer:
{"operations": [
 {"op": "create", "description": "Find a cheap morning flight to Rome on May 3", \
"reason": "the user asked for it", "status": "running", "status_reason": "in_progress", \
"messages": ["m1"]},
 {"op": "add_preference", "task": 1, "text": "morning departure"},
 {"op": "append_progress", "task": 1, "step": "searched flights: AZ 611 at 08:10 for $120", \
"messages": ["m2", "m3", "m4"]},
 {"op": "set_status", "task": 1, "reason": "a matching flight was found and shown", \
"status": "success", "status_reason": "completed"}]}
"""

#: Finished tasks shown at most; open tasks are always shown (up to MAX_OPEN_TASKS).
MAX_FINISHED_TASKS = 5
MAX_OPEN_TASKS = 20
MAX_PREFERENCES = 5
MAX_TEXT = 1200
MAX_TOOL_TEXT = 400
MAX_CONTEXT_TEXT = 300
MAX_CONTEXT_MESSAGES = 6


class InvalidOutput(ValueError):
    """The model's answer is not valid; ``str(error)`` is fit to show it for a re-prompt."""


def system_prompt(criteria: CriteriaConfig) -> str:
    """The static instructions, followed by the configured criteria if any."""
    parts = [INSTRUCTIONS]
    if criteria.success:
        parts.append(f"A task counts as success when: {criteria.success.strip()}\n")
    if criteria.failure:
        parts.append(f"A task counts as failed when: {criteria.failure.strip()}\n")
    return "\n".join(parts)


def build_messages(
    request: ExtractionInput, config: LLMExtractorConfig, criteria: CriteriaConfig
) -> list[dict[str, str]]:
    """Chat messages for one extraction: system = instructions, user = state + new messages."""
    sections = [
        _render_tasks(request.tasks, config.recent_progress),
        _render_context(request.context),
        _render_new(request.messages),
    ]
    user = "\n\n".join(section for section in sections if section)
    return [
        {"role": "system", "content": system_prompt(criteria)},
        {"role": "user", "content": user},
    ]


def reprompt(error: InvalidOutput) -> dict[str, str]:
    """The follow-up user message after an invalid answer."""
    return {
        "role": "user",
        "content": f"Your answer was not valid: {error}\n"
        'Reply again with JSON only, exactly {"operations": [...]} as described.',
    }


# --- rendering --------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown_tasks(tasks: tuple[Task, ...]) -> tuple[list[Task], int]:
    """Open tasks (newest MAX_OPEN_TASKS) and the last finished ones, in order,
    plus how many were left out."""
    ordered = sorted(tasks, key=lambda t: t.order)
    open_ = [t for t in ordered if t.status.is_open][-MAX_OPEN_TASKS:]
    finished = [t for t in ordered if not t.status.is_open][-MAX_FINISHED_TASKS:]
    shown = sorted(open_ + finished, key=lambda t: t.order)
    return shown, len(ordered) - len(shown)


def _render_tasks(tasks: tuple[Task, ...], recent_progress: int) -> str:
    if not tasks:
        return "Current tasks: none (the first task you create is #1)."
    shown, omitted = _shown_tasks(tasks)
    lines = ["Current tasks:"]
    if omitted:
        lines.append(f"({omitted} older tasks not shown; do not refer to them)")
    for task in shown:
        lines.append(f"#{task.order} [{task.status.value}] {_clip(task.description, MAX_TEXT)}")
        if not task.status.is_open:
            continue
        for preference in task.preferences[-MAX_PREFERENCES:]:
            lines.append(f"  preference: {_clip(preference, MAX_TOOL_TEXT)}")
        steps = task.progress[-recent_progress:] if recent_progress else ()
        for step in steps:
            lines.append(f"  done: {_clip(step, MAX_TOOL_TEXT)}")
    return "\n".join(lines)


def _render_context(context: tuple[Message, ...]) -> str:
    if not context:
        return ""
    lines = ["Earlier messages (already handled, for context only):"]
    lines += [f"- {_render_message(m, MAX_CONTEXT_TEXT)}" for m in context[-MAX_CONTEXT_MESSAGES:]]
    return "\n".join(lines)


def _render_new(messages: tuple[Message, ...]) -> str:
    lines = ["New messages:"]
    lines += [f"m{i} {_render_message(m, MAX_TEXT)}" for i, m in enumerate(messages, start=1)]
    return "\n".join(lines)


def _render_message(message: Message, limit: int) -> str:
    if message.role is Role.TOOL:
        name = message.tool_name or "tool"
        label = "ERROR" if message.error else "result"
        return f"tool {name} {label}: {_clip(message.content, min(limit, MAX_TOOL_TEXT))}"
    parts = [f"{message.role.value}:"]
    if message.content:
        parts.append(_clip(message.content, limit))
    for call in message.tool_calls:
        parts.append(f"[calls {call.name}({_clip(call.arguments, MAX_TOOL_TEXT)})]")
    return " ".join(parts)


# --- parsing ----------------------------------------------------------------

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_MAX_ERRORS = 5


def _validation_message(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:_MAX_ERRORS]:
        where = ".".join(str(part) for part in item["loc"]) or "answer"
        problems.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(problems)
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)


def _validate(text: str) -> Operations:
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    if not body:
        raise InvalidOutput("the answer was empty")
    try:
        json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidOutput(f"not JSON ({error.msg} at position {error.pos})") from error
    try:
        return Operations.model_validate_json(body)
    except ValidationError as error:
        raise InvalidOutput(_validation_message(error)) from error


def parse_operations(text: str, request: ExtractionInput) -> tuple[TaskOp, ...]:
    """Validate the model's answer and turn it into task operations.

    Message labels map to the ids of ``request.messages`` (unknown labels are
    dropped); new tasks take the next free orders; operations on tasks that are
    neither current nor created here are dropped. Raises :class:`InvalidOutput`.
    """
    answer = _validate(text)
    ids = {f"m{i}": m.id for i, m in enumerate(request.messages, start=1)}
    known = {task.order for task in request.tasks}
    next_order = max(known, default=0) + 1
    ops: list[TaskOp] = []
    for op in answer.operations:
        if isinstance(op, CreateOp):
            ops.append(
                CreateTask(
                    order=next_order,
                    description=op.description,
                    status=TaskStatus(op.status),
                    message_ids=_message_ids(op.messages, ids),
                    reason=op.reason,
                    status_reason=_status_reason(op.status_reason),
                )
            )
            known.add(next_order)
            next_order += 1
        elif op.task in known:
            ops.append(_task_op(op, ids))
    return with_tool_steps(tuple(ops), request)


def with_tool_steps(ops: tuple[TaskOp, ...], request: ExtractionInput) -> tuple[TaskOp, ...]:
    """The model decides which task each new message belongs to; the steps for
    tool calls are written from the calls (:func:`tool_step`), as the heuristic
    writes them, in place of the model's paraphrase of them.

    A tool-call message goes to the task of the nearest message at or before it
    that an operation links; else to the newest open task. The model's own
    steps linked to a tool-call message are dropped; its other steps stay.
    """
    calls = [m for m in request.messages if m.tool_calls]
    if not calls:
        return ops
    position = {m.id: i for i, m in enumerate(request.messages)}
    owner_at: dict[int, int] = {}
    for op in ops:
        if isinstance(op, CreateTask | AppendProgress):
            for mid in op.message_ids:
                owner_at.setdefault(position[mid], op.order)
    call_ids = {m.id for m in calls}
    kept = [
        op
        for op in ops
        if not (isinstance(op, AppendProgress) and call_ids.intersection(op.message_ids))
    ]
    fallback = _newest_open(request.tasks, ops)
    for msg in calls:
        here = position[msg.id]
        linked = [i for i in owner_at if i <= here]
        order = owner_at[max(linked)] if linked else fallback
        if order is not None:
            kept += [
                AppendProgress(order, tool_step(c.name, c.arguments), (msg.id,))
                for c in msg.tool_calls
            ]
    return tuple(kept)


def _newest_open(tasks: tuple[Task, ...], ops: tuple[TaskOp, ...]) -> int | None:
    """The newest task this answer creates, else the newest open current task."""
    created = [op.order for op in ops if isinstance(op, CreateTask)]
    if created:
        return max(created)
    open_ = [t.order for t in tasks if t.status.is_open]
    return max(open_) if open_ else None


def _message_ids(labels: list[str], ids: dict[str, str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids[label] for label in labels if label in ids))


def _task_op(
    op: UpdateDescriptionOp | AppendProgressOp | SetStatusOp | AddPreferenceOp,
    ids: dict[str, str],
) -> TaskOp:
    if isinstance(op, UpdateDescriptionOp):
        return UpdateDescription(order=op.task, description=op.description)
    if isinstance(op, AppendProgressOp):
        return AppendProgress(
            order=op.task, step=op.step, message_ids=_message_ids(op.messages, ids)
        )
    if isinstance(op, SetStatusOp):
        return SetStatus(
            order=op.task,
            status=TaskStatus(op.status),
            reason=op.reason,
            status_reason=_status_reason(op.status_reason),
        )
    return AddPreference(order=op.task, text=op.text)


def _status_reason(value: str) -> str:
    return "" if value == "none" else value
