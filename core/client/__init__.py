"""A typed, synchronous client for the tasktrace query API (HTTP JSON, ``/api/v1``).

    from tasktrace.client import Client

    with Client("http://127.0.0.1:4318") as c:
        c.sessions.flush(session_id)
        for task in c.sessions.get_tasks(session_id).items:
            print(task.order, task.status.value, task.description)

Methods return :mod:`tasktrace.model` / :mod:`tasktrace.queries` dataclasses
and raise :class:`APIError` (:class:`NotFound` for a 404,
:class:`APIConnectionError` when no answer came). ``list``-style methods
return one :class:`~tasktrace.queries.Page`; ``iter``-style methods follow
``next_cursor`` through every page.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from tasktrace.api import wire
from tasktrace.model import Message, Session, StatusReason, Task, TaskStatus
from tasktrace.queries import FlushResult, Page, SessionStatus

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"

#: extra seconds a flush request waits beyond the flush timeout, for the answer to arrive
FLUSH_GRACE = 5.0

T = TypeVar("T")
Params = dict[str, str | int | float | None]


class APIError(Exception):
    """The server answered with an error (``status_code``) or not at all (None)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message if self.status_code is None else f"{self.status_code}: {self.message}"


class NotFound(APIError):
    """No such session (HTTP 404)."""


class APIConnectionError(APIError):
    """The request could not be sent or no answer came in time."""


