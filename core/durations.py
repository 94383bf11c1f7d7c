"""Durations written the collector's way (``8s``, ``500ms``, ``30m``), as seconds,
and :class:`Every`, which paces work done at most once per interval (a log line)."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(value: object) -> float:
    """``"1m30s"`` -> 90.0. Bare numbers are seconds. Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"duration must not be negative: {value!r}")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (write it like 8s, 500ms, 30m, 1h)")
    return total


#: a pydantic field type: accepts ``8s`` / ``500ms`` / numbers, holds float seconds
Duration = Annotated[float, BeforeValidator(parse_duration)]


class Every:
    """Says yes at most once per ``interval`` seconds of the ``now`` it is given."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = -math.inf
        self._asked = 0

    def due(self, now: float) -> bool:
        return self.asked_if_due(now) > 0

    def asked_if_due(self, now: float) -> int:
        """When due, how many times it was asked since the last yes (this time
        included); 0 when not due."""
        self._asked += 1
        if now < self._next:
            return 0
        self._next = now + self._interval
        asked, self._asked = self._asked, 0
        return asked
