"""The heuristic extractor: rules over message roles, tool calls and cue words.

Messages are read one at a time; each yields a few operations, which are
applied before the next message is read. A decision looks only at the current
tasks and the :data:`CONTEXT_MESSAGES` messages before it, so a conversation
fed in chunks (with at least that many context messages) gives the same tasks
as fed at once. The rules:

* **New task** when a user message makes a request (request phrasing or an
  imperative, also after a short thanks: "Great, play it") and the latest task
  is finished; or when the assistant offered a further action after a success
  ("Would you like me to book it?", "So, buy the tickets?") and the user
  accepts. The first substantive user message always starts one. A pick of an
  offered item starts nothing unless another sentence asks for something ("I
  like that one. Let me know my balance").
* **Same task** for everything else: answers to the assistant's questions
  (an open task keeps a message that confirms the assistant's question, even if
  it asks more: "Yes, that's right. What's their address?"), thanks, questions
  about the results (content words of the question appear in the last tool
  result), refinements ("anything else?", "instead", "again"), a request for
  the same thing a search was about (the words of its tool name; even with
  "also"), a change asked for after an opening that announced several ("I need
  to make some changes to my booking"), accepting an offer to redo what the
  task did ("I can try the voucher again. Shall I?"), corrections ("that's
  not right", or a "no" answering a statement of the assistant, not a
  question), and any request after a failure that is a retry of it.
* **Change pending**: while the task asked for a change (its first request, or
  one it took in unprompted) that no write tool has made and it did not end in
  success, a user message starts a task only when marked as separate ("also")
  for an action the task did not name, and never when it accepts, answers or
  picks what the assistant just asked, or follows "let me know what changes
  you'd like"; after a failed write only such a reply stays. Accepting an offer
  of an action the user already asked for in the task stays in it too.
* **Late split**: when the assistant calls a tool not used by the latest task,
  after a user message that looked like a request, the task is split there
  (not while a change is pending, see above, and never for a hand-off: it
  hands over the request at hand).
* **Progress**: one step per tool call, ``name(key=value, ...)``.
* **Status**: ``pending`` when created; ``running`` once the assistant asks the
  user something, calls a tool, or the user refines a finished task; on the
  assistant's reply after tool results: ``failed`` if the last result was an
  error or empty or the reply reports a failure ("I couldn't", "unable"),
  else ``success``. A reply without tools to an open task: ``running`` if it
  asks something (a question, or a request to confirm or verify: "To confirm:
  ..."), else ``failed`` (said it cannot) or ``success`` (answered directly);
  but a request with effects outside the conversation (book, buy, pay, ...)
  that no tool carried out succeeds only on a success report.
  ``CriteriaConfig`` patterns, matched on assistant text, override the
  built-in cues. The user can reopen a finished task ("that's wrong": running)
  or give it up ("never mind": failed).
* **Preferences**: tool arguments the user stated (see ``heuristic_prefs``),
  as ``key=value``; the option-valued terms of a write the user said yes to;
  constraints said in words ("economy", "no insurance", see
  ``heuristic_constraints``); and standing preferences ("from now on",
  "always"). ``heuristic_task_prefs`` merges them per task, and drops the
  terms of a task's lookups that its write does not carry.

The user-message rules live in ``heuristic_user``, what tool results tell in
``heuristic_results``, the word lists in ``heuristic_cues``. Measured with
``bench/eval_offline.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tasktrace.config.extractor import CriteriaConfig
from tasktrace.extractor import heuristic_cues as cues
from tasktrace.extractor.apply import apply_ops
from tasktrace.extractor.base import ExtractionInput, ExtractionResult
from tasktrace.extractor.heuristic_results import (
    EMPTY_RESULT,
    call_of,
    found,
    offers_it_again,
    role_of,
    wrote,
)
from tasktrace.extractor.heuristic_task_prefs import preference_ops, split_preference_ops
from tasktrace.extractor.heuristic_user import (
    View,
    asks_for,
    describe,
    last_results,
    part_of_announced,
    serves_previous,
    starts_task,
    tool_names,
    user_ops,
)
from tasktrace.extractor.tool_roles import ToolRole, ToolRoles
from tasktrace.extractor.tool_steps import tool_step
from tasktrace.model import (
    AppendProgress,
    CreateTask,
    LinkMessages,
    Message,
    Role,
    SetStatus,
    StatusReason,
    Task,
    TaskOp,
    TaskStatus,
)

R = StatusReason

#: how many earlier messages a decision may look at; pass at least this many as context
CONTEXT_MESSAGES = 48


@dataclass(frozen=True, slots=True)
class _Rules:
    success: tuple[re.Pattern[str], ...]
    failure: tuple[re.Pattern[str], ...]
    roles: ToolRoles

    @classmethod
    def of(cls, criteria: CriteriaConfig, roles: ToolRoles) -> _Rules:
        return cls(
            tuple(re.compile(p, re.IGNORECASE) for p in criteria.success_patterns),
            tuple(re.compile(p, re.IGNORECASE) for p in criteria.failure_patterns),
            roles,
        )


#: what a decision of ``_settle`` is: a status and its :class:`StatusReason`
_Settled = tuple[TaskStatus, StatusReason]


def _waits_for_change(view: View, task: Task, rules: _Rules, before: int) -> bool:
    """The task asked (before seq ``before``) for a change that is not made, and its
    last tool call did not fail (after a failed call, the user either retries it or
    moves on)."""
    results = last_results(view, task)
    if not _needs_tool(task, view, before) or wrote(results, view, rules.roles):
        return False
    failed = any(not h.status.is_open for h in task.history) and not found(view, task)
    return not failed


def _change_pending(view: View, task: Task, rules: _Rules, user_msg: Message) -> bool:
    """The task asked for a change that no write tool has made, and it did not end in
    success: ``user_msg`` (an answer, a choice, push-back) still serves it. After a
    write that failed, only a message that serves the assistant's reply does ("Yes,
    transfer me"); another request moves on."""
    if task.status is TaskStatus.SUCCESS or not _needs_tool(task, view, user_msg.seq):
        return False
    results = last_results(view, task)
    if wrote(results, view, rules.roles):
        return False
    if any(r.error and role_of(r, view, rules.roles) is ToolRole.WRITE for r in results):
        return serves_previous(user_msg, view)
    return True


