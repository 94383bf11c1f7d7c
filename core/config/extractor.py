"""Configuration of the extraction stage (the ``processors.tasktrace`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tasktrace.durations import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CriteriaConfig(_Strict):
    """Optional success/failure criteria: text for the LLM, regex patterns for the heuristic."""

    success: str = ""
    failure: str = ""
    success_patterns: tuple[str, ...] = ()
    failure_patterns: tuple[str, ...] = ()


class LLMExtractorConfig(_Strict):
    """The ``llm`` extractor: any OpenAI-compatible endpoint.

    Empty values fall back to the client's usual ``OPENAI_BASE_URL`` /
    ``OPENAI_API_KEY`` / model defaults (resolved by the config loader, not here).
    """

    base_url: str = ""
    model: str = "gpt-4o-mini"
    api_key: SecretStr = SecretStr("")
    timeout: Duration = Field(default=60.0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_concurrency: int = Field(default=2, ge=1, le=64)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    max_output_tokens: int = Field(default=1024, ge=64)
    recent_progress: int = Field(default=3, ge=0, le=50)


class ToolRolesConfig(_Strict):
    """More words (or whole tool names) that give a tool the ``write`` or
    ``handoff`` role, added to the defaults of ``tasktrace.extractor.tool_roles``;
    every other tool reads."""

    write: tuple[str, ...] = ()
    handoff: tuple[str, ...] = ()


class ExtractorConfig(_Strict):
    type: Literal["heuristic", "llm"] = "heuristic"
    llm: LLMExtractorConfig = LLMExtractorConfig()
    criteria: CriteriaConfig = CriteriaConfig()
    tool_roles: ToolRolesConfig = ToolRolesConfig()
