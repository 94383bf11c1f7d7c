"""The preferences a tool call gives its task, for the heuristic extractor. Pure.

Three sources, merged by :func:`~tasktrace.extractor.heuristic_prefs.new_preferences`
(no value twice under one key): the call's arguments the user stated
(``heuristic_prefs.stated_preferences``); for a write made right after the user
said yes to the assistant, the option-valued terms agreed to
(``heuristic_prefs.agreed_terms``); and, when the call splits off a new task, the
constraints its moved user messages said in words (``heuristic_constraints``).

When a write call makes the task's change, the change's terms are its
arguments: a preference an earlier lookup of the task gave under a key the write
does not carry (the day a search was made for, when the change keeps the
flights' dates out of it) is dropped, unless the user also said it in words.
"""

from __future__ import annotations

from collections.abc import Sequence

from tasktrace.extractor.heuristic_constraints import stated_constraints
from tasktrace.extractor.heuristic_prefs import agreed_terms, new_preferences, stated_preferences
from tasktrace.extractor.heuristic_user import View, serves_previous
from tasktrace.extractor.tool_roles import ToolRole, ToolRoles
from tasktrace.extractor.tool_steps import argument_items
from tasktrace.model import (
    AddPreference,
    CreateTask,
    DropPreference,
    Message,
    Role,
    Task,
    TaskOp,
    ToolCall,
)


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
    ops: list[TaskOp] = [AddPreference(order, p) for p in new_preferences(stated, known)]
    dropped = _superseded(msg, mine, texts, roles) - set(stated)
    return ops + [DropPreference(order, p) for p in known if p in dropped]


def split_preference_ops(msg: Message, view: View, created: CreateTask) -> list[TaskOp]:
    """The preferences of the task ``created`` when the tool calls of ``msg`` split it
    off: what its moved messages said in words, and the arguments they stated."""
    moved = set(created.message_ids)
    texts = [(m.role is Role.USER, m.content) for m in view.window if m.id in moved and m.content]
    said = [p for is_user, t in texts if is_user for p in stated_constraints(t)]
    stated = [p for c in msg.tool_calls for p in stated_preferences(c.arguments, texts)]
    return [AddPreference(created.order, p) for p in [*said, *new_preferences(stated, said)]]


def _superseded(
    msg: Message, mine: Sequence[Message], texts: Sequence[tuple[bool, str]], roles: ToolRoles
) -> set[str]:
    """What the task's earlier lookups stated under keys that the write calls of
    ``msg`` do not carry (nothing when ``msg`` writes nothing); not what the user said
    in words."""
    writes = [c for c in msg.tool_calls if roles.role(c.name, c.arguments) is ToolRole.WRITE]
    if not writes:
        return set()
    carried = {_last_key(k) for c in writes for k, _ in argument_items(c.arguments)}
    lookups = [
        c for m in mine for c in m.tool_calls if roles.role(c.name, c.arguments) is ToolRole.READ
    ]
    said = {p for is_user, t in texts if is_user for p in stated_constraints(t)}
    return {
        p
        for c in lookups
        for p in stated_preferences(c.arguments, texts)
        if _last_key(p.partition("=")[0]) not in carried and p not in said
    }


def _last_key(key: str) -> str:
    return key.rsplit(".", 1)[-1].casefold()


def _agreed_writes(msg: Message, view: View, roles: ToolRoles) -> list[ToolCall]:
    """The write calls of ``msg`` made right after the user said yes to the
    assistant ("Yes, please proceed"): the user agreed to their terms."""
    users = [m for m in view.window if m.role is Role.USER]
    if not users or not serves_previous(users[-1], view):
        return []
    return [c for c in msg.tool_calls if roles.role(c.name, c.arguments) is ToolRole.WRITE]