def _late_split(msg: Message, view: View, task: Task, rules: _Rules) -> list[TaskOp]:
    """Split off a new task when a tool new to ``task`` follows a user request,
    unless the task still waits for the change it asked for (the agent looks
    things up and then makes the change: one task)."""
    known = tool_names(task)
    if not known or all(c.name in known for c in msg.tool_calls):
        return []
    if all(rules.roles.role(c.name, c.arguments) is ToolRole.HANDOFF for c in msg.tool_calls):
        return []  # a hand-off hands over the request at hand
    mine = view.task_messages(task)
    last_call = max((i for i, m in enumerate(mine) if m.tool_calls), default=None)
    if last_call is None:
        return []
    later_ids = {m.id for m in mine[last_call + 1 :]}
    users = [m for m in view.window if m.id in later_ids and m.role is Role.USER]
    start = next((m for m in users if starts_task(m.content, view, task)), None)
    if start is None or part_of_announced(start.content, task):
        return []
    if _waits_for_change(view, task, rules, start.seq):
        return []
    if _change_pending(view, task, rules, start):
        return []
    order = view.next_order
    moved = tuple(m.id for m in view.window if m.seq >= start.seq and m.role is not Role.SYSTEM)
    ops: list[TaskOp] = [
        CreateTask(order, describe(start.content), TaskStatus.RUNNING, moved, reason="new tool")
    ]
    terminal = [h for h in task.history if not h.status.is_open]
    if task.status.is_open and terminal:
        # the message that reopened it was a new request: back to how it ended
        last = terminal[-1]
        ops.append(SetStatus(task.order, last.status, last.reason))
    return ops


