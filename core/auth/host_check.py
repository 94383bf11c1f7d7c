"""The HTTP listener's ``Host`` check, against DNS rebinding: a web page whose
name an attacker points at 127.0.0.1 must not reach the query API from the
user's browser. A request is taken when its ``Host`` names

- an IP address (a rebinding attack needs a name),
- a name in ``allowed_hosts`` (``receivers.otlp.protocols.http.allowed_hosts``),
- the bound host itself, or
- a loopback name (``localhost``, ``*.localhost``) while bound to loopback.

Bound to every address (``0.0.0.0``, ``::``) with no ``allowed_hosts``, any
name is taken, since tasktrace cannot know the names it is reached by then.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

_LOOPBACK_NAMES = ("localhost", "localhost.")


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without port or IPv6 brackets, lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header[1:]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def host_allowed(header: str, bound_host: str, allowed: Sequence[str]) -> bool:
    """Whether a request with this ``Host`` header is taken (see the module)."""
    name = host_name(header)
    if not name or _ip(name) is not None:
        return True
    names = {a.strip().lower() for a in allowed}
    if name in names:
        return True
    bound = bound_host.strip("[]").lower()
    if name == bound:
        return True
    bound_ip = _ip(bound) if bound != "localhost" else ipaddress.ip_address("127.0.0.1")
    if bound_ip is not None and bound_ip.is_loopback:
        return name in _LOOPBACK_NAMES or name.endswith(".localhost")
    return bound_ip is not None and bound_ip.is_unspecified and not names


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_check(
    bound_host: str, allowed: Sequence[str]
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware answering 403 to requests whose ``Host`` is not taken."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        header = request.headers.get("Host", "")
        if not host_allowed(header, bound_host, allowed):
            return web.json_response(
                {
                    "code": 403,
                    "message": f"Host {header!r} is not served here; add it to "
                    "receivers.otlp.protocols.http.allowed_hosts to allow it",
                },
                status=403,
            )
        return await handler(request)

    return middleware
