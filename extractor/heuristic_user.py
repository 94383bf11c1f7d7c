"""User-message rules of the heuristic extractor, and the view a decision sees. Pure.

See :mod:`tasktrace.extractor.heuristic` for the rules as a whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tasktrace.extractor import heuristic_cues as cues
from tasktrace.extractor.heuristic_constraints import stated_constraints
from tasktrace.model import (
    AddPreference,
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

DESCRIPTION_LIMIT = 200
_CLAUSE = re.compile(r"[.,!;]\s*")
_SENTENCE = re.compile(r"(?<=[.!?])\s*|\s+but\s+")


@dataclass(frozen=True, slots=True)
class View:
    """What one decision sees: the current tasks and the messages before ``msg``."""

    tasks: tuple[Task, ...]
    window: tuple[Message, ...]

    @property
    def current(self) -> Task | None:
        return self.tasks[-1] if self.tasks else None

    @property
    def next_order(self) -> int:
        return max((t.order for t in self.tasks), default=0) + 1

    def since_user(self) -> tuple[Message, ...]:
        """Window messages after the last user message."""
        for i in range(len(self.window) - 1, -1, -1):
            if self.window[i].role is Role.USER:
                return self.window[i + 1 :]
        return self.window

    @property
    def last_reply(self) -> str:
        """The assistant's last text since the last user message (``""``: none)."""
        return next(
            (
                m.content
                for m in reversed(self.since_user())
                if m.role is Role.ASSISTANT and m.content
            ),
            "",
        )

    def owner(self, message_id: str) -> Task | None:
        return next((t for t in reversed(self.tasks) if message_id in t.message_ids), None)

    def task_messages(self, task: Task) -> tuple[Message, ...]:
        ids = set(task.message_ids)
        return tuple(m for m in self.window if m.id in ids)


