"""A labeled conversation as an agent app would have run it. Pure.

:func:`plan` turns the turns of a conversation into what an instrumented app
produces, independent of any span format: one *request* (one trace) per user
turn, and inside it the model calls (each sent the whole history, system
prompt first) and the tool executions between them, with deterministic ids
(derived from the session id and positions) and increasing timestamps.

A conversation that does not end on an assistant's answer was captured in
flight, as a live session is: its last request never finished, so its root
span was never exported; the model call still waiting for its answer
(``output is None``) and tools still running have no span yet. Each encoder
decides what of that its library would have exported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tasktrace.evaluation.dataset import LabeledConversation, Turn
from tasktrace.model import ChatMessage, Role, ToolCall

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Use the tools when they help."
DEFAULT_MODEL = "gpt-4o-mini"
#: 2026-01-01T00:00:00Z: replays are reproducible unless the caller picks a start
DEFAULT_START_NS = 1_767_225_600_000_000_000
#: time between two consecutive events of a replay
TICK_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One chat call: ``inputs`` is the whole history sent; ``output`` is None
    while the call is still in flight."""

    span_id: str
    start_ns: int
    end_ns: int
    inputs: tuple[ChatMessage, ...]
    output: ChatMessage | None


@dataclass(frozen=True, slots=True)
class ToolExecution:
    """One finished tool run: the call it answers, its result, whether it failed."""

    span_id: str
    start_ns: int
    end_ns: int
    call: ToolCall
    result: str
    error: bool = False

    @property
    def failure(self) -> str:
        """The error message a failed run reports: its result, as the app raised it."""
        return self.result[:256] or f"{self.call.name} failed"


Step = ModelCall | ToolExecution


@dataclass(frozen=True, slots=True)
class Request:
    """One user request: a trace whose root span is ``root_span_id``."""

    index: int
    trace_id: str
    root_span_id: str
    start_ns: int
    end_ns: int
    user: str
    answer: str
    steps: tuple[Step, ...]
    #: False when the request was still running at capture: no root span exported
    finished: bool = True

    @property
    def calls(self) -> tuple[ModelCall, ...]:
        return tuple(s for s in self.steps if isinstance(s, ModelCall))


@dataclass(frozen=True, slots=True)
class Replay:
    session_id: str
    model: str
    system_prompt: str
    requests: tuple[Request, ...]

    @property
    def trace_ids(self) -> tuple[str, ...]:
        return tuple(r.trace_id for r in self.requests)


def hex_id(*parts: object, size: int) -> str:
    """A deterministic lowercase hex id of ``size`` bytes from ``parts``."""
    text = "/".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[: 2 * size]


def estimate_tokens(messages: tuple[ChatMessage, ...] | list[ChatMessage]) -> int:
    """A rough token count (4 characters a token) for the usage attributes."""
    chars = sum(len(m.content) + sum(len(c.arguments) for c in m.tool_calls) for m in messages)
    return max(1, chars // 4)


@dataclass(slots=True)
class _Builder:
    session_id: str
    clock: int
    history: list[ChatMessage]
    requests: list[Request] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    start_ns: int = 0
    open_calls: list[ToolCall] = field(default_factory=list)
    generated: int = 0

    def tick(self) -> int:
        self.clock += TICK_NS
        return self.clock

    def span_id(self) -> str:
        return hex_id(self.session_id, len(self.requests), len(self.steps) + 1, size=8)

    def begin(self) -> None:
        self.start_ns = self.tick()

    def end(self, *, finished: bool) -> None:
        if not (self.users or self.steps):
            return
        index = len(self.requests)
        last = self.history[-1] if self.history else None
        answer = (
            last.content if last and last.role is Role.ASSISTANT and not last.tool_calls else ""
        )
        self.requests.append(
            Request(
                index=index,
                trace_id=hex_id(self.session_id, "request", index, size=16),
                root_span_id=hex_id(self.session_id, index, 0, size=8),
                start_ns=self.start_ns,
                end_ns=self.tick(),
                user="\n".join(self.users),
                answer=answer,
                steps=tuple(self.steps),
                finished=finished,
            )
        )
        self.steps, self.users = [], []

    def call_id(self, call: ToolCall) -> ToolCall:
        if call.id:
            return call
        self.generated += 1
        prefix = hex_id(self.session_id, "calls", size=5)
        return ToolCall(f"call_{prefix}_{self.generated:03d}", call.name, call.arguments)

    def model_call(self, output: ChatMessage | None) -> None:
        start = self.tick()
        call = ModelCall(self.span_id(), start, self.tick(), tuple(self.history), output)
        self.steps.append(call)

    def tool_result(self, turn: Turn) -> ChatMessage:
        call = next((c for c in self.open_calls if c.id == turn.tool_call_id), None)
        if call is None and not turn.tool_call_id:
            # no id: the oldest open call of that name, else the oldest open call
            named = (c for c in self.open_calls if c.name == turn.name)
            call = next(named, self.open_calls[0] if self.open_calls else None)
        call = call or ToolCall(turn.tool_call_id, turn.name)
        self.open_calls = [c for c in self.open_calls if c.id != call.id]
        start = self.tick()
        self.steps.append(
            ToolExecution(self.span_id(), start, self.tick(), call, turn.content, turn.error)
        )
        return ChatMessage(
            Role.TOOL,
            content=turn.content,
            tool_call_id=call.id,
            tool_name=turn.name or call.name,
        )


def plan(
    conversation: LabeledConversation,
    *,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    model: str = DEFAULT_MODEL,
    start_ns: int = DEFAULT_START_NS,
) -> Replay:
    """The requests an app would have made to play ``conversation``.

    Consecutive user turns belong to one request; an assistant turn is the
    answer of one model call; a tool turn is one tool execution answering the
    call it names (``tool_call_id``; else the oldest open call of that tool).
    Calls without ids get ``call_<hash>_<n>`` ids.
    """
    b = _Builder(conversation.session_id, start_ns, [ChatMessage(Role.SYSTEM, system_prompt)])
    previous: Role | None = None
    for turn in conversation.turns:
        if turn.role is Role.USER:
            if previous is not Role.USER:
                b.end(finished=True)
                b.begin()
            b.users.append(turn.content)
            b.history.append(ChatMessage(Role.USER, turn.content))
        elif turn.role is Role.TOOL:
            b.history.append(b.tool_result(turn))
        elif turn.role is Role.ASSISTANT:
            if previous is None:
                b.begin()
            calls = tuple(b.call_id(c) for c in turn.tool_calls)
            b.open_calls.extend(calls)
            message = ChatMessage(Role.ASSISTANT, turn.content, tool_calls=calls)
            b.model_call(message)
            b.history.append(message)
        previous = turn.role
    last = b.history[-1]
    in_flight = last.role is not Role.ASSISTANT or bool(b.open_calls)
    if last.role in (Role.USER, Role.TOOL):
        b.model_call(None)  # sent, not answered yet
    b.end(finished=not in_flight)
    return Replay(conversation.session_id, model, system_prompt, tuple(b.requests))
