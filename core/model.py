"""The vocabulary every stage speaks: plain frozen dataclasses, no I/O.

Protobuf messages, database rows and LLM responses are converted to these
types at the edges and never cross a stage boundary.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias, Union

#: A span or log attribute value, converted from an OTLP ``AnyValue``:
#: kvlists become dicts, arrays become lists, bytes stay bytes.
AttrValue: TypeAlias = Union[  # noqa: UP007 (a recursive alias needs Union at runtime)
    str, bool, int, float, bytes, list["AttrValue"], dict[str, "AttrValue"], None
]
Attributes = Mapping[str, AttrValue]

#: the OTLP signals tasktrace receives (and forwards, with pass-through)
Signal = Literal["traces", "logs"]


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class SpanKind(enum.IntEnum):
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


# --- OTLP, decoded -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Span:
    """One OTLP span. Ids are lowercase hex; an absent parent is ``""``."""

    trace_id: str
    span_id: str
    name: str
    parent_span_id: str = ""
    kind: SpanKind = SpanKind.INTERNAL
    start_ns: int = 0
    end_ns: int = 0
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope: str = ""
    status_code: StatusCode = StatusCode.UNSET
    status_message: str = ""
    events: tuple[SpanEvent, ...] = ()

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        """The span attribute ``key``, else the resource attribute, else ``default``."""
        if key in self.attributes:
            return self.attributes[key]
        return self.resource.get(key, default)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One OTLP log record; ``event_name`` is the OTLP 1.5 field (or the
    legacy ``event.name`` attribute when the field is empty)."""

    time_ns: int
    event_name: str = ""
    body: AttrValue = None
    trace_id: str = ""
    span_id: str = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    scope: str = ""

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        if key in self.attributes:
            return self.attributes[key]
        return self.resource.get(key, default)


# --- What dialects read out of spans ---------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call requested by the assistant. ``arguments`` is JSON text."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message as an instrumentation library reported it, before it has a
    place in a session transcript."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""
    error: bool = False


@dataclass(frozen=True, slots=True)
class ToolRun:
    """A tool execution seen as its own span (``execute_tool``, an
    OpenInference TOOL span, an Agents SDK function span)."""

    name: str
    call_id: str = ""
    arguments: str = ""
    result: str = ""
    error: bool = False
    error_message: str = ""


class SpanRole(enum.StrEnum):
    LLM = "llm"  # one model call: its messages are the history it was sent plus its answer
    TOOL = "tool"
    AGENT = "agent"  # an agent/workflow/request span: content ignored (not the full history)
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class SpanContent:
    """What one dialect read from one span (or from the log records of one span).

    ``messages`` is the model call's input history followed by its output, in
    conversation order. ``output_count`` says how many of them are output.
    ``unparsed`` counts content values that should hold JSON and do not parse
    (what the rest of the span holds is read all the same). ``history_start``
    is where ``messages[0]`` stood in the call's history: above 0 when the
    library dropped the oldest messages (a span attribute limit).
    """

    role: SpanRole
    messages: Sequence[ChatMessage] = ()
    output_count: int = 0
    tool_run: ToolRun | None = None
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    unparsed: int = 0
    history_start: int = 0


# --- Sessions and transcripts ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A message stored once in a session transcript at position ``seq``."""

    id: str
    session_id: str
    seq: int
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""
    error: bool = False
    trace_id: str = ""
    span_id: str = ""
    time_ns: int = 0
    model: str = ""
    task_id: str = ""


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    service: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    message_count: int = 0
    disabled: bool = False


# --- Tasks -----------------------------------------------------------------


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        return self in (TaskStatus.PENDING, TaskStatus.RUNNING)


class StatusReason(enum.StrEnum):
    """Why a task has its status: ``Task.status_reason``, the ``status_reason``
    column and the ``tasktrace.task.status_reason`` span attribute.

    ``escalated``, ``refused`` and ``abandoned`` go with ``failed`` (the
    request was not done); ``in_progress`` with ``running``.
    """

    COMPLETED = "completed"  # the agent's action succeeded and it said so
    TOOL_ERROR = "tool_error"  # the last attempt of a needed call failed and was not redone
    REFUSED = "refused"  # the agent declined (e.g. under a policy)
    ESCALATED = "escalated"  # handed to a human
    ABANDONED = "abandoned"  # the user gave up or left
    AWAITING_USER = "awaiting_user"  # the agent asked something and no answer came
    IN_PROGRESS = "in_progress"  # the conversation stopped mid-action
    EXPIRED = "expired"  # from the session TTL
    CRITERIA = "criteria"  # a custom success or failure rule matched


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: TaskStatus
    at: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    session_id: str
    order: int
    description: str
    status: TaskStatus
    created_at: datetime
    updated_at: datetime
    progress: tuple[str, ...] = ()
    preferences: tuple[str, ...] = ()
    message_ids: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    history: tuple[StatusChange, ...] = ()
    revision: int = 1
    extractor: str = ""
    #: a :class:`StatusReason` value, or ``""`` while none applies
    status_reason: str = ""
    #: when the extractor first produced the task (``created_at`` is when its request was made)
    extracted_at: datetime | None = None


# Task operations, as extractors emit them. Tasks are named by their
# ``order`` in the session; a CreateTask names the order it takes (the next free one).


@dataclass(frozen=True, slots=True)
class CreateTask:
    order: int
    description: str
    status: TaskStatus = TaskStatus.PENDING
    message_ids: tuple[str, ...] = ()
    reason: str = ""
    #: a :class:`StatusReason` value; ``""``: the default for ``status``
    status_reason: str = ""


@dataclass(frozen=True, slots=True)
class UpdateDescription:
    order: int
    description: str


@dataclass(frozen=True, slots=True)
class AppendProgress:
    order: int
    step: str
    message_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetStatus:
    order: int
    status: TaskStatus
    reason: str = ""
    #: a :class:`StatusReason` value; ``""``: the default for ``status``
    status_reason: str = ""


@dataclass(frozen=True, slots=True)
class AddPreference:
    order: int
    text: str


@dataclass(frozen=True, slots=True)
class DropPreference:
    """Take back a preference a lookup gave the task (see ``apply``)."""

    order: int
    text: str


@dataclass(frozen=True, slots=True)
class LinkMessages:
    order: int
    message_ids: tuple[str, ...]


TaskOp: TypeAlias = (
    CreateTask
    | UpdateDescription
    | AppendProgress
    | SetStatus
    | AddPreference
    | DropPreference
    | LinkMessages
)
