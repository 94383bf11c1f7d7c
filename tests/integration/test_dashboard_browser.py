"""The ``/ui`` dashboard in a real headless Chromium (Debian's, driven by
playwright), over a real tasktrace and Postgres holding sessions made from the
captured fixtures: task rows, statuses and progress render, a click on a task
highlights its messages, failed tasks are listed. Screenshots go to a temporary
folder, or to docs/images/ with ``TASKTRACE_SCREENSHOTS=docs/images`` (how the
README's were made), so a test run leaves the checkout as it was."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.genai_chat import Turn
from tests.support.otlp_traffic import export_http, fixture, session_of
from tests.support.service import running_service
from tests.support.session_api import flush, send_turn

CHROMIUM = Path("/usr/bin/chromium")
CONVERSATIONS = ("three-tools", "tool-error", "preference", "two-requests")
TRACE_URL = "http://jaeger.example:16686/trace/{trace_id}"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium: run .ci/install-chromium.sh"
    ),
]

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="needs playwright (the test extras)"
)


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield await browser.new_page(viewport={"width": 1400, "height": 900})
        finally:
            await browser.close()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Where the screenshots go: ``TASKTRACE_SCREENSHOTS`` (relative to the repo), else tmp."""
    chosen = os.environ.get("TASKTRACE_SCREENSHOTS")
    return Path(__file__).resolve().parents[2] / chosen if chosen else tmp_path


async def loaded(page: Any, url: str) -> None:
    """Open ``url`` and wait for the page to say it rendered (no fixed sleep)."""
    await page.evaluate("document.body && delete document.body.dataset.loaded")
    await page.goto(url)
    await page.wait_for_selector("body[data-loaded=true]", timeout=15_000)


async def test_the_dashboard_shows_sessions_tasks_and_highlights_a_tasks_messages(
    pg_dsn: str, page: Any, images: Path
) -> None:
    overrides = [f"ui.trace_url={TRACE_URL}"]
    async with running_service(pg_dsn, overrides=overrides) as service:
        base = f"http://{service.endpoints.http}"
        tasks: dict[str, list[dict[str, Any]]] = {}
        async with httpx.AsyncClient(base_url=base) as http:
            for conversation in CONVERSATIONS:
                assert (await export_http(service.endpoints.http, fixture(conversation))).is_success
                sid = session_of(conversation)
                await flush(http, sid)
                listed = await http.get(f"/api/v1/sessions/{sid}/tasks")
                tasks[sid] = listed.json()["items"]
        assert all(tasks.values()), f"every fixture session has tasks: {tasks}"

        await loaded(page, f"{base}/ui")
        rows = page.locator("#sessions tr.session-row")
        assert await rows.count() == len(CONVERSATIONS)
        assert await page.locator("#sessions .counts .status").count() > 0
        await page.screenshot(path=str(images / "ui-sessions.png"), full_page=True)

        sid = session_of("two-requests")
        assert len(tasks[sid]) >= 2, "a session with two tasks shows which messages are whose"
        await loaded(page, f"{base}/ui#/session/{sid}")
        await check_session(page, tasks[sid])
        chosen = max(tasks[sid], key=lambda t: t["order"])
        await page.locator(f".task[data-task-id='{chosen['id']}']").click()
        marked = await message_ids(page, ".message.highlight")
        assert marked == set(chosen["message_ids"]) and marked, "exactly the task's messages"
        assert await message_ids(page, ".message:not(.highlight)"), "the others stay plain"
        await page.screenshot(path=str(images / "ui-session.png"), full_page=True)

        failed = [t for ts in tasks.values() for t in ts if t["status"] == "failed"]
        assert failed, "the tool-error fixture makes a failed task"
        await loaded(page, f"{base}/ui#/failed")
        assert await page.locator("#failed tr.failed-row").count() == len(failed)
        await page.screenshot(path=str(images / "ui-failed.png"), full_page=True)


async def check_session(page: Any, expected: list[dict[str, Any]]) -> None:
    cards = page.locator(".task")
    assert await cards.count() == len(expected), "every task has a row"
    for task in sorted(expected, key=lambda t: t["order"]):
        card = page.locator(f".task[data-task-id='{task['id']}']")
        assert task["description"] in await card.locator(".description").inner_text()
        assert await card.locator(".status").inner_text() == task["status"]
        steps = await card.locator("ol.progress li").all_inner_texts()
        assert steps == task["progress"]
        if task["trace_ids"]:
            href = await card.locator("a.trace-link").first.get_attribute("href")
            assert href == TRACE_URL.replace("{trace_id}", task["trace_ids"][0])


async def message_ids(page: Any, selector: str) -> set[str]:
    return {await m.get_attribute("data-message-id") for m in await page.locator(selector).all()}


async def test_a_session_with_an_open_task_refreshes_itself(pg_dsn: str, page: Any) -> None:
    sid = "ui-live-1"
    asked = Turn("Please convert 10 USD to EUR.")  # the model call has not answered yet
    answered = Turn(asked.user, "10 USD is about 9 EUR.")
    async with running_service(pg_dsn) as service:
        base = f"http://{service.endpoints.http}"
        async with httpx.AsyncClient(base_url=base) as http:
            await send_turn(http, sid, [asked])
            opened = (await flush(http, sid))["tasks"]
            assert any(t["status"] in ("pending", "running") for t in opened), opened
            await loaded(page, f"{base}/ui#/session/{sid}")
            assert "refreshing" in await page.locator("#refresh-state").inner_text()
            before = await page.locator(".message").count()

            await send_turn(http, sid, [answered, Turn("And 20 USD to GBP?", "About 16 GBP.")])
            await flush(http, sid)
            messages = (await http.get(f"/api/v1/sessions/{sid}/messages")).json()["items"]
            tasks = (await http.get(f"/api/v1/sessions/{sid}/tasks")).json()["items"]
        assert len(messages) > before, "the later turn adds messages"
        # no reload: the page's own refresh brings the new messages and task states
        await page.wait_for_function(
            f"document.querySelectorAll('.message').length === {len(messages)}", timeout=15_000
        )
        await page.wait_for_function(
            "statuses => statuses.every(([id, status]) => document.querySelector("
            "`.task[data-task-id='${id}'] .status`)?.textContent === status)",
            arg=[[t["id"], t["status"]] for t in tasks],
            timeout=15_000,
        )
