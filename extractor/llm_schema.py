"""What the LLM must answer: pydantic models for ``{"operations": [...]}`` and
their JSON schema for ``response_format``. Pure; no I/O.

Tasks are named by their number (``order``); messages by their local label
(``m1`` is the first new message of this request).
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Statuses the model may set; ``expired`` is decided by time, not by the model.
OutputStatus = Literal["pending", "running", "success", "failed"]
#: Why (``tasktrace.model.StatusReason`` without ``expired``, which comes from the TTL);
#: ``none`` for ``pending``. A reason that does not fit the status is replaced by
#: the status's default (``tasktrace.extractor.status_reasons``).
OutputStatusReason = Literal[
    "none",
    "completed",
    "tool_error",
    "refused",
    "escalated",
    "abandoned",
    "awaiting_user",
    "in_progress",
    "criteria",
]

_LABEL = re.compile(r"^\s*m?\s*(\d+)\s*$", re.IGNORECASE)


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _labels(value: Any) -> Any:
    """Accept ``"m3"``, ``"3"`` and ``3`` alike: small models mix them up."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            out.append(f"m{item}")
            continue
        match = _LABEL.match(item) if isinstance(item, str) else None
        out.append(f"m{match.group(1)}" if match else item)
    return out


class _WithMessages(_Op):
    messages: list[Annotated[str, Field(pattern=r"^m[0-9]+$")]] = Field(
        description='labels of the new messages this is based on, e.g. ["m1", "m3"]'
    )

    @field_validator("messages", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        return _labels(value)


class CreateOp(_WithMessages):
    op: Literal["create"]
    description: str = Field(min_length=1, description="what the user asked for, one sentence")
    status: OutputStatus
    status_reason: OutputStatusReason = "none"
    reason: str


class UpdateDescriptionOp(_Op):
    op: Literal["update_description"]
    task: int = Field(ge=1)
    description: str = Field(min_length=1)


class AppendProgressOp(_WithMessages):
    op: Literal["append_progress"]
    task: int = Field(ge=1)
    step: str = Field(min_length=1, description="what the assistant did, one short line")


class SetStatusOp(_Op):
    op: Literal["set_status"]
    task: int = Field(ge=1)
    status: OutputStatus
    status_reason: OutputStatusReason = "none"
    reason: str


class AddPreferenceOp(_Op):
    op: Literal["add_preference"]
    task: int = Field(ge=1)
    text: str = Field(min_length=1, description="a constraint or preference the user stated")


OutputOp = Annotated[
    CreateOp | UpdateDescriptionOp | AppendProgressOp | SetStatusOp | AddPreferenceOp,
    Field(discriminator="op"),
]


class Operations(BaseModel):
    """The whole answer. An empty list means "nothing to change"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operations: list[OutputOp]


#: Keywords strict OpenAI structured output rejects; pydantic still checks them.
_DROPPED = frozenset({"discriminator", "title", "default", "minLength"})
#: Property order is generation order for grammar-constrained servers: the
#: operation kind first, the reasoning before the status it justifies.
_ORDER = (
    "op",
    "task",
    "description",
    "step",
    "text",
    "reason",
    "status",
    "status_reason",
    "messages",
)


def _portable(node: Any) -> Any:
    """Make pydantic's schema acceptable to strict OpenAI and llama.cpp grammars:
    ``oneOf`` becomes ``anyOf``, unsupported keywords go, every property is
    required and no extra properties are allowed."""
    if isinstance(node, list):
        return [_portable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        ("anyOf" if key == "oneOf" else key): _portable(value)
        for key, value in node.items()
        if key not in _DROPPED
    }
    if out.get("type") == "object" and "properties" in out:
        names = sorted(out["properties"], key=lambda n: _ORDER.index(n) if n in _ORDER else 99)
        out["properties"] = {name: out["properties"][name] for name in names}
        out["required"] = names
        out["additionalProperties"] = False
    return out


OUTPUT_SCHEMA: dict[str, Any] = _portable(Operations.model_json_schema())


def response_format(kind: Literal["json_schema", "json_object"]) -> dict[str, Any]:
    """The ``response_format`` argument for ``chat.completions.create``."""
    if kind == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "task_operations",
            "schema": copy.deepcopy(OUTPUT_SCHEMA),
            "strict": True,
        },
    }
