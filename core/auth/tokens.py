"""Bearer-token authentication in the collector's ``bearertokenauth`` shape.

``extensions.bearertokenauth[/name]`` holds ``token``, ``tokens`` or
``filename`` (one token per line, re-read when the file changes). A token may
carry a tenancy allow-list of ``service.name`` values::

    tokens:
      - ${env:TASKTRACE_TOKEN}
      - {token: ${env:APP_A_TOKEN}, services: [app-a]}

:class:`Authenticator` answers who a ``Authorization`` header names; every
comparison is constant-time (:func:`hmac.compare_digest`) against every
configured token, so the time taken does not tell how much of a token matched.
"""

from __future__ import annotations

import hmac
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from tasktrace.config.auth import BearerTokenAuthConfig, TokenEntry, read_token_file

_log = logging.getLogger(__name__)

SCHEME = "Bearer"
#: the ``WWW-Authenticate`` value of a 401 answer
CHALLENGE = f'{SCHEME} realm="tasktrace"'


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request was authenticated as: ``services`` empty means every service."""

    services: frozenset[str] = frozenset()

    def may_see(self, service: str) -> bool:
        return not self.services or service in self.services


#: the principal of a listener without an authenticator
ANYONE = Principal()


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower() or not token.strip():
        return None
    return token.strip()


def match(token: str | None, entries: tuple[TokenEntry, ...]) -> Principal | None:
    """The principal of the entry ``token`` equals, compared in constant time
    against every entry; None when none does."""
    found: Principal | None = None
    given = (token or "").encode()
    for entry in entries:
        if hmac.compare_digest(given, entry.token.encode()) and token is not None:
            found = Principal(frozenset(entry.services))
    return found


class Authenticator:
    """Checks ``Authorization`` headers against one ``bearertokenauth`` config;
    a token file is re-read when its modification time or size changes."""

    def __init__(self, config: BearerTokenAuthConfig) -> None:
        self._config = config
        self._entries = config.entries()
        self._stamp: tuple[int, int] | None = None
        if config.filename:
            self._reload()

    def _reload(self) -> None:
        path = Path(self._config.filename)
        try:
            st = os.stat(path)
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._entries = read_token_file(path)
                self._stamp = stamp
        except (OSError, UnicodeDecodeError) as exc:
            _log.warning("token file %s unreadable, keeping the last tokens: %s", path, exc)

    def authenticate(self, header: str | None) -> Principal | None:
        if self._config.filename:
            self._reload()
        return match(bearer_token(header), self._entries)


#: the principal of the request being served, set by the listeners' guard
PRINCIPAL: ContextVar[Principal] = ContextVar("tasktrace_principal", default=ANYONE)
