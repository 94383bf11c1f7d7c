"""The pass-through forwarder's queue and retry schedule, over a scripted transport."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any

import pytest

from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.exporter import otlp_forward
from tasktrace.exporter.otlp_forward import Attempt, OTLPForwarder, http_urls
from tasktrace.model import Signal

OK = Attempt(True)
BUSY = Attempt(False, retryable=True, error="UNAVAILABLE")
BUSY_FOR_3S = Attempt(False, retryable=True, retry_after=3.0, error="UNAVAILABLE")
BAD = Attempt(False, retryable=False, error="INVALID_ARGUMENT")


class ScriptedTransport:
    """Answers each send with the next scripted attempt (then OK), recording what it got."""

    def __init__(self, answers: Iterable[Attempt]) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[Signal, bytes]] = []
        self.closed = False
        self.called = asyncio.Event()

    async def prepare(self, body: bytes) -> bytes:
        return body

    async def send(self, signal: Signal, body: bytes, timeout: float) -> Attempt:
        self.sent.append((signal, body))
        self.called.set()
        return self.answers.pop(0) if self.answers else OK

    async def close(self) -> None:
        self.closed = True


class Clock:
    """A clock that the recorded sleeps move forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_forwarder(transport: ScriptedTransport, clock: Clock, **values: Any) -> OTLPForwarder:
    retry = {"initial_interval": "1s", "max_interval": "4s", "max_elapsed_time": "20s"}
    config = OTLPExporterConfig.model_validate(
        {"endpoint": "127.0.0.1:4317", "retry_on_failure": retry} | values
    )
    forwarder = OTLPForwarder(
        config, transport_factory=lambda _: transport, clock=lambda: clock.now, rng=random.Random(1)
    )
    forwarder.sleep = clock.sleep
    return forwarder


async def forward(forwarder: OTLPForwarder, transport: ScriptedTransport, *bodies: bytes) -> None:
    await forwarder.start()
    for body in bodies:
        assert forwarder.offer("traces", body)
    await forwarder.shutdown(timeout=10.0)


async def test_every_request_goes_out_once_in_order_and_the_transport_is_closed() -> None:
    transport, clock = ScriptedTransport([]), Clock()
    forwarder = make_forwarder(transport, clock)

    await forward(forwarder, transport, b"a", b"b", b"c")

    assert transport.sent == [("traces", b"a"), ("traces", b"b"), ("traces", b"c")]
    assert forwarder.stats().forwarded == 3
    assert transport.closed


async def test_retries_back_off_exponentially_with_jitter_up_to_max_interval() -> None:
    transport, clock = ScriptedTransport([BUSY] * 5), Clock()
    forwarder = make_forwarder(
        transport,
        clock,
        retry_on_failure={"initial_interval": "1s", "max_interval": "4s", "multiplier": 2.0},
    )

    await forward(forwarder, transport, b"a")

    assert len(transport.sent) == 6
    bases = [1, 2, 4, 4, 4]
    for slept, base in zip(clock.sleeps, bases, strict=True):
        assert 0.5 * base <= slept <= 1.5 * base
    assert forwarder.stats().forwarded == 1


async def test_the_delay_a_server_asks_for_is_the_one_waited() -> None:
    transport, clock = ScriptedTransport([BUSY_FOR_3S]), Clock()
    forwarder = make_forwarder(transport, clock)

    await forward(forwarder, transport, b"a")

    assert clock.sleeps == [3.0]
    assert forwarder.stats().forwarded == 1


async def test_a_permanent_error_is_not_retried_and_counts_as_failed() -> None:
    transport, clock = ScriptedTransport([BAD]), Clock()
    forwarder = make_forwarder(transport, clock)

    await forward(forwarder, transport, b"a", b"b")

    assert transport.sent == [("traces", b"a"), ("traces", b"b")]
    assert clock.sleeps == []
    stats = forwarder.stats()
    assert (stats.forwarded, stats.failed) == (1, 1)


async def test_retrying_stops_at_max_elapsed_time() -> None:
    transport, clock = ScriptedTransport([BUSY_FOR_3S] * 100), Clock()
    forwarder = make_forwarder(transport, clock, retry_on_failure={"max_elapsed_time": "10s"})

    await forward(forwarder, transport, b"a")

    assert clock.sleeps == [3.0, 3.0, 3.0]  # a fourth wait would end past 10 s
    assert forwarder.stats().failed == 1


async def test_with_retry_disabled_one_attempt_is_made() -> None:
    transport, clock = ScriptedTransport([BUSY]), Clock()
    forwarder = make_forwarder(transport, clock, retry_on_failure={"enabled": False})

    await forward(forwarder, transport, b"a")

    assert len(transport.sent) == 1
    assert forwarder.stats().failed == 1


async def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    transport, clock = ScriptedTransport([]), Clock()
    forwarder = make_forwarder(transport, clock, sending_queue={"queue_size": 2})

    # not started: nothing drains, so the queue fills
    results = [forwarder.offer("logs", body) for body in (b"a", b"b", b"c")]
    await forwarder.start()
    await forwarder.shutdown()

    assert results == [True, True, False]
    assert transport.sent == [("logs", b"a"), ("logs", b"b")]
    assert forwarder.stats().dropped == 1


async def test_at_the_shutdown_deadline_a_backoff_wait_ends_and_the_rest_is_dropped() -> None:
    transport = ScriptedTransport([BUSY_FOR_3S] * 100)
    config = OTLPExporterConfig.model_validate({"endpoint": "127.0.0.1:4317"})
    forwarder = OTLPForwarder(config, transport_factory=lambda _: transport)
    await forwarder.start()
    forwarder.offer("traces", b"a")
    forwarder.offer("traces", b"b")
    await transport.called.wait()  # the first attempt is made, then the 3 s wait begins

    await asyncio.wait_for(forwarder.shutdown(timeout=0.05), timeout=2.0)

    stats = forwarder.stats()
    assert (stats.failed, stats.dropped, stats.queued) == (1, 1, 0)
    assert transport.sent == [("traces", b"a")]


@pytest.mark.parametrize(
    ("traces_url", "logs_url"),
    [
        ("http://host:4318/v1/traces", "http://host:4318/v1/logs"),
        ("https://host/otlp/v1/traces", "https://host/otlp/v1/logs"),
        ("http://host:6006/custom", "http://host:6006/custom/v1/logs"),
    ],
)
def test_the_logs_url_sits_beside_the_traces_url(traces_url: str, logs_url: str) -> None:
    assert http_urls(traces_url) == {"traces": traces_url, "logs": logs_url}


async def test_the_queue_is_also_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_forward, "MAX_QUEUED_BYTES", 10)
    transport, clock = ScriptedTransport([]), Clock()
    forwarder = make_forwarder(transport, clock)

    results = [forwarder.offer("traces", body) for body in (b"123456", b"1234", b"1")]
    await forwarder.start()
    await forwarder.shutdown()

    assert results == [True, True, False]
    assert [body for _, body in transport.sent] == [b"123456", b"1234"]
    assert forwarder.stats().dropped == 1
