"""The one interface every extractor implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tasktrace.model import Message, Task, TaskOp


@dataclass(frozen=True, slots=True)
class ExtractionInput:
    """What an extractor sees for one session.

    ``tasks`` are the session's current tasks (with their preferences and
    progress), ``context`` a few already-processed messages just before the new
    ones (for reading follow-ups; never to be turned into operations again), and
    ``messages`` the new, unprocessed messages in ``seq`` order.
    """

    session_id: str
    tasks: tuple[Task, ...]
    messages: tuple[Message, ...]
    now: datetime
    context: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtractionResult:
    ops: tuple[TaskOp, ...]
    input_tokens: int = 0
    output_tokens: int = 0
    #: the request's tasks after ``ops``, when the extractor applied them on the way
    #: exactly as :func:`~tasktrace.extractor.apply.tasks_after` would (its own
    #: name, ``request.now``, the request's context and messages); None: not computed
    tasks: tuple[Task, ...] | None = None


class ExtractionFailed(Exception):
    """The extractor could not produce operations this time (endpoint down,
    invalid output after the re-prompt). The messages stay pending and the
    caller retries later with backoff."""


class Extractor(Protocol):
    #: ``heuristic``, ``llm``, ...; recorded on every task it touches
    name: str

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        """Turn current tasks + new messages into task operations.

        Deterministic for the heuristic. Raises :class:`ExtractionFailed` when
        it cannot answer now; never returns partial results.
        """
        ...

    async def aclose(self) -> None:
        """Release clients and connections. Idempotent."""
        ...
