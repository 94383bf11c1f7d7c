"""One shape for every reader: :func:`tidy` gives every dialect the same message
boundaries, so a message reads the same from the output of one call and from
the input of the next. :func:`tidy_extend` extends a tidied history by new
messages in time proportional to them (see :mod:`._history`). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from tasktrace.model import ChatMessage, Role
from tasktrace.sequences import SharedPrefix


def tidy(messages: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    """The messages as the transcript expects them.

    * messages that carry nothing (no text, no tool calls, not a tool result) are dropped;
    * an assistant message holding only tool calls is merged into the assistant
      message right before it (the Responses API reports each ``function_call``
      item, and the text item before them, as separate messages);
    * tool calls whose ids match no result, followed by as many results whose ids
      match no call, take the results' ids in order (the Responses API input
      names calls by item id ``fc_...`` but results by ``call_id``);
    * tool results without a tool name take it from the call they answer.
    """
    return tidy_with_state(messages)[0]


@dataclass(frozen=True, slots=True)
class TidyState:
    """What :func:`tidy_extend` needs to extend a tidied history without a full pass.

    Only histories without orphan tool calls (every message with tool calls has
    a result for one of them) have a state: only there is every message final."""

    last: ChatMessage | None  # the last message after dropping and merging
    result_ids: frozenset[str]
    names: Mapping[str, str]  # tool call id -> tool name, over the whole history


def tidy_with_state(
    messages: Sequence[ChatMessage],
) -> tuple[tuple[ChatMessage, ...], TidyState | None]:
    """:func:`tidy`, plus the state to extend its result with, when there is one."""
    merged: list[ChatMessage] = []
    _fold(merged, messages)
    result_ids = {m.tool_call_id for m in merged if m.role is Role.TOOL}
    if _has_orphans(merged, result_ids):
        return tuple(_name_results(_pair_orphan_calls(merged), {})), None
    names: dict[str, str] = {}
    tidied = tuple(_name_results(merged, names))
    return tidied, TidyState(merged[-1] if merged else None, frozenset(result_ids), names)


def tidy_extend(
    tidied: SharedPrefix[ChatMessage], state: TidyState, more: Sequence[ChatMessage]
) -> tuple[SharedPrefix[ChatMessage], TidyState] | None:
    """``tidy(history + more)`` from ``tidied = tidy(history)`` and its ``state``, in
    time proportional to ``more`` (the result shares ``tidied``'s items); None when
    only a full :func:`tidy` can tell."""
    merged = [state.last] if state.last is not None else []
    _fold(merged, more)
    if merged and merged[0] is state.last:
        head, fresh = tidied, merged[1:]
    else:  # the last message took over tool calls (or there was none)
        head, fresh = tidied.head(len(tidied) - 1 if state.last is not None else 0), merged
    added = {m.tool_call_id for m in fresh if m.role is Role.TOOL}
    result_ids = state.result_ids | added if added else state.result_ids
    if _has_orphans(fresh, result_ids):
        return None
    names = dict(state.names)
    out = head.extend(_name_results(fresh, names))
    return out, TidyState(merged[-1] if merged else None, result_ids, names)


def _fold(merged: list[ChatMessage], messages: Iterable[ChatMessage]) -> None:
    """Drop empty messages and merge tool-call-only assistant messages, onto ``merged``."""
    for message in messages:
        if not (message.content or message.tool_calls or message.role is Role.TOOL):
            continue
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.role is Role.ASSISTANT
            and message.role is Role.ASSISTANT
            and message.tool_calls
            and not message.content
        ):
            merged[-1] = replace(previous, tool_calls=previous.tool_calls + message.tool_calls)
        else:
            merged.append(message)


def _has_orphans(messages: Iterable[ChatMessage], result_ids: AbstractSet[str]) -> bool:
    """Whether a message has tool calls none of which has a result."""
    return any(m.tool_calls and not any(c.id in result_ids for c in m.tool_calls) for m in messages)


def _pair_orphan_calls(messages: list[ChatMessage]) -> list[ChatMessage]:
    result_ids = {m.tool_call_id for m in messages if m.role is Role.TOOL}
    call_ids = {c.id for m in messages for c in m.tool_calls}
    out = list(messages)
    for index, message in enumerate(out):
        if not message.tool_calls or any(c.id in result_ids for c in message.tool_calls):
            continue
        results = []
        for follower in out[index + 1 :]:
            if follower.role is not Role.TOOL:
                break
            results.append(follower)
        if len(results) != len(message.tool_calls) or any(
            r.tool_call_id in call_ids for r in results
        ):
            continue
        if not all(r.tool_call_id for r in results):
            continue
        calls = tuple(
            replace(c, id=r.tool_call_id) for c, r in zip(message.tool_calls, results, strict=True)
        )
        out[index] = replace(message, tool_calls=calls)
    return out


def _name_results(messages: list[ChatMessage], names: dict[str, str]) -> list[ChatMessage]:
    """Name tool results after their calls; ``names`` (call id -> name) is updated."""
    out = []
    for message in messages:
        for call in message.tool_calls:
            names[call.id] = call.name
        if message.role is Role.TOOL and not message.tool_name and message.tool_call_id in names:
            message = replace(message, tool_name=names[message.tool_call_id])
        out.append(message)
    return out
