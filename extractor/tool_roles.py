"""What a tool does for the task, from its name and arguments: read, write or handoff. Pure.

One small table decides it (:data:`DEFAULT_ROLES`): a tool whose name (split
into words: ``book_reservation``, ``BookReservation``) contains a word of a
role has that role, ``handoff`` checked first (also when an argument value
names one: ``route(to="human")``), then ``write``; every other tool reads.
A user extends the table in config (``processors.tasktrace.extractor.tool_roles``, see
:class:`~tasktrace.config.extractor.ToolRolesConfig`) with more words or whole
tool names per role; they are added to the defaults.

* ``read`` tools look things up; their results do not finish a request to
  change something.
* ``write`` tools change something outside the conversation (book, cancel,
  pay); their success or failure settles such a request.
* ``handoff`` tools hand the conversation to a person: the task is
  ``failed`` with reason ``escalated``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tasktrace.extractor.heuristic_cues import words
from tasktrace.extractor.tool_steps import argument_items


class ToolRole(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    HANDOFF = "handoff"


#: the words that give a tool its role; general English, no particular agent's tools
DEFAULT_ROLES: Mapping[ToolRole, frozenset[str]] = {
    ToolRole.HANDOFF: frozenset(
        ["human", "escalate", "escalation", "handoff", "operator", "representative", "live"]
    ),
    ToolRole.WRITE: frozenset(
        [
            "book",
            "reserve",
            "buy",
            "purchase",
            "pay",
            "order",
            "cancel",
            "update",
            "modify",
            "change",
            "create",
            "add",
            "delete",
            "remove",
            "send",
            "transfer",
            "schedule",
            "set",
            "submit",
            "refund",
            "rent",
            "upgrade",
            "downgrade",
            "edit",
            "write",
            "post",
            "insert",
            "save",
            "register",
            "assign",
            "approve",
            "issue",
            "play",
            "make",
            "confirm",
        ]
    ),
}


@dataclass(frozen=True, slots=True)
class ToolRoles:
    """The role table: words (or whole tool names) per role."""

    handoff: frozenset[str] = DEFAULT_ROLES[ToolRole.HANDOFF]
    write: frozenset[str] = DEFAULT_ROLES[ToolRole.WRITE]

    @classmethod
    def extended(cls, handoff: Iterable[str] = (), write: Iterable[str] = ()) -> ToolRoles:
        """The default table with more words or tool names per role."""
        return cls(
            DEFAULT_ROLES[ToolRole.HANDOFF] | {w.casefold() for w in handoff},
            DEFAULT_ROLES[ToolRole.WRITE] | {w.casefold() for w in write},
        )

    def role(self, name: str, arguments: str = "") -> ToolRole:
        """The role of a call of tool ``name`` with ``arguments`` (JSON text)."""
        return _role(self, name, arguments)

    def _read(self, name: str, arguments: str) -> ToolRole:
        said = {name.casefold(), *words(name)}
        values = {w for _, value in argument_items(arguments) for w in words(value)}
        if (said | values) & self.handoff:
            return ToolRole.HANDOFF
        return ToolRole.WRITE if said & self.write else ToolRole.READ


#: distinct (table, tool, arguments) whose role is kept (a bounded LRU)
ROLE_CACHE = 4096


@functools.lru_cache(maxsize=ROLE_CACHE)
def _role(roles: ToolRoles, name: str, arguments: str) -> ToolRole:
    # the same call is looked at by several rules per message, and again by the
    # messages after it: read once
    return roles._read(name, arguments)
