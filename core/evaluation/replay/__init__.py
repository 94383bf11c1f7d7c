"""Replay labeled conversations as the OTLP an instrumentation library would send.

:func:`~tasktrace.evaluation.replay.plan.plan` lays a conversation out as an app runs it
(requests, model calls, tool runs); an *encoder* writes that plan in one
library's span format. Adding a format is adding a module with ``NAME`` and
``encode(replay) -> list[Export]`` and naming it here. Everything is pure.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence

from tasktrace.evaluation.dataset import LabeledConversation
from tasktrace.evaluation.replay.otlp import Export
from tasktrace.evaluation.replay.plan import (
    DEFAULT_MODEL,
    DEFAULT_START_NS,
    DEFAULT_SYSTEM_PROMPT,
    Replay,
    plan,
)

Encoder = Callable[[Replay], list[Export]]

#: module names under this package; the first is the default
_MODULES: Sequence[str] = ("genai", "openinference", "genai_events")

ENCODERS: Mapping[str, Encoder] = {
    module.NAME: module.encode
    for module in (importlib.import_module(f"{__name__}.{name}") for name in _MODULES)
}
DEFAULT_ENCODER = "genai"

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "Encoder",
    "Export",
    "Replay",
    "encode",
    "encoder",
    "plan",
]


def encoder(name: str) -> Encoder:
    """The encoder called ``name`` (``genai_events`` is read as ``genai-events``).
    Raises KeyError naming the known ones."""
    found = ENCODERS.get(name.replace("_", "-"))
    if found is None:
        raise KeyError(f"unknown dialect {name!r}; known: {', '.join(ENCODERS)}")
    return found


def encode(
    name: str,
    conversation: LabeledConversation,
    *,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    model: str = DEFAULT_MODEL,
    start_ns: int = DEFAULT_START_NS,
) -> list[Export]:
    """``conversation`` as the export calls (``("traces" | "logs", request bytes)``,
    in sending order) of the library ``name``."""
    replay = plan(conversation, system_prompt=system_prompt, model=model, start_ns=start_ns)
    return encoder(name)(replay)
