"""The extractor table. Adding an extractor is adding a module and a line here."""

from __future__ import annotations

from collections.abc import Callable

from tasktrace.config.extractor import ExtractorConfig
from tasktrace.extractor.base import Extractor
from tasktrace.extractor.redacting import RedactingExtractor
from tasktrace.redaction import Redaction


def _heuristic(config: ExtractorConfig) -> Extractor:
    from tasktrace.extractor.heuristic import HeuristicExtractor
    from tasktrace.extractor.tool_roles import ToolRoles

    roles = ToolRoles.extended(config.tool_roles.handoff, config.tool_roles.write)
    return HeuristicExtractor(config.criteria, roles)


def _llm(config: ExtractorConfig) -> Extractor:
    from tasktrace.extractor.llm import LLMExtractor

    return LLMExtractor(config.llm, config.criteria)


EXTRACTORS: dict[str, Callable[[ExtractorConfig], Extractor]] = {
    "heuristic": _heuristic,
    "llm": _llm,
}


#: extractors that send the conversation out of the process: with redaction set,
#: they only ever see redacted text
SENDS_TEXT_OUT = frozenset({"llm"})


def build_extractor(config: ExtractorConfig, redaction: Redaction | None = None) -> Extractor:
    extractor = EXTRACTORS[config.type](config)
    if redaction is not None and config.type in SENDS_TEXT_OUT:
        return RedactingExtractor(extractor, redaction)
    return extractor
