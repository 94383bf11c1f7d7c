"""The extractor stage with redaction set: an ``llm`` extractor sees only redacted
messages, context and tasks; the heuristic (which never sends text out) is left as is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tasktrace.config.extractor import ExtractorConfig, LLMExtractorConfig
from tasktrace.extractor.base import ExtractionInput, ExtractionResult
from tasktrace.extractor.redacting import RedactingExtractor
from tasktrace.extractor.registry import build_extractor
from tasktrace.model import Message, Role, Task, TaskStatus, ToolCall
from tasktrace.redaction import parse_redaction

NOW = datetime(2025, 1, 1, tzinfo=UTC)
CARD = "4111 1111 1111 1111"
REDACTION = parse_redaction({})
assert REDACTION is not None


@dataclass
class Recorder:
    name: str = "recorder"
    seen: list[ExtractionInput] = field(default_factory=list)
    closed: int = 0

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        self.seen.append(request)
        return ExtractionResult(ops=())

    async def aclose(self) -> None:
        self.closed += 1


async def test_messages_context_and_tasks_reach_the_inner_extractor_redacted() -> None:
    inner = Recorder()
    extractor = RedactingExtractor(inner, REDACTION)
    call = ToolCall("c1", "pay", f'{{"card": "{CARD}"}}')
    request = ExtractionInput(
        session_id="s1",
        tasks=(Task("t1", "s1", 1, f"pay with {CARD}", TaskStatus.RUNNING, NOW, NOW),),
        messages=(Message("m2", "s1", 2, Role.ASSISTANT, "", (call,)),),
        now=NOW,
        context=(Message("m1", "s1", 1, Role.USER, "mail me at bob@example.com"),),
    )
    await extractor.extract(request)
    (seen,) = inner.seen
    assert seen.messages[0].id == "m2"
    assert seen.messages[0].tool_calls[0].arguments == '{"card": "[REDACTED:card]"}'
    assert seen.context[0].content == "mail me at [REDACTED:email]"
    assert seen.tasks[0].description == "pay with [REDACTED:card]"
    assert CARD not in repr(seen) and "bob@example.com" not in repr(seen)
    assert extractor.name == "recorder"
    await extractor.aclose()
    assert inner.closed == 1


async def test_only_an_extractor_that_sends_text_out_is_wrapped() -> None:
    llm = build_extractor(
        ExtractorConfig(type="llm", llm=LLMExtractorConfig(base_url="http://127.0.0.1:9/v1")),
        REDACTION,
    )
    heuristic = build_extractor(ExtractorConfig(type="heuristic"), REDACTION)
    plain_llm = build_extractor(
        ExtractorConfig(type="llm", llm=LLMExtractorConfig(base_url="http://127.0.0.1:9/v1"))
    )
    try:
        assert isinstance(llm, RedactingExtractor) and llm.name == "llm"
        assert not isinstance(heuristic, RedactingExtractor)
        assert not isinstance(plain_llm, RedactingExtractor)
    finally:
        for extractor in (llm, heuristic, plain_llm):
            await extractor.aclose()
