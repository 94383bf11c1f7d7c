"""The bounded queue in front of one OTLP endpoint, drained by one asyncio worker:
what the task-span sink and the pass-through forwarder have in common (the
collector's ``sending_queue``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: sends a batch; True when the endpoint took it (retries are the sender's business)
Send = Callable[[list[T]], Awaitable[bool]]


class SendQueue(Generic[T]):
    """Items waiting for one endpoint, sent up to ``batch_size`` at a time.

    Counts are in items: ``sent``; ``failed`` (the send said no, or was cut off
    at the shutdown deadline); ``dropped`` (no room, or still queued at the
    deadline). Room is ``capacity`` items and, with a ``weight`` (e.g. bytes),
    ``max_weight`` of them, in flight included. A group of items is queued whole
    or not at all, and an empty queue (nothing waiting or in flight) always takes
    one group. Use from the event loop's thread.
    """

    def __init__(
        self,
        capacity: int,
        batch_size: int,
        *,
        weight: Callable[[T], int] | None = None,
        max_weight: int = 0,
    ) -> None:
        self._capacity = capacity
        self._batch_size = batch_size
        self._weight_of = weight
        self._max_weight = max_weight
        self._weight = 0
        self._items: deque[T] = deque()
        self._in_flight = 0
        self.sent = self.failed = self.dropped = 0
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    @property
    def queued(self) -> int:
        """Items waiting or in flight."""
        return len(self._items) + self._in_flight

    @property
    def running(self) -> bool:
        return self._worker is not None

    def offer(self, items: Sequence[T]) -> bool:
        """Queue ``items``; never blocks. False, and counted as dropped, without room."""
        weight = sum(map(self._weight_of, items)) if self._weight_of is not None else 0
        # the batch in flight holds its room until its send is over (it may retry for long)
        if self.queued and (
            self.queued + len(items) > self._capacity
            or (self._weight_of is not None and self._weight + weight > self._max_weight)
        ):
            self.dropped += len(items)
            return False
        self._weight += weight
        self._items.extend(items)
        self._wake.set()
        return True

    def start(self, send: Send[T], *, name: str, on_failure: Callable[[], None]) -> None:
        """Start the worker; ``on_failure`` runs after each failed send."""
        if self._worker is None:
            self._closing = False
            self._worker = asyncio.create_task(self._drain(send, on_failure), name=name)

    async def stop(self, timeout: float, *, at_deadline: Callable[[], None] | None = None) -> bool:
        """Send what is queued within ``timeout`` seconds, then stop the worker.

        False when the deadline passed: ``at_deadline`` runs (e.g. to interrupt
        a sender's retry wait), the worker is cancelled and what is still
        queued counts as dropped."""
        worker, self._worker = self._worker, None
        if worker is None:
            return True
        self._closing = True
        self._wake.set()
        done, _ = await asyncio.wait({worker}, timeout=timeout)
        if not done:
            if at_deadline is not None:
                at_deadline()
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self.dropped += len(self._items)
            self._items.clear()
            self._weight = 0
        elif (error := worker.exception()) is not None:
            _log.error("send queue worker %s failed", worker.get_name(), exc_info=error)
        return bool(done)

    async def _drain(self, send: Send[T], on_failure: Callable[[], None]) -> None:
        while True:
            if not self._items:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            count = min(len(self._items), self._batch_size)
            batch = [self._items.popleft() for _ in range(count)]
            self._in_flight = count
            try:
                ok = await send(batch)
            except asyncio.CancelledError:
                self.failed += count
                raise
            finally:
                self._in_flight = 0
                if self._weight_of is not None:
                    self._weight -= sum(map(self._weight_of, batch))
            if ok:
                self.sent += count
            else:
                self.failed += count
                on_failure()