def _tool_call_ops(msg: Message, view: View, task: Task, rules: _Rules) -> list[TaskOp]:
    ops = _late_split(msg, view, task, rules)
    order = task.order
    owner: Task | None = task
    if ops and isinstance(ops[0], CreateTask):
        order, owner = ops[0].order, None
        ops += split_preference_ops(msg, view, ops[0])
    else:
        ops += preference_ops(msg, view, order, owner, rules.roles)
    ops += [
        AppendProgress(order, tool_step(c.name, c.arguments), (msg.id,)) for c in msg.tool_calls
    ]
    names = ", ".join(c.name for c in msg.tool_calls)
    if any(rules.roles.role(c.name, c.arguments) is ToolRole.HANDOFF for c in msg.tool_calls):
        ops.append(SetStatus(order, TaskStatus.FAILED, f"handed off: {names}", R.ESCALATED))
    else:
        ops.append(SetStatus(order, TaskStatus.RUNNING, f"calling {names}", R.IN_PROGRESS))
    return ops


def _matches(patterns: Sequence[re.Pattern[str]], text: str) -> bool:
    return any(p.search(text) for p in patterns)


def _not_done(text: str) -> StatusReason:
    """Why an assistant reply that reports no success left the request undone."""
    statements = " ".join(s for s in re.split(r"(?<=[.!?])\s+", text) if "?" not in s)
    return R.ESCALATED if cues.ESCALATE.search(statements) else R.REFUSED


def _asks_more(text: str) -> bool:
    """The reply asks the user something beyond "anything else?"."""
    asked = [s for s in re.split(r"(?<=[.!?])\s+", text) if cues.is_question(s)]
    return any(not cues.ANYTHING_ELSE.search(s) for s in asked)


def _only_proposes_found(text: str) -> bool:
    """Every question of the reply puts forward an item the look-up found ("How about
    the Grand?"): the look-up served the request, and taking the item is a new step."""
    asked = [s for s in re.split(r"(?<=[.!?])\s+", text) if cues.is_question(s)]
    return bool(asked) and all(
        cues.PROPOSES_FOUND.search(s) or cues.ANYTHING_ELSE.search(s) for s in asked
    )


def _settle_results(
    text: str, results: Sequence[Message], view: View, task: Task, rules: _Rules
) -> _Settled:
    """The status a reply gives ``task`` after tool results."""
    last = results[-1]
    call = call_of(last, view)
    role = rules.roles.role(call.name, call.arguments)
    if role is ToolRole.HANDOFF:
        return TaskStatus.FAILED, R.ESCALATED
    pending_write = _needs_tool(task, view) and not wrote(
        last_results(view, task), view, rules.roles
    )
    if pending_write and role is ToolRole.READ:
        # looked something up for a change not made yet: the change is refused or still to come
        if cues.FAILURE.search(text) or cues.REFUSAL.search(text):
            return TaskStatus.FAILED, _not_done(text)
        if _asks_more(text) and not _only_proposes_found(text):
            return TaskStatus.RUNNING, R.AWAITING_USER
    if last.error or EMPTY_RESULT.match(last.content):
        return TaskStatus.FAILED, R.TOOL_ERROR
    if role is ToolRole.WRITE and offers_it_again(text, call.name):
        return TaskStatus.FAILED, R.TOOL_ERROR
    if cues.FAILURE.search(text):
        return TaskStatus.FAILED, _not_done(text)
    return TaskStatus.SUCCESS, R.COMPLETED


def _settle(msg: Message, view: View, task: Task, rules: _Rules) -> _Settled | None:
    """The status (and its reason) an assistant text reply gives ``task`` (None: unchanged)."""
    text = msg.content
    if _matches(rules.failure, text):
        return TaskStatus.FAILED, R.CRITERIA
    if _matches(rules.success, text):
        return TaskStatus.SUCCESS, R.CRITERIA
    recent = {m.id for m in view.since_user()}
    results = [m for m in last_results(view, task) if m.id in recent]
    if results:
        return _settle_results(text, results, view, task, rules)
    if not task.status.is_open:
        return None
    if task.status_reason == R.AWAITING_USER and not _asks_more(text) and found(view, task):
        # it waited on the user after results and now only asks "anything else?"
        return TaskStatus.SUCCESS, R.COMPLETED
    if cues.is_question(text):
        return TaskStatus.RUNNING, R.AWAITING_USER
    if cues.FAILURE.search(text) or cues.ESCALATE.search(text):
        return TaskStatus.FAILED, _not_done(text)
    if cues.SUCCESS.search(text) or not (task.progress or _needs_tool(task, view)):
        return TaskStatus.SUCCESS, R.COMPLETED
    return None


