"""The evaluation's side of the wire: OTLP/HTTP export calls in, flush and reads
through the HTTP query API out. Async (httpx), for use on the event loop that
also runs the service."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from tasktrace.api import wire
from tasktrace.api.http import PREFIX
from tasktrace.evaluation.replay import Export
from tasktrace.model import Message, Task

T = TypeVar("T")

PROTOBUF = "application/x-protobuf"
#: what one flush call may wait (the service's own limit is 60 s)
FLUSH_TIMEOUT = 60.0
#: what one session's flush may wait in all, across 504 answers (a slow LLM queue)
FLUSH_DEADLINE = 600.0
_PAGE = 1000


class EvaluationError(RuntimeError):
    """The replay could not be delivered or read back."""


class EvalClient:
    """``async with EvalClient("127.0.0.1:4318") as client``; not thread-safe."""

    def __init__(self, endpoint: str, *, max_connections: int = 16) -> None:
        self._http = httpx.AsyncClient(
            base_url=f"http://{endpoint}",
            timeout=httpx.Timeout(FLUSH_TIMEOUT + 30.0),
            limits=httpx.Limits(max_connections=max_connections),
        )

    async def __aenter__(self) -> EvalClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def send(self, exports: Sequence[Export]) -> None:
        """Post each export call in order; each returns once its batch is committed."""
        for signal, body in exports:
            response = await self._http.post(
                f"/v1/{signal}", content=body, headers={"Content-Type": PROTOBUF}
            )
            if response.status_code != 200:
                raise EvaluationError(f"POST /v1/{signal}: {response.status_code} {response.text}")

    async def flush_first(
        self, candidates: Sequence[str], *, deadline: float = FLUSH_DEADLINE
    ) -> tuple[str, bool]:
        """Flush the first of ``candidates`` that is a session: its id (``""`` when
        none is) and whether extraction caught up within ``deadline`` seconds. A
        session the receiver could not key is named after its first trace, hence
        several candidates."""
        for session_id in candidates:
            found = await self._flush(session_id, time.monotonic() + deadline)
            if found is not None:
                return session_id, found
        return "", True

    async def _flush(self, session_id: str, deadline: float) -> bool | None:
        """None: no such session; else whether extraction caught up by ``deadline``."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            response = await self._http.post(
                f"{PREFIX}{_session(session_id)}/flush",
                params={"timeout": f"{min(FLUSH_TIMEOUT, left):.1f}"},
            )
            if response.status_code == 404:
                return None
            if response.status_code == 200:
                return True
            # 504: extraction is queued behind other sessions or retrying; ask again
            if response.status_code != 504:
                raise EvaluationError(f"flush {session_id}: {response.status_code} {response.text}")

    async def read(self, session_id: str) -> tuple[tuple[Message, ...], tuple[Task, ...]]:
        """The session's transcript (system message included) and its tasks;
        nothing for ``""``."""
        if not session_id:
            return (), ()
        path = f"{PREFIX}{_session(session_id)}"
        messages = await self._all(f"{path}/messages", wire.message_from_json)
        tasks = await self._all(f"{path}/tasks", wire.task_from_json)
        return messages, tasks

    async def _all(self, path: str, item: Callable[[Any], T]) -> tuple[T, ...]:
        items: list[T] = []
        cursor: str | None = None
        while True:
            params = {"limit": str(_PAGE), **({"cursor": cursor} if cursor else {})}
            response = await self._http.get(path, params=params)
            if response.status_code != 200:
                raise EvaluationError(f"GET {path}: {response.status_code} {response.text}")
            page = wire.page_from_json(response.json(), item)
            items.extend(page.items)
            if not page.next_cursor:
                return tuple(items)
            cursor = page.next_cursor


def _session(session_id: str) -> str:
    return "/sessions/" + quote(session_id, safe="")