def describe(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def tool_names(task: Task) -> set[str]:
    return {s.split("(", 1)[0].strip() for s in task.progress}


def last_results(view: View, task: Task) -> tuple[Message, ...]:
    return tuple(m for m in view.task_messages(task) if m.role is Role.TOOL)


def _result_words(view: View, task: Task) -> set[str]:
    """Field words of the task's last tool result; none when the result only echoes
    the arguments its calls sent (a transaction's confirmation tells nothing to ask about)."""
    results = last_results(view, task)
    if not results:
        return set()
    sent = {
        w
        for m in view.task_messages(task)
        for c in m.tool_calls
        for w in cues.argument_keys(c.arguments)
    }
    fields = cues.result_fields(results[-1].content)
    return fields if fields - sent else set()


# --- user messages -----------------------------------------------------------------


def _about_results(text: str, view: View, task: Task) -> bool:
    """Asks about what the task's last tool result returned, without asking to act."""
    if cues.ACTION.search(text) or not cues.ASKING.search(text):
        return False
    asked = cues.content_words(text) - cues.SEARCH_VERBS
    return bool(asked & _result_words(view, task))


def asks_for(text: str) -> bool:
    return bool(cues.REQUEST.search(text)) and not cues.DECLINED.search(text)


def _same_object(text: str, task: Task) -> bool:
    """The request names what one of the task's searches was about."""
    said = set(cues.words(text))
    return any(
        cues.is_search_tool(name) and cues.tool_nouns(name) & said for name in tool_names(task)
    )


def _accepted_offer(text: str, view: View) -> str:
    """The action the assistant just offered, if the user accepts it; else ``""``."""
    offer = cues.offer_phrase(view.last_reply)
    return offer if offer and cues.AFFIRM.search(text) else ""


def _only_closing(text: str) -> bool:
    """A short thanks or acknowledgement, with no request after it ("Great, play it" has one)."""
    if not cues.CLOSING.search(text) or len(text) >= 30:
        return False
    parts = _CLAUSE.split(text, maxsplit=1)
    return len(parts) < 2 or not asks_for(parts[1])


def _only_selects(text: str) -> bool:
    """The user picks an offered item and asks for nothing in another sentence
    ("I like that one. Let me know my balance" asks for something else)."""
    sentences = [p for p in _SENTENCE.split(text.strip()) if p]
    picks = [p for p in sentences if cues.SELECT.search(p)]
    return bool(picks) and not any(asks_for(p) for p in sentences if p not in picks)


def _corrects(text: str, view: View) -> bool:
    """The user says the assistant's last statement got it wrong ("No, I need two seats").
    A "no" to a question of the assistant declines it instead."""
    if cues.COMPLAINT.search(text):
        return True
    reply = view.last_reply
    return bool(reply and cues.NEGATE.search(text)) and not cues.is_question(reply)


def _answers_question(text: str, view: View) -> bool:
    """The user confirms what the assistant just asked; what follows belongs to the same task."""
    reply = view.last_reply
    return bool(reply) and cues.is_question(reply) and bool(cues.CONFIRM.search(text))


def _new_action(text: str, view: View, task: Task) -> bool:
    """The message asks for an action the task's own requests did not name
    ("Can you put it on?" after a search for films)."""
    asked = {m.group(0).casefold() for m in cues.ACTION.finditer(text)}
    said = " ".join(m.content for m in view.task_messages(task) if m.role is Role.USER)
    named = {m.group(0).casefold() for m in cues.ACTION.finditer(said or task.description)}
    return bool(asked - named)


def _stems(text: str) -> set[str]:
    return {re.sub(r"(ing|ed|e|s)$", "", m.group(0).casefold()) for m in cues.ACTION.finditer(text)}


def _requested_before(offer: str, view: View, task: Task) -> bool:
    """The action the assistant offers is one the user asked for in this task and
    that is still to come ("cancel it and book a new one", then after the
    cancellation "Shall I proceed with this booking?")."""
    said = " ".join(m.content for m in view.task_messages(task) if m.role is Role.USER)
    return bool(_stems(offer) & _stems(said))


def _offers_redo(view: View) -> bool:
    """The assistant's last reply offers to redo what the task did: accepting it
    is the same request, not a new one."""
    return bool(cues.REDO.search(view.last_reply))


def _replies(view: View) -> bool:
    """The assistant's last reply asked the user something for the task (more than
    "anything else?" and offering no further action): the user's message answers it."""
    reply = view.last_reply
    if not reply or cues.offer_phrase(reply):
        return False
    asked = [s for s in re.split(r"(?<=[.!?])\s+", reply) if cues.is_question(s)]
    return any(not cues.ANYTHING_ELSE.search(s) for s in asked)


def serves_reply(text: str, reply: str) -> bool:
    """The user's message serves the assistant's ``reply`` before it: it accepts
    ("Yes, go ahead"), answers or picks what was asked, or follows an ask for what
    the user wants done ("let me know what changes you'd like")."""
    if cues.AFFIRM.search(text) or _only_selects(text):
        return True
    return bool(reply) and (
        (cues.is_question(reply) and bool(cues.CONFIRM.search(text)))
        or bool(cues.SOLICITS.search(reply))
    )


def serves_previous(user_msg: Message, view: View) -> bool:
    """``user_msg`` serves the assistant reply before it (see :func:`serves_reply`)."""
    before = [m for m in view.window if m.seq < user_msg.seq]
    reply = next(
        (m.content for m in reversed(before) if m.role is Role.ASSISTANT and m.content), ""
    )
    return serves_reply(user_msg.content, reply)


def _separate_request(text: str, view: View, task: Task) -> bool:
    """While the task's change is not made yet, only a request marked as separate
    ("also", "another thing") for an action the task did not name starts a task;
    an answer, a choice, a confirmation, a correction or push-back stays in it."""
    if serves_reply(text, view.last_reply):
        return False
    return bool(cues.NEW_MARKER.search(text)) and _new_action(text, view, task)


def part_of_announced(text: str, task: Task) -> bool:
    """The task opened by announcing several changes ("I need to make some changes
    to my booking") and ``text`` asks for a change: one of those announced."""
    return bool(cues.SEVERAL_CHANGES.search(task.description)) and bool(
        cues.SIDE_EFFECT.search(text)
    )


def _is_new_request(text: str, view: View, task: Task, pending: bool = False) -> bool:
    if part_of_announced(text, task):
        return False
    requested = asks_for(text)
    marked = bool(cues.NEW_MARKER.search(text))
    if pending and not _separate_request(text, view, task):
        return False
    if task.status.is_open:
        return (
            requested
            and marked
            and not _answers_question(text, view)
            and not (_replies(view) and not _new_action(text, view, task))
            and not _same_object(text, task)
            and not cues.RETRY.search(text)
        )
    offer = _accepted_offer(text, view)
    if offer and task.status is TaskStatus.SUCCESS:
        return not (_requested_before(offer, view, task) or _offers_redo(view))
    if _replies(view) and not marked and not _new_action(text, view, task):
        return False
    if not requested or cues.DONE.search(text) or _only_closing(text):
        return False
    if (task.status is TaskStatus.FAILED and not marked) or _corrects(text, view):
        return False
    if _about_results(text, view, task):
        return False
    if _only_selects(text) and not cues.ACTION.search(text) and not marked:
        return False
    if (cues.RETRY.search(text) or cues.ALTERNATIVES.search(text)) and not marked:
        return False
    return not (_same_object(text, task) and not cues.ACTION.search(text))


def _standing_preference(text: str) -> str:
    """The sentence that states a preference ("I prefer ...", "from now on ..."),
    unless it only says what :func:`stated_constraints` gives as ``key=value``
    (a preference for one request, said as one constraint: "I prefer economy")."""
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if cues.STANDING.search(sentence):
            said = sentence.rstrip(" .!")
            if not cues.WHOLE_SESSION.search(said) and _one_constraint(said):
                return ""
            return said
    return ""


def _one_constraint(sentence: str) -> bool:
    return len(list(stated_constraints(sentence))) == 1


def _session_preferences(tasks: tuple[Task, ...]) -> list[str]:
    """Preferences of earlier tasks that the user said for the whole session
    ("I prefer a window seat for the whole trip", "always pay by card"); one said
    for one request ("I prefer a window seat") stays with that request."""
    return list(
        dict.fromkeys(p for t in tasks for p in t.preferences if cues.WHOLE_SESSION.search(p))
    )


def user_ops(msg: Message, view: View, pending: bool = False) -> list[TaskOp]:
    """The ops for a user message; ``pending``: the current task asked for a change
    that is not made yet (see :func:`_separate_request`)."""
    text = msg.content.strip()
    task = view.current
    standing = _standing_preference(text)
    if text and (task is None or _is_new_request(text, view, task, pending)):
        if task is None and (
            not cues.REQUEST.search(text) and (standing or cues.CLOSING.search(text))
        ):
            return []
        order = view.next_order
        offer = _accepted_offer(text, view) if task is not None else ""
        description = describe(f"{offer} ({text})" if offer else text)
        ops: list[TaskOp] = [
            CreateTask(order, description, TaskStatus.PENDING, (msg.id,), reason="new request")
        ]
        earlier = [m for m in view.window if m.role is Role.USER and view.owner(m.id) is None]
        ops += [
            AddPreference(order, p)
            for p in map(_standing_preference, (m.content for m in earlier))
            if p
        ]
        ops += [AddPreference(order, p) for p in _session_preferences(view.tasks)]
        if standing:
            ops.append(AddPreference(order, standing))
        return ops + [AddPreference(order, p) for p in stated_constraints(text)]
    if task is None:
        return []
    ops = [LinkMessages(task.order, (msg.id,))]
    if standing:
        ops.append(AddPreference(task.order, standing))
    ops += [AddPreference(task.order, p) for p in stated_constraints(text)]
    if (cues.GIVE_UP.search(text) or cues.LEAVING.search(text)) and task.status.is_open:
        ops.append(
            SetStatus(
                task.order,
                TaskStatus.FAILED,
                f"user gave up: {describe(text)}",
                StatusReason.ABANDONED,
            )
        )
    elif task.status is TaskStatus.RUNNING:
        # the user answered: the agent is to act now
        ops.append(SetStatus(task.order, TaskStatus.RUNNING, "", StatusReason.IN_PROGRESS))
    elif cues.COMPLAINT.search(text) and not task.status.is_open:
        ops.append(SetStatus(task.order, TaskStatus.RUNNING, f"reopened: {describe(text)}"))
    elif not task.status.is_open and (
        cues.RETRY.search(text)
        or (task.status is TaskStatus.FAILED and (cues.AFFIRM.search(text) or asks_for(text)))
    ):
        ops.append(SetStatus(task.order, TaskStatus.RUNNING, f"user: {describe(text)}"))
    return ops


def starts_task(text: str, view: View, task: Task) -> bool:
    """Could this user message (seen as a follow-up) have started a new task?"""
    return (
        (asks_for(text) or bool(cues.QUESTION.search(text)))
        and not cues.DONE.search(text)
        and not cues.ALTERNATIVES.search(text)
        and not cues.RETRY.search(text)
        and not _about_results(text, view, task)
    )
