"""Tiny tolerant readers shared by the dialects.

Every function here is pure and total: wrong types and invalid JSON give a
neutral value (``""``, ``0``, ``None``) instead of raising, because a dialect
must read what it can from whatever an instrumentation library emitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tasktrace.model import AttrValue, LogRecord, Role, Span, SpanContent, StatusCode

#: ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
#: with the encoder made once (``json.dumps`` with options builds one per call)
dumps_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
#: the same without sorting keys
dumps_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

_ROLES = {
    "system": Role.SYSTEM,
    "developer": Role.SYSTEM,
    "user": Role.USER,
    "human": Role.USER,
    "assistant": Role.ASSISTANT,
    "ai": Role.ASSISTANT,
    "model": Role.ASSISTANT,
    "tool": Role.TOOL,
    "function": Role.TOOL,
}


def loads_or_none(text: object) -> Any:
    """``text`` parsed as JSON, or None when it is not a string holding valid JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def unparsable(value: object) -> int:
    """1 when ``value`` is text that should be JSON and is not, else 0 (for counting)."""
    if not isinstance(value, str) or not value.strip():
        return 0
    try:
        json.loads(value)
    except ValueError:
        return 1
    return 0


def structured(value: object) -> Any:
    """A value that may be JSON text or already structured (a decoded AnyValue):
    lists and dicts are returned as they are, strings are parsed (None if invalid)."""
    if isinstance(value, (list, dict)):
        return value
    return loads_or_none(value)


def canonical_json(value: object) -> str:
    """Canonical JSON text of ``value``: strings holding JSON are re-serialised with
    sorted keys and no spaces; other strings are returned unchanged; None gives ``""``;
    structured values are serialised directly."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    try:
        return dumps_canonical(value)
    except (TypeError, ValueError):
        return str(value)


def as_str(value: object) -> str:
    """``value`` as text: strings unchanged, numbers and bools via ``str``,
    structured values as canonical JSON, None as ``""``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, (list, dict)):
        return canonical_json(value)
    return str(value)


def as_int(value: object) -> int:
    """``value`` as an int (ints, integral floats, digit strings), else 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else 0
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return 0
    return 0


def as_dict(value: object) -> Mapping[str, Any]:
    """``value`` when it is a dict, else an empty one (JSON text is not parsed)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> Sequence[Any]:
    """``value`` when it is a list, else an empty one (JSON text is not parsed)."""
    return value if isinstance(value, list) else []


def as_role(value: object) -> Role | None:
    """The :class:`Role` named by ``value`` (``"assistant"``, ``"developer"``, ...), else None."""
    return _ROLES.get(value.lower()) if isinstance(value, str) else None


def first_attr(attributes: Mapping[str, AttrValue], *keys: str) -> AttrValue:
    """The value of the first of ``keys`` present (and not None) in ``attributes``."""
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def join_text(texts: Sequence[str]) -> str:
    """Non-empty texts joined with newlines: how a multi-part message reads."""
    return "\n".join(text for text in texts if text)


def span_error(span: Span) -> tuple[bool, str]:
    """Whether ``span`` failed and why: status ERROR (message from the status, else
    the first ``exception`` event's ``exception.message``) or an exception event."""
    message = span.status_message
    failed = span.status_code == StatusCode.ERROR
    for event in span.events:
        if event.name == "exception":
            failed = True
            message = message or as_str(event.attributes.get("exception.message"))
            break
    return failed, message


class SpansOnly:
    """Mixin for a dialect whose content is all on spans: it claims no log records."""

    def claims_log(self, record: LogRecord) -> bool:
        return False

    def read_logs(self, records: Sequence[LogRecord]) -> SpanContent | None:
        return None
