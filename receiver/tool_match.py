"""Pairs tool-execution spans with the tool-result messages of a transcript.

The error flag of a tool result often lives only on the tool's own span
(status ERROR), while the result text reaches the transcript one model call
later. Runs are matched to results by tool-call id and tool name (models reuse
ids), or, for libraries whose tool spans carry no id, by tool name in order. Pure, per session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from tasktrace.model import Message, Role, ToolRun


@dataclass(slots=True)
class ToolLedger:
    _names: dict[str, str] = field(default_factory=dict)  # call id -> tool name
    _results: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # unmatched (seq, call id, name)
    _runs: list[ToolRun] = field(default_factory=list)  # unmatched runs
    max_pending: int = 256

    def on_message(self, message: Message) -> bool:
        """Record a stored message; True when a run already seen says this result failed."""
        if message.role is Role.ASSISTANT:
            for call in message.tool_calls:
                self._names[call.id] = call.name
            return False
        if message.role is not Role.TOOL:
            return False
        name = message.tool_name or self._names.get(message.tool_call_id, "")
        for i, run in enumerate(self._runs):
            if _pairs(run, message.tool_call_id, name):
                del self._runs[i]
                return run.error
        self._results.append((message.seq, message.tool_call_id, name))
        del self._results[: -self.max_pending]
        return False

    def on_run(self, run: ToolRun) -> list[int]:
        """Record a tool run; the seqs of stored results it marks as failed."""
        for i, (seq, call_id, name) in enumerate(self._results):
            if _pairs(run, call_id, name):
                del self._results[i]
                return [seq] if run.error else []
        self._runs.append(run)
        del self._runs[: -self.max_pending]
        return []

    def dump(self) -> str:
        """What is not paired yet, for the store (the call names come back from
        the transcript in :meth:`restore`)."""
        if not self._runs and not self._results:
            return ""
        runs = [[r.name, r.call_id, r.error] for r in self._runs]
        return json.dumps({"runs": runs, "results": self._results}, separators=(",", ":"))

    @classmethod
    def restore(cls, dumped: str, messages: Sequence[Message]) -> ToolLedger:
        """The ledger of a session read back from the store: :meth:`dump`'s
        output and the session's stored messages."""
        ledger = cls()
        for message in messages:
            for call in message.tool_calls:
                ledger._names[call.id] = call.name
        if dumped:
            state = json.loads(dumped)
            ledger._runs = [
                ToolRun(name, call_id, error=error) for name, call_id, error in state["runs"]
            ]
            ledger._results = [(seq, call_id, name) for seq, call_id, name in state["results"]]
        return ledger

    def take_runs(self) -> list[ToolRun]:
        """The runs not paired yet, handed over (a session moving into another)."""
        runs, self._runs = self._runs, []
        return runs


def _pairs(run: ToolRun, call_id: str, name: str) -> bool:
    same_name = bool(run.name) and run.name == name
    if run.call_id and call_id:
        # models reuse call ids within a conversation: an id names a call of one tool
        return run.call_id == call_id and (same_name or not run.name or not name)
    return same_name


_ERROR_TEXT = re.compile(r"\s*(error|exception)\b\s*:", re.IGNORECASE)


def reports_error(text: str) -> bool:
    """Whether a tool result's own text says the call failed: ``Error: ...``,
    or a JSON object whose only key is ``error``. A library with no tool spans
    (the bare OpenLLMetry instrumentation) carries no other sign of it."""
    if _ERROR_TEXT.match(text):
        return True
    stripped = text.strip()
    if not stripped.startswith("{"):
        return False
    try:
        value = json.loads(stripped)
    except ValueError:
        return False
    return isinstance(value, dict) and list(value) == ["error"]
