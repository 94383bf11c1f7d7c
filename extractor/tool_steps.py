"""Progress steps from tool calls, the same for every extractor. Pure.

A tool call the trace recorded is a fact about what the agent did, so its step
is written from the call itself: ``name(key=value, ...)``, never paraphrased.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

#: distinct arguments texts whose items are kept (a bounded LRU)
ARGUMENTS_CACHE = 1024


def tool_step(name: str, arguments: str, *, limit: int = 6, width: int = 40) -> str:
    """A readable progress step: ``convert_currency(amount=250, from_currency=AUD)``."""
    parts = []
    for key, value in list(argument_items(arguments))[:limit]:
        short = value if len(value) <= width else value[: width - 1] + "…"
        parts.append(f"{key}={short}")
    return f"{name}({', '.join(parts)})"


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text if text and len(text) <= 80 else None
    return None


def argument_items(arguments: str) -> Iterator[tuple[str, str]]:
    """``(key, value)`` pairs of a JSON arguments object; nested values are flattened
    as ``outer.inner`` (also each object of a list), lists of scalars joined with commas."""
    yield from _items(arguments)


@functools.lru_cache(maxsize=ARGUMENTS_CACHE)
def _items(arguments: str) -> tuple[tuple[str, str], ...]:
    # a call's arguments are read by several rules per message: parsed once
    return tuple(_flatten("", arguments_object(arguments)))


def arguments_object(arguments: str) -> dict[str, Any]:
    """The JSON arguments object of a call; empty when they are not one."""
    try:
        data = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _flatten(prefix: str, data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(f"{name}.", value)
        elif isinstance(value, list):
            items = [s for s in (_scalar(v) for v in value) if s is not None]
            if items and len(items) == len(value):
                yield name, ", ".join(items)
            for item in value:
                if isinstance(item, dict):
                    yield from _flatten(f"{name}.", item)
        else:
            scalar = _scalar(value)
            if scalar is not None:
                yield name, scalar
