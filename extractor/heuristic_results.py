"""What the heuristic extractor reads from tool results: the call a result
answers, its role, whether a write went through. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tasktrace.extractor import heuristic_cues as cues
from tasktrace.extractor.heuristic_user import View, last_results
from tasktrace.extractor.tool_roles import ToolRole, ToolRoles
from tasktrace.model import Message, Task, ToolCall

#: a result that found nothing
EMPTY_RESULT = re.compile(r"^\s*(\[\s*\]|\{\s*\}|null|none|no results?\.?|)\s*$", re.IGNORECASE)


def call_of(result: Message, view: View) -> ToolCall:
    """The call ``result`` answers: the nearest before it (some agents reuse call
    ids); one named after the result's tool when it is out of sight."""
    for m in reversed([m for m in view.window if m.seq < result.seq]):
        call = next((c for c in m.tool_calls if c.id == result.tool_call_id), None)
        if call is not None:
            return call
    return ToolCall(result.tool_call_id, result.tool_name)


def role_of(result: Message, view: View, roles: ToolRoles) -> ToolRole:
    call = call_of(result, view)
    return roles.role(call.name, call.arguments)


def offers_it_again(text: str, tool: str) -> bool:
    """The reply offers the action the tool just took, on the same object ("Would
    you like me to book an appointment at 3:30 pm?" right after ``BookAppointment``):
    it did not go through as asked, whatever the result said."""
    offer = cues.words(cues.offer_phrase(text))
    name = cues.words(tool)
    if not offer or not name or offer[0] != name[0]:
        return False
    return bool(cues.tool_nouns(tool) - {name[0]} & set(offer[1:]))


def wrote(results: Sequence[Message], view: View, roles: ToolRoles) -> bool:
    """A write tool of the task succeeded."""
    return any(not r.error and role_of(r, view, roles) is ToolRole.WRITE for r in results)


def found(view: View, task: Task) -> bool:
    """The task's last tool result returned something without an error."""
    results = last_results(view, task)
    return bool(results) and not (results[-1].error or EMPTY_RESULT.match(results[-1].content))
