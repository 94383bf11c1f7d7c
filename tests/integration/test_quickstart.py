"""The quickstart as a new user runs it (docs/quickstart.md): the app in
docs/quickstart_agent.py, unchanged, in a venv holding exactly the pinned
libraries of docs/quickstart-requirements.txt (``.ci/install-quickstart.sh``),
against a real ``tasktrace serve`` and a scripted OpenAI-compatible model;
then the documented ``tasktrace flush`` and ``tasktrace tasks`` commands."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.chat_stub import chat_stub
from tests.support.serve_process import TASKTRACE, ServeProcess, start_serve, stop_leftover_postgres

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "docs" / "quickstart_agent.py"
INSTALL_HINT = "run `bash .ci/install-quickstart.sh` to install the quickstart app's libraries"
SESSION = "quickstart-1"


def quickstart_python() -> Path:
    """The quickstart venv's interpreter (``$TASKTRACE_QUICKSTART_VENV`` or the CI default)."""
    venv = os.environ.get("TASKTRACE_QUICKSTART_VENV")
    base = Path(venv) if venv else Path.home() / ".cache" / "tasktrace-ci" / "quickstart-venv"
    python = base / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: {INSTALL_HINT}")
    return python


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    data_dir = tmp_path / "data"
    served = await start_serve(data_dir, tmp_path / "serve.log")
    try:
        yield served
    finally:
        if served.process.returncode is None:
            await served.terminate()
        stop_leftover_postgres(data_dir)


async def run_app(python: Path, grpc: str, base_url: str, *, capture: str) -> str:
    """Run the quickstart app with the documented environment; returns its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
    env |= {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{grpc}",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": capture,
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": "unused",
    }
    process = await asyncio.create_subprocess_exec(
        str(python), str(APP), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    return text


async def cli(served: ServeProcess, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(TASKTRACE), *args, "--endpoint", f"http://{served.http}",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_the_quickstart_app_with_the_pinned_libraries_yields_its_two_tasks(
    tmp_path: Path,
) -> None:
    python = quickstart_python()
    async with serving(tmp_path) as served, chat_stub() as base_url:
        printed = await run_app(python, served.grpc, base_url, capture="true")
        assert "light rain in Paris" in printed

        await cli(served, "flush", SESSION)
        tasks = json.loads(await cli(served, "tasks", SESSION, "--json"))
        async with httpx.AsyncClient(base_url=f"http://{served.http}") as http:
            response = await http.get(f"/api/v1/sessions/{SESSION}/messages")
        messages = response.json()["items"]

    assert [t["status"] for t in tasks] == ["success", "success"], tasks
    assert "weather in Paris" in tasks[0]["description"]
    assert any("get_weather" in step for step in tasks[0]["progress"])
    assert "joke" in tasks[1]["description"]
    # times are the app's, not the extraction's: created_at is the request's message time
    asked = {m["content"]: m["time"] for m in messages if m["role"] == "user"}
    assert tasks[0]["created_at"] == asked["What's the weather in Paris?"]
    assert tasks[1]["created_at"] == asked["Thanks! Now tell me a joke about rain."]
    for task in tasks:
        assert task["history"][0]["status"] == "pending", task["history"]
        assert task["created_at"] < task["history"][-1]["at"] < task["extracted_at"]


async def test_without_content_capture_the_server_warns_once_and_counts_the_session(
    tmp_path: Path,
) -> None:
    python = quickstart_python()
    async with serving(tmp_path) as served, chat_stub() as base_url:
        await run_app(python, served.grpc, base_url, capture="false")
        async with httpx.AsyncClient(base_url=f"http://{served.http}") as http:
            telemetry = await _poll_telemetry(http, lambda t: t["count"] >= 1)
        await served.terminate()

    assert telemetry == {"count": 1, "sessions": [SESSION]}
    warnings = [line for line in served.log.read_text().splitlines() if "without message" in line]
    assert len(warnings) == 1, warnings
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true" in warnings[0]
    assert SESSION in warnings[0]


async def _poll_telemetry(
    http: httpx.AsyncClient, done: Callable[[dict[str, Any]], bool], timeout: float = 40.0
) -> dict[str, Any]:
    """``sessions_without_content`` of ``/api/v1/telemetry`` once ``done`` holds; the
    server reports after its grace period (10 s), which no event announces."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get("/api/v1/telemetry")
        assert response.status_code == 200, response.text
        current: dict[str, Any] = response.json()["sessions_without_content"]
        if done(current):
            return current
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.2)


def test_the_documented_pip_line_installs_exactly_the_tested_pins() -> None:
    pins = [
        line.split("#")[0].strip()
        for line in (ROOT / "docs" / "quickstart-requirements.txt").read_text().splitlines()
    ]
    guide = (ROOT / "docs" / "quickstart.md").read_text().replace("\\\n", " ")
    (pip_line,) = [line for line in guide.splitlines() if "pip install openai==" in line]
    assert sorted(pip_line.split()[2:]) == sorted(p for p in pins if p)
