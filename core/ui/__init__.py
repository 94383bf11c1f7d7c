"""The ``/ui`` dashboard: static HTML, CSS and JS shipped in the package (no
build step), reading the ``/api/v1`` JSON endpoints from the browser.

``GET /ui`` is the page, ``/ui/static/{name}`` its files, ``/ui/config.json``
what the page needs from the configuration (the trace link template). It is
mounted on the same app as the query API, so it sits behind the same auth.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

_STATIC = resources.files("tasktrace.ui").joinpath("static")
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def add_ui_routes(app: web.Application, *, trace_url: str = "") -> None:
    async def page(request: web.Request) -> web.Response:
        return _file("index.html")

    async def static(request: web.Request) -> web.Response:
        return _file(request.match_info["name"])

    async def config(request: web.Request) -> web.Response:
        return web.json_response({"trace_url": trace_url})

    app.router.add_get("/ui", page)
    app.router.add_get("/ui/", page)
    app.router.add_get("/ui/config.json", config)
    app.router.add_get("/ui/static/{name}", static)


def _file(name: str) -> web.Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    entry = _STATIC.joinpath(name)
    if suffix not in _TYPES or "/" in name or not entry.is_file():
        raise web.HTTPNotFound(text=f"no such file: {name}")
    return web.Response(text=entry.read_text("utf-8"), content_type=_TYPES[suffix], charset="utf-8")
