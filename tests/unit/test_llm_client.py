from __future__ import annotations

from datetime import UTC, datetime

import httpx
import openai
import pytest
from pydantic import SecretStr

from tasktrace.config.extractor import CriteriaConfig, LLMExtractorConfig
from tasktrace.extractor.base import ExtractionFailed, ExtractionInput
from tasktrace.extractor.llm import LLMExtractor, make_client
from tasktrace.model import Message, Role


@pytest.fixture
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_the_client_takes_url_key_timeout_and_retries_from_config(no_openai_env: None) -> None:
    config = LLMExtractorConfig(
        base_url="http://127.0.0.1:9/v1", api_key=SecretStr("sk-test"), timeout=7, max_retries=4
    )
    client = make_client(config)
    assert str(client.base_url).rstrip("/") == "http://127.0.0.1:9/v1"
    assert client.api_key == "sk-test"
    assert client.timeout == 7
    assert client.max_retries == 4


def test_a_local_endpoint_without_a_key_gets_a_placeholder(no_openai_env: None) -> None:
    client = make_client(LLMExtractorConfig(base_url="http://127.0.0.1:9/v1"))
    assert client.api_key == "unused"


def test_empty_values_fall_back_to_the_openai_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8/v1")
    client = make_client(LLMExtractorConfig())
    assert client.api_key == "sk-env"
    assert str(client.base_url).rstrip("/") == "http://127.0.0.1:8/v1"


def test_no_key_and_no_url_is_a_start_up_error(no_openai_env: None) -> None:
    with pytest.raises(openai.OpenAIError):
        make_client(LLMExtractorConfig())


async def test_a_client_passed_in_is_not_closed_by_the_extractor(no_openai_env: None) -> None:
    client = openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k")
    extractor = LLMExtractor(LLMExtractorConfig(), CriteriaConfig(), client=client)
    await extractor.aclose()
    await extractor.aclose()
    assert not client.is_closed()
    await client.close()


async def test_closing_twice_closes_an_owned_client_once_without_error(no_openai_env: None) -> None:
    extractor = LLMExtractor(LLMExtractorConfig(base_url="http://127.0.0.1:9/v1"), CriteriaConfig())
    await extractor.aclose()
    await extractor.aclose()
    assert extractor._client.is_closed()  # the client it built itself


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/html", "<html>502 Bad Gateway</html>"), ("application/json", '"just a string"')],
)
async def test_an_answer_that_is_not_a_chat_completion_is_a_failed_extraction(
    content_type: str, body: str
) -> None:
    """A proxy's error page with status 200 (seen under fault load): the client
    hands back the body as a string, which must fail the extraction with its
    usual backoff, not escape as an unexpected error."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=body, headers={"content-type": content_type})

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    client = openai.AsyncOpenAI(base_url="http://llm.test/v1", api_key="k", http_client=http)
    extractor = LLMExtractor(LLMExtractorConfig(max_retries=0), CriteriaConfig(), client=client)
    request = ExtractionInput(
        session_id="s1",
        tasks=(),
        messages=(Message(id="m1", session_id="s1", seq=0, role=Role.USER, content="book a room"),),
        now=datetime(2025, 5, 1, tzinfo=UTC),
    )
    with pytest.raises(ExtractionFailed, match="not a chat completion"):
        await extractor.extract(request)
    await client.close()
