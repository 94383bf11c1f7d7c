"""An extractor that sees only redacted text: what ``build_extractor`` puts in
front of an extractor that sends the conversation out of the process (``llm``)
when ``processors.tasktrace.redaction`` is set, whatever ``store`` says."""

from __future__ import annotations

import dataclasses

from tasktrace.extractor.base import ExtractionInput, ExtractionResult, Extractor
from tasktrace.redaction import Redaction, redact_messages, redact_task


class RedactingExtractor:
    """Redacts the new messages, their context and the session's current tasks
    before ``inner`` sees them. Message ids stay, so the operations it returns
    name the stored messages. Closing it closes ``inner``."""

    def __init__(self, inner: Extractor, redaction: Redaction) -> None:
        self._inner = inner
        self._redaction = redaction
        self.name = inner.name

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        redaction = self._redaction
        redacted = dataclasses.replace(
            request,
            tasks=tuple(redact_task(t, redaction) for t in request.tasks),
            messages=redact_messages(request.messages, redaction),
            context=redact_messages(request.context, redaction),
        )
        result = await self._inner.extract(redacted)
        # tasks ``inner`` computed from the redacted ones must not be stored
        return dataclasses.replace(result, tasks=None)

    async def aclose(self) -> None:
        await self._inner.aclose()
