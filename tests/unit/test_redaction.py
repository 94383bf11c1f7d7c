"""Redaction (``tasktrace.redaction``): the built-in patterns, Luhn, user regexes,
config errors, idempotence, JSON kept valid, and the vocabulary types."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tasktrace.config import ConfigError, load_config
from tasktrace.model import (
    ChatMessage,
    Message,
    Role,
    SpanContent,
    SpanRole,
    StatusChange,
    Task,
    TaskStatus,
    ToolCall,
    ToolRun,
)
from tasktrace.redaction import (
    Redaction,
    applied,
    luhn_valid,
    parse_redaction,
    redact_content,
    redact_json_text,
    redact_message,
    redact_task,
    redact_text,
)

CARD = "4111 1111 1111 1111"  # the well-known Visa test number (Luhn-valid)
DEFAULT = parse_redaction({})
assert DEFAULT is not None
RULES = DEFAULT.rules


def redaction(**raw: Any) -> Redaction:
    parsed = parse_redaction(raw)
    assert parsed is not None
    return parsed


# --- Luhn -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits",
    ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117", "79927398713"],
)
def test_luhn_accepts_valid_numbers(digits: str) -> None:
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["4111111111111112", "1234567812345678", "79927398710"])
def test_luhn_refuses_numbers_with_a_wrong_check_digit(digits: str) -> None:
    assert not luhn_valid(digits)


# --- the built-in patterns ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"my card is {CARD}.", "my card is [REDACTED:card]."),
        ("4111-1111-1111-1111", "[REDACTED:card]"),
        ("amex 378282246310005 ok", "amex [REDACTED:card] ok"),
        ("pay with 5555555555554444", "pay with [REDACTED:card]"),
        (f"qty 2 {CARD}", "qty 2 [REDACTED:card]"),  # digits just before do not hide it
        (f"BK-123456 {CARD}", "BK-123456 [REDACTED:card]"),
    ],
)
def test_card_numbers_that_pass_luhn_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text, RULES) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112",  # Luhn fails: an order number
        "booking 1234567812345678",
        "only 12 digits 411111111111",
        "20 digits 41111111111111111111",
        "arabic-indic " + " ".join(["\u0664\u0661\u0661\u0661"] + ["\u0661" * 4] * 3),
        "short groups 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    ],
)
def test_digit_runs_that_are_not_card_numbers_are_kept(text: str) -> None:
    assert redact_text(text, RULES) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to bob.smith+tag@example.co.uk.", "write to [REDACTED:email]."),
        ("<jane_doe@mail.example.org>", "<[REDACTED:email]>"),
        ("ünïcode.name@example.de", "[REDACTED:email]"),
    ],
)
def test_email_addresses_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text, RULES) == expected


@pytest.mark.parametrize("text", ["user@localhost", "an @ sign", "foo@bar", "version 1.2.3@beta"])
def test_things_that_are_not_email_addresses_are_kept(text: str) -> None:
    assert redact_text(text, RULES) == text


@pytest.mark.parametrize(
    "phone",
    ["+44 20 7946 0958", "(555) 123-4567", "555-123-4567", "555.123.4567", "+1-202-555-0143"],
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    assert redact_text(f"call {phone} now", RULES) == "call [REDACTED:phone] now"


@pytest.mark.parametrize(
    "text",
    [
        "from 192.168.100.200",
        "on 2024-01-15 10:30",
        "order 1234567890",  # a run without separators is an id, not a phone
        "ref 2024-123456",
        "it costs 1 000 000",
        "at 10:30:45",
    ],
)
def test_numbers_that_are_not_phone_numbers_are_kept(text: str) -> None:
    assert redact_text(text, RULES) == text


def test_only_the_listed_built_in_patterns_apply() -> None:
    text = f"mail a@b.io, card {CARD}"
    assert (
        redact_text(text, redaction(patterns=["card"]).rules) == "mail a@b.io, card [REDACTED:card]"
    )


# --- user regexes -----------------------------------------------------------------


def test_a_user_regex_replaces_with_its_name() -> None:
    rules = redaction(regexes=[{"name": "booking", "pattern": r"\bBK-[0-9]{6}\b"}]).rules
    assert redact_text("ref BK-123456, not BK-12", rules) == "ref [REDACTED:booking], not BK-12"
    assert redact_text(f"ref BK-123456 {CARD}", rules) == "ref [REDACTED:booking] [REDACTED:card]"


def test_overlapping_matches_go_to_the_one_that_starts_first() -> None:
    rules = redaction(patterns=["email"], regexes=[{"name": "user", "pattern": r"bob\w*"}]).rules
    assert redact_text("hi bob@example.com", rules) == "hi [REDACTED:email]"
    assert redact_text("hi bobby", rules) == "hi [REDACTED:user]"


# --- idempotence --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"card {CARD}, mail bob@example.com, call (555) 123-4567",
        f"{CARD}{CARD}",
        "[REDACTED:card] stays, [REDACTED:email]@example.com too",
        '{"card": 4111111111111111, "note": "to a@b.io"}',
    ],
)
def test_redacting_twice_gives_what_redacting_once_gave(text: str) -> None:
    once = redact_json_text(text, RULES)
    assert redact_json_text(once, RULES) == once


def test_a_user_regex_that_would_match_a_marker_leaves_it_alone() -> None:
    rules = redaction(regexes=[{"name": "brackets", "pattern": r"\[[^\]]*\]"}]).rules
    once = redact_text(f"x {CARD} [secret]", rules)
    assert once == "x [REDACTED:card] [REDACTED:brackets]"
    assert redact_text(once, rules) == once


def test_matches_next_to_markers_are_redacted_and_matches_across_them_are_not() -> None:
    rules = redaction(regexes=[{"name": "tail", "pattern": r"\]x+"}]).rules
    text = f"[REDACTED:card]{CARD} [REDACTED:email]xx a@b.io"
    assert redact_text(text, rules) == (
        "[REDACTED:card][REDACTED:card] [REDACTED:email]xx [REDACTED:email]"
    )


def test_many_markers_and_many_matches_are_all_handled() -> None:
    text = "[REDACTED:x] a@b.io " * 20_000
    assert redact_text(text, RULES) == "[REDACTED:x] [REDACTED:email] " * 20_000


# --- JSON text ----------------------------------------------------------------


def test_json_stays_valid_and_card_integers_become_marker_strings() -> None:
    text = json.dumps({"card": 4111111111111111, "who": {"email": "a@b.io"}, "n": [5, "x"]})
    out = json.loads(redact_json_text(text, RULES))
    assert out == {"card": "[REDACTED:card]", "who": {"email": "[REDACTED:email]"}, "n": [5, "x"]}


def test_json_with_nothing_to_redact_keeps_its_formatting() -> None:
    text = '{"city":"Paris",  "day":"tomorrow"}'
    assert redact_json_text(text, RULES) == text


def test_text_that_is_not_json_is_redacted_as_text() -> None:
    assert redact_json_text("{not json a@b.io", RULES) == "{not json [REDACTED:email]"


# --- the vocabulary ------------------------------------------------------------


def test_a_message_has_its_text_and_tool_call_arguments_redacted_and_keeps_its_id() -> None:
    call = ToolCall("c1", "pay", json.dumps({"card": CARD}))
    message = Message("m1", "s1", 0, Role.ASSISTANT, f"paying with {CARD}", (call,))
    out = redact_message(message, DEFAULT)
    assert (out.id, out.seq, out.content) == ("m1", 0, "paying with [REDACTED:card]")
    assert json.loads(out.tool_calls[0].arguments) == {"card": "[REDACTED:card]"}


def test_a_message_with_nothing_to_redact_is_returned_as_is() -> None:
    message = Message("m1", "s1", 0, Role.USER, "hello")
    assert redact_message(message, DEFAULT) is message


def test_span_content_has_messages_and_the_tool_run_redacted() -> None:
    content = SpanContent(
        SpanRole.TOOL,
        messages=(ChatMessage(Role.USER, "mail bob@example.com"),),
        tool_run=ToolRun(
            "lookup", "c1", '{"email": "bob@example.com"}', f"card {CARD}", True, CARD
        ),
    )
    out = redact_content(content, DEFAULT)
    assert out.messages[0].content == "mail [REDACTED:email]"
    assert out.tool_run is not None
    assert out.tool_run.arguments == '{"email": "[REDACTED:email]"}'
    assert (out.tool_run.result, out.tool_run.error_message) == (
        "card [REDACTED:card]",
        "[REDACTED:card]",
    )


def test_a_task_has_its_texts_redacted() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    task = Task(
        "t1", "s1", 1, f"pay with {CARD}", TaskStatus.FAILED, at, at,
        progress=("mailed bob@example.com",),
        preferences=("call (555) 123-4567",),
        history=(StatusChange(TaskStatus.FAILED, at, f"card {CARD} declined"),),
    )  # fmt: skip
    out = redact_task(task, DEFAULT)
    assert out.description == "pay with [REDACTED:card]"
    assert out.progress == ("mailed [REDACTED:email]",)
    assert out.preferences == ("call [REDACTED:phone]",)
    assert out.history[0].reason == "card [REDACTED:card] declined"


# --- config ---------------------------------------------------------------------


def test_redaction_is_off_unless_configured() -> None:
    assert load_config(None, environ={}).processors.tasktrace.redaction is None


def test_the_config_key_turns_on_all_built_in_patterns_with_raw_storage_and_redacted_spans() -> (
    None
):
    config = load_config(None, overrides=["processors.tasktrace.redaction={}"], environ={})
    parsed = config.processors.tasktrace.redaction
    assert parsed is not None
    assert [r.name for r in parsed.rules] == ["email", "card", "phone"]
    assert (parsed.store, parsed.spans) == ("raw", "redacted")
    assert applied(parsed, "store") is None and applied(parsed, "spans") is parsed


def test_store_and_spans_are_set_from_the_config() -> None:
    overrides = [
        "processors.tasktrace.redaction.store=redacted",
        "processors.tasktrace.redaction.spans=raw",
        "processors.tasktrace.redaction.regexes=[{name: booking, pattern: 'BK-[0-9]+'}]",
    ]
    parsed = load_config(None, overrides=overrides, environ={}).processors.tasktrace.redaction
    assert parsed is not None
    assert (parsed.store, parsed.spans) == ("redacted", "raw")
    assert parsed.rules[-1].name == "booking"
    assert applied(parsed, "store") is parsed and applied(parsed, "spans") is None


def bad(value: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(None, overrides=[f"processors.tasktrace.redaction={value}"], environ={})
    return str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "{regexes: [{name: x, pattern: '(unclosed'}]}",
            "regexes[0].pattern: bad regex '(unclosed'",
        ),
        ("{regexes: [{name: x, pattern: 'a*'}]}", "matches the empty string"),
        ("{regexes: [{name: 'a b', pattern: 'x'}]}", "regexes[0].name"),
        ("{regexes: [{pattern: 'x'}]}", "exactly 'name' and 'pattern'"),
        ("{regexes: [{name: card, pattern: 'x'}]}", "'card' is used twice"),
        ("{patterns: [ssn]}", "unknown pattern 'ssn'"),
        ("{patterns: []}", "no patterns and no regexes"),
        ("{store: encrypted}", "store: 'encrypted' must be 'redacted' or 'raw'"),
        ("{spans: maybe}", "spans: 'maybe'"),
        ("{stores: raw}", "unknown key 'stores'"),
        ("[email]", "must be a mapping"),
    ],
)
def test_bad_redaction_config_is_a_clear_error_naming_the_key(value: str, message: str) -> None:
    error = bad(value)
    assert "processors.tasktrace.redaction" in error
    assert message in error


def test_the_readme_redaction_example_loads_and_redacts_as_it_says(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```yaml\n  processors:\n    tasktrace:\n      redaction:")
    block = readme[start + len("```yaml\n") : readme.index("```", start + 3)]
    path = tmp_path / "redaction.yaml"
    path.write_text(textwrap.dedent(block))
    parsed = load_config(path, environ={}).processors.tasktrace.redaction
    assert parsed is not None
    assert [r.name for r in parsed.rules] == ["email", "card", "phone", "booking"]
    assert (parsed.store, parsed.spans) == ("raw", "redacted")
    text = f"BK-482913 paid with {CARD}, receipt to a@b.io"
    assert redact_text(text, parsed.rules) == (
        "[REDACTED:booking] paid with [REDACTED:card], receipt to [REDACTED:email]"
    )
