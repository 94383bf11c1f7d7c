"""``/ui`` is served by the running service: the page, its files, and the trace
link template from the configuration; nothing outside the shipped files."""

from __future__ import annotations

import httpx

from tests.support.service import running_service

TRACE_URL = "http://phoenix.example:6006/redirects/traces/{trace_id}"


async def test_the_ui_page_its_files_and_trace_template_are_served(pg_dsn: str) -> None:
    async with (
        running_service(pg_dsn, overrides=[f"ui.trace_url={TRACE_URL}"]) as service,
        httpx.AsyncClient(base_url=f"http://{service.endpoints.http}") as http,
    ):
        page = await http.get("/ui")
        script = await http.get("/ui/static/app.js")
        style = await http.get("/ui/static/style.css")
        config = await http.get("/ui/config.json")
        missing = await http.get("/ui/static/nothing.js")
        outside = await http.get("/ui/static/..%2F__init__.py")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<script src="/ui/static/app.js">' in page.text
    assert script.status_code == 200 and "/api/v1" in script.text
    assert style.status_code == 200 and style.headers["Content-Type"].startswith("text/css")
    assert config.json() == {"trace_url": TRACE_URL}
    assert missing.status_code == 404
    assert outside.status_code == 404