class Client:
    """One connection pool to a tasktrace server. Close it (or use ``with``) when done.

    ``http_client``, when given, is used instead of a new ``httpx.Client`` and
    is not closed by :meth:`close`; ``timeout`` (seconds) applies per request.
    ``token`` is sent as ``Authorization: Bearer``; ``ca_file`` (PEM) verifies an
    ``https://`` server signed by a private CA.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_ENDPOINT,
        *,
        timeout: float = 30.0,
        http_client: httpx.Client | None = None,
        token: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        #: ``Authorization`` sent with every request when the server needs a token
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http_client or httpx.Client(
            verify=ssl.create_default_context(cafile=ca_file) if ca_file else True
        )
        self._owns_http = http_client is None
        self.sessions = Sessions(self)
        self.tasks = Tasks(self)
        self.traces = Traces(self)
        self.spans = Spans(self)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(
        self, method: str, path: str, params: Params | None = None, *, timeout: float | None = None
    ) -> Any:
        """Send one API request; return its decoded JSON body or raise APIError."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method,
                f"{self.base_url}/api/v1{path}",
                params=query,
                headers=self._auth,
                timeout=timeout or self.timeout,
            )
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            error = NotFound if response.status_code == 404 else APIError
            raise error(_error_message(response), response.status_code)
        try:
            return response.json()
        except ValueError as exc:
            raise APIError(f"malformed response: {exc}", response.status_code) from exc

    def _decode(self, decode: Callable[[Any], T], data: Any) -> T:
        try:
            return decode(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise APIError(f"malformed response: {exc!r}") from exc


class Sessions:
    """``client.sessions``: one session's transcript, tasks, status and flush."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        limit: int | None = None,
        cursor: str | None = None,
        status: TaskStatus | str | None = None,
    ) -> Page[Session]:
        """Sessions, most recently updated first; with ``status``, those having such a task."""
        params: Params = {"limit": limit, "cursor": cursor, "status": _status(status)}
        data = self._client._request("GET", "/sessions", params)
        return self._client._decode(_pages(wire.session_from_json), data)

    def iter(
        self, *, status: TaskStatus | str | None = None, page_size: int | None = None
    ) -> Iterator[Session]:
        return _follow(lambda cursor: self.list(limit=page_size, cursor=cursor, status=status))

    def get_tasks(
        self,
        session_id: str,
        *,
        status: TaskStatus | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Task]:
        """The session's tasks in order. Raises NotFound."""
        params: Params = {"limit": limit, "cursor": cursor, "status": _status(status)}
        data = self._client._request("GET", f"{_session(session_id)}/tasks", params)
        return self._client._decode(_pages(wire.task_from_json), data)

    def iter_tasks(
        self,
        session_id: str,
        *,
        status: TaskStatus | str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Task]:
        """Every task of the session, following pages. Raises NotFound."""
        return _follow(
            lambda cursor: self.get_tasks(session_id, status=status, limit=page_size, cursor=cursor)
        )

    def messages(
        self, session_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Message]:
        """The session's transcript in ``seq`` order. Raises NotFound."""
        params: Params = {"limit": limit, "cursor": cursor}
        data = self._client._request("GET", f"{_session(session_id)}/messages", params)
        return self._client._decode(_pages(wire.message_from_json), data)

    def status(self, session_id: str) -> SessionStatus:
        """Extraction progress. Raises NotFound."""
        data = self._client._request("GET", f"{_session(session_id)}/status")
        return self._client._decode(wire.session_status_from_json, data)

    def flush(self, session_id: str, *, timeout: float | None = None) -> FlushResult:
        """Block until every message the server received before the call is
        extracted and committed, at most ``timeout`` seconds (default: the
        client's timeout; the server caps it at its own maximum). Raises
        NotFound, or APIError with status 504 when extraction did not catch up."""
        wait = timeout if timeout is not None else self._client.timeout
        data = self._client._request(
            "POST", f"{_session(session_id)}/flush", {"timeout": wait}, timeout=wait + FLUSH_GRACE
        )
        return self._client._decode(wire.flush_result_from_json, data)


class Tasks:
    """``client.tasks``: tasks across sessions, most recently updated first."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(
        self,
        *,
        status: TaskStatus | str | None = None,
        service: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status_reason: StatusReason | str | None = None,
        text: str | None = None,
        session_prefix: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Task]:
        """One page of matching tasks: ``text`` anywhere in the description
        (case-insensitive), ``session_prefix`` the start of the session id."""
        params: Params = {
            "status": _status(status),
            "service": service,
            "since": wire.format_time(since) if since else None,
            "until": wire.format_time(until) if until else None,
            "status_reason": None if status_reason is None else StatusReason(status_reason).value,
            "text": text,
            "session_prefix": session_prefix,
            "limit": limit,
            "cursor": cursor,
        }
        data = self._client._request("GET", "/tasks", params)
        return self._client._decode(_pages(wire.task_from_json), data)

    def iter(
        self,
        *,
        status: TaskStatus | str | None = None,
        service: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status_reason: StatusReason | str | None = None,
        text: str | None = None,
        session_prefix: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[Task]:
        """Every matching task, following pages."""
        return _follow(
            lambda cursor: self.list(
                status=status,
                service=service,
                since=since,
                until=until,
                status_reason=status_reason,
                text=text,
                session_prefix=session_prefix,
                limit=page_size,
                cursor=cursor,
            )
        )


class Traces:
    """``client.traces``: from a trace id (32 hex digits) to its tasks."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_tasks(
        self, trace_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Task]:
        """The tasks whose messages came from the trace, by session and order
        (each names its session); an empty page when none did."""
        return _source_tasks(self._client, f"/traces/{quote(trace_id, safe='')}", limit, cursor)


class Spans:
    """``client.spans``: from a span id (16 hex digits) to its tasks."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get_tasks(
        self, span_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Task]:
        """The tasks whose messages came from the span; an empty page when none did."""
        return _source_tasks(self._client, f"/spans/{quote(span_id, safe='')}", limit, cursor)


def _source_tasks(client: Client, path: str, limit: int | None, cursor: str | None) -> Page[Task]:
    data = client._request("GET", f"{path}/tasks", {"limit": limit, "cursor": cursor})
    return client._decode(_pages(wire.task_from_json), data)


def _session(session_id: str) -> str:
    return "/sessions/" + quote(session_id, safe="")


def _status(status: TaskStatus | str | None) -> str | None:
    """Validated locally: raises ValueError for a status that does not exist."""
    return None if status is None else TaskStatus(status).value


def _pages(item_from_json: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
    return lambda data: wire.page_from_json(data, item_from_json)


def _follow(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text.strip() or response.reason_phrase
