"""The bounded queue in front of an OTLP endpoint: its room counts the batch in flight."""

from __future__ import annotations

import asyncio

from tasktrace.exporter.send_queue import SendQueue


async def test_a_batch_in_flight_takes_room_so_the_queue_never_holds_more_than_its_capacity() -> (
    None
):
    """The task-span backend down under load (tests/integration/test_faults_under_load.py)
    showed 200 spans queued in a queue of 100: a batch taken for sending no longer
    counted against the room while its export was retrying."""
    queue: SendQueue[int] = SendQueue(capacity=4, batch_size=4)
    started, release = asyncio.Event(), asyncio.Event()

    async def send(batch: list[int]) -> bool:
        started.set()
        await release.wait()  # a backend that is down: the export keeps retrying
        return True

    queue.start(send, name="test", on_failure=lambda: None)
    assert queue.offer([1, 2, 3, 4])
    await asyncio.wait_for(started.wait(), 5)

    assert not queue.offer([5])
    assert (queue.queued, queue.dropped) == (4, 1)
    release.set()
    assert await queue.stop(5)
    assert (queue.sent, queue.dropped) == (4, 1)


async def test_a_queue_with_nothing_waiting_or_in_flight_takes_a_group_larger_than_its_room() -> (
    None
):
    queue: SendQueue[int] = SendQueue(capacity=2, batch_size=2)
    assert queue.offer([1, 2, 3])
    assert not queue.offer([4])
    assert queue.queued == 3
