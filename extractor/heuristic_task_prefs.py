"""The preferences a tool call gives its task, for the heuristic extractor. Pure.

Three sources, merged by :func:`~tasktrace.extractor.heuristic_prefs.new_preferences`
(no value twice under one key): the call's arguments the user stated
(``heuristic_prefs.stated_preferences``); for a write made right after the user
said yes to the assistant, the option-valued terms agreed to
(``heuristic_prefs.agreed_terms``); and, when the call splits off a new task, the
constraints its moved user messages said in words (``heuristic_constraints``).
"""

from __future__ import annotations

from tasktrace.extractor.heuristic_constraints import stated_constraints
from tasktrace.extractor.heuristic_prefs import agreed_terms, new_preferences, stated_preferences
from tasktrace.extractor.heuristic_user import View, serves_previous
from tasktrace.extractor.tool_roles import ToolRole, ToolRoles
from tasktrace.model import AddPreference, CreateTask, Message, Role, Task, TaskOp, ToolCall


def preference_ops(
    msg: Message, view: View, order: int, task: Task | None, roles: ToolRoles
) -> list[TaskOp]:
    """The preferences the tool calls of ``msg`` add to ``task`` (numbered ``order``)."""
    mine = view.task_messages(task) if task is not None else ()
    texts = [
        (m.role is Role.USER, m.content) for m in mine if m.role in (Role.USER, Role.ASSISTANT)
    ]
    if task is not None and not any(is_user for is_user, _ in texts):
        texts.insert(0, (True, task.description))
    stated = [p for call in msg.tool_calls for p in stated_preferences(call.arguments, texts)]
    stated += [p for call in _agreed_writes(msg, view, roles) for p in agreed_terms(call.arguments)]
    known = task.preferences if task is not None else ()
    return [AddPreference(order, p) for p in new_preferences(stated, known)]


def split_preference_ops(msg: Message, view: View, created: CreateTask) -> list[TaskOp]:
    """The preferences of the task ``created`` when the tool calls of ``msg`` split it
    off: what its moved messages said in words, and the arguments they stated."""
    moved = set(created.message_ids)
    texts = [(m.role is Role.USER, m.content) for m in view.window if m.id in moved and m.content]
    said = [p for is_user, t in texts if is_user for p in stated_constraints(t)]
    stated = [p for c in msg.tool_calls for p in stated_preferences(c.arguments, texts)]
    return [AddPreference(created.order, p) for p in [*said, *new_preferences(stated, said)]]


def _agreed_writes(msg: Message, view: View, roles: ToolRoles) -> list[ToolCall]:
    """The write calls of ``msg`` made right after the user said yes to the
    assistant ("Yes, please proceed"): the user agreed to their terms."""
    users = [m for m in view.window if m.role is Role.USER]
    if not users or not serves_previous(users[-1], view):
        return []
    return [c for c in msg.tool_calls if roles.role(c.name, c.arguments) is ToolRole.WRITE]