def _needs_tool(task: Task, view: View, before: int | None = None) -> bool:
    """The task asks for something with effects (a booking, a payment) that no tool
    carried out: its first request does, or a later one it took in unprompted (not
    an answer to the assistant's question: "Alright, I'd like to change my
    reservation" after a refusal). Only messages before seq ``before`` count, when given."""
    mine = [m for m in view.task_messages(task) if before is None or m.seq < before]
    said = [m.content for m in mine if m.role is Role.USER]
    if not said:
        return bool(cues.SIDE_EFFECT.search(task.description))
    if cues.SIDE_EFFECT.search(said[0]):
        return True
    reply = ""
    for m in mine:
        if m.role is Role.ASSISTANT and m.content:
            reply = m.content
        elif m.role is Role.USER and reply and not cues.is_question(reply):
            text = m.content
            if cues.SIDE_EFFECT.search(text) and asks_for(text):
                return True
    return False


def _assistant_ops(msg: Message, view: View, rules: _Rules) -> list[TaskOp]:
    task = view.current
    if task is None:
        return []
    if msg.tool_calls:
        return _tool_call_ops(msg, view, task, rules)
    ops: list[TaskOp] = [LinkMessages(task.order, (msg.id,))]
    settled = _settle(msg, view, task, rules)
    if settled is not None:
        status, why = settled
        ops.append(SetStatus(task.order, status, f"assistant: {describe(msg.content)}", why))
    return ops


def _tool_ops(msg: Message, view: View) -> list[TaskOp]:
    call = next(
        (m for m in reversed(view.window) if any(c.id == msg.tool_call_id for c in m.tool_calls)),
        None,
    )
    task = (view.owner(call.id) if call is not None else None) or view.current
    return [LinkMessages(task.order, (msg.id,))] if task is not None else []


def _ops_for(msg: Message, view: View, rules: _Rules) -> list[TaskOp]:
    if msg.role is Role.USER:
        task = view.current
        return user_ops(msg, view, task is not None and _change_pending(view, task, rules, msg))
    if msg.role is Role.ASSISTANT:
        return _assistant_ops(msg, view, rules)
    if msg.role is Role.TOOL:
        return _tool_ops(msg, view)
    return []


def extract_ops(
    request: ExtractionInput, criteria: CriteriaConfig, roles: ToolRoles | None = None
) -> tuple[TaskOp, ...]:
    """The operations for ``request.messages``, given its tasks and context. Pure."""
    return _extract(request, criteria, roles).ops


def _extract(
    request: ExtractionInput, criteria: CriteriaConfig, roles: ToolRoles | None = None
) -> ExtractionResult:
    """The operations, and the tasks after them: each message's ops are applied
    before the next message is read, so the tasks come with them at no cost."""
    rules = _Rules.of(criteria, roles or ToolRoles())
    known = {m.id: m for m in (*request.context, *request.messages)}
    tasks = tuple(sorted(request.tasks, key=lambda t: t.order))
    history = list(request.context)
    out: list[TaskOp] = []
    for msg in request.messages:
        ops = _ops_for(msg, View(tasks, tuple(history[-CONTEXT_MESSAGES:])), rules)
        if ops:
            tasks = apply_ops(
                tasks,
                ops,
                session_id=request.session_id,
                now=request.now,
                extractor=HeuristicExtractor.name,
                messages=known,
            )
            out += ops
        history.append(msg)
    return ExtractionResult(ops=tuple(out), tasks=tasks)


class HeuristicExtractor:
    """Rule-based extraction; deterministic and offline. See the module doc."""

    name = "heuristic"

    def __init__(
        self, criteria: CriteriaConfig | None = None, roles: ToolRoles | None = None
    ) -> None:
        self._criteria = criteria or CriteriaConfig()
        self._roles = roles or ToolRoles()

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        return _extract(request, self._criteria, self._roles)

    async def aclose(self) -> None:
        return None
