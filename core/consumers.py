"""The consumer interface between extraction and the sinks, in the Collector's
shape: one method, and a stage never learns what is downstream of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tasktrace.model import Task


class TaskConsumer(Protocol):
    """Receives every committed task change (``service``: the session's
    ``service.name``). Must not block: a sink queues, bounded, and sends on
    its own schedule."""

    async def consume(self, tasks: Sequence[Task], service: str) -> None: ...
