"""The ``llm`` extractor: any OpenAI-compatible chat endpoint.

One request per extraction (structured output), plus at most one re-prompt
when the answer does not validate. Transport retries belong to the ``openai``
client (``max_retries``) and nowhere else; anything still failing becomes
:class:`ExtractionFailed` and the caller retries later with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from tasktrace.config.extractor import CriteriaConfig, LLMExtractorConfig
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput, ExtractionResult
from tasktrace.extractor.llm_prompt import InvalidOutput, build_messages, parse_operations, reprompt
from tasktrace.extractor.llm_schema import response_format

log = logging.getLogger(__name__)

#: Local servers ignore the key, but the client insists on one.
_PLACEHOLDER_KEY = "unused"


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    input_tokens: int
    output_tokens: int


def make_client(config: LLMExtractorConfig) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` for ``config``. Empty ``base_url``/``api_key`` let the
    client read ``OPENAI_BASE_URL``/``OPENAI_API_KEY``; with a ``base_url`` but
    no key anywhere, a placeholder key is used. Raises ``openai.OpenAIError``
    when neither a key nor a ``base_url`` is known."""
    base_url = config.base_url or None
    api_key = config.api_key.get_secret_value() or None
    options: dict[str, Any] = {"timeout": config.timeout, "max_retries": config.max_retries}
    try:
        return openai.AsyncOpenAI(base_url=base_url, api_key=api_key, **options)
    except openai.OpenAIError:
        if base_url is None:
            raise
        return openai.AsyncOpenAI(base_url=base_url, api_key=_PLACEHOLDER_KEY, **options)


class LLMExtractor:
    """Extracts task operations with an LLM. Concurrency is bounded by
    ``config.max_concurrency``; a client passed in is not closed by :meth:`aclose`."""

    name = "llm"

    def __init__(
        self,
        config: LLMExtractorConfig,
        criteria: CriteriaConfig,
        *,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        self._config = config
        self._criteria = criteria
        self._owns_client = client is None
        self._client = client if client is not None else make_client(config)
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._response_format = response_format(config.response_format)

    async def extract(self, request: ExtractionInput) -> ExtractionResult:
        """Operations for ``request``; tokens are summed over the call and any re-prompt.

        Raises :class:`ExtractionFailed` when the endpoint fails (after the
        client's own retries) or the answer is still invalid after one re-prompt.
        """
        if not request.messages:
            return ExtractionResult(ops=())
        messages: list[dict[str, str]] = build_messages(request, self._config, self._criteria)
        async with self._slots:
            first = await self._complete(messages)
            try:
                ops = parse_operations(first.text, request)
                return ExtractionResult(ops, first.input_tokens, first.output_tokens)
            except InvalidOutput as error:
                log.info("session %s: invalid answer, re-prompting: %s", request.session_id, error)
                retry = [*messages, {"role": "assistant", "content": first.text}, reprompt(error)]
            second = await self._complete(retry)
        input_tokens = first.input_tokens + second.input_tokens
        output_tokens = first.output_tokens + second.output_tokens
        try:
            ops = parse_operations(second.text, request)
        except InvalidOutput as error:
            raise ExtractionFailed(f"invalid LLM answer after a re-prompt: {error}") from error
        return ExtractionResult(ops, input_tokens, output_tokens)

    async def _complete(self, messages: list[dict[str, str]]) -> _Answer:
        try:
            response = await self._client.chat.completions.create(
                model=self._config.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=self._config.temperature,
                max_completion_tokens=self._config.max_output_tokens,
                # a plain dict in one of the shapes the API takes (json_schema, json_object)
                response_format=cast(Any, self._response_format),
            )
        except openai.APIError as error:
            raise ExtractionFailed(f"LLM endpoint failed: {error}") from error
        if not isinstance(response, ChatCompletion):
            # a body that is not a JSON object (a proxy's error page with status 200):
            # the client hands it back as it came
            raise ExtractionFailed(
                f"LLM endpoint answered something that is not a chat completion: "
                f"{str(response)[:100]!r}"
            )
        text = response.choices[0].message.content if response.choices else None
        usage = response.usage
        return _Answer(
            text=text or "",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()
