"""The query-side CLI commands: ``tasks``, ``sessions``, ``flush`` and ``send``.

:func:`register` adds them to the main parser; each sets ``func``, which takes
the parsed arguments, prints to stdout (errors to stderr) and returns the exit
code: 0 on success, 1 when the server failed or could not be reached, 2 for
unusable input.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import ssl
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tasktrace.api import wire
from tasktrace.client import DEFAULT_ENDPOINT, APIError, Client
from tasktrace.durations import parse_duration
from tasktrace.model import Session, StatusReason, Task, TaskStatus
from tasktrace.queries import MAX_LIMIT

PROTOBUF = "application/x-protobuf"
JSON_TYPE = "application/json"

_DESCRIPTION_WIDTH = 100
_STATUSES = [s.value for s in TaskStatus]
_REASONS = [r.value for r in StatusReason]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the query commands to ``subparsers`` (from ``parser.add_subparsers()``)."""
    p = subparsers.add_parser(
        "tasks",
        help="list tasks: a session's, a trace's, or across sessions",
        description="Without SESSION, --trace or --span: tasks across sessions, most"
        " recently updated first, narrowed by the filters.",
    )
    p.add_argument("session", nargs="?", help="session id (default: across sessions)")
    p.add_argument("--trace", metavar="ID", help="the tasks of this trace (32 hex digits)")
    p.add_argument("--span", metavar="ID", help="the tasks of this span (16 hex digits)")
    p.add_argument("--status", choices=_STATUSES, help="only tasks in this status")
    p.add_argument("--reason", choices=_REASONS, help="only tasks with this status reason")
    p.add_argument("--service", help="only tasks of this service")
    p.add_argument(
        "--since", type=since_time, help="updated since: an ISO 8601 time, or an age like 2h"
    )
    p.add_argument("--text", help="only tasks whose description contains this")
    p.add_argument("--session-prefix", help="only tasks of sessions whose id starts so")
    p.add_argument(
        "--limit", type=int, default=100, help="across sessions: at most this many (default 100)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON array of all tasks")
    _add_endpoint(p)
    p.set_defaults(func=cmd_tasks)

    p = subparsers.add_parser("sessions", help="list sessions, most recently updated first")
    p.add_argument("--status", choices=_STATUSES, help="only sessions having a task in it")
    p.add_argument("--limit", type=int, help="print at most this many sessions")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    _add_endpoint(p)
    p.set_defaults(func=cmd_sessions)

    p = subparsers.add_parser("flush", help="wait until a session's messages are extracted")
    p.add_argument("session", help="session id")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_endpoint(p)
    p.set_defaults(func=cmd_flush)

    p = subparsers.add_parser("send", help="send a captured OTLP request (.pb or .json)")
    p.add_argument("file", type=Path, help="ExportTraceServiceRequest or ExportLogsServiceRequest")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    _add_endpoint(p)
    p.set_defaults(func=cmd_send)


def _add_endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", default=DEFAULT_ENDPOINT, help=f"server URL (default {DEFAULT_ENDPOINT})"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("TASKTRACE_TOKEN") or None,
        help="bearer token for a server with an authenticator (default: $TASKTRACE_TOKEN)",
    )
    parser.add_argument(
        "--ca-file", default=None, help="PEM CA that signed an https:// server's certificate"
    )


def _client(args: argparse.Namespace) -> Client:
    return Client(args.endpoint, token=args.token, ca_file=args.ca_file)


def _auth_headers(args: argparse.Namespace) -> dict[str, str]:
    return {"Authorization": f"Bearer {args.token}"} if args.token else {}


# --- commands ----------------------------------------------------------------


def cmd_tasks(args: argparse.Namespace) -> int:
    problem = tasks_usage_error(args)
    if problem:
        return _fail(problem, code=2)
    try:
        with _client(args) as client:
            tasks = _find_tasks(client, args)
    except APIError as exc:
        return _fail(exc)
    except ValueError as exc:  # an id the client refused before sending
        return _fail(exc, code=2)
    if args.json:
        print(_dumps([wire.task_to_json(t) for t in tasks]))
    else:
        print(format_tasks(tasks, sessions=not args.session))
    return 0


def _find_tasks(client: Client, args: argparse.Namespace) -> list[Task]:
    if args.session:
        return list(client.sessions.iter_tasks(args.session, status=args.status))
    if args.trace or args.span:
        source = client.traces if args.trace else client.spans
        found: list[Task] = []
        cursor: str | None = None
        while True:  # a trace has few tasks: every page
            page = source.get_tasks(args.trace or args.span, cursor=cursor)
            found += page.items
            if not (cursor := page.next_cursor):
                return found
    matching = client.tasks.iter(
        status=args.status,
        status_reason=args.reason,
        service=args.service,
        since=args.since,
        text=args.text,
        session_prefix=args.session_prefix,
        page_size=min(args.limit, MAX_LIMIT),
    )
    return list(itertools.islice(matching, args.limit))


def cmd_sessions(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        return _fail("--limit must be at least 1", code=2)
    try:
        with _client(args) as client:
            page_size = min(args.limit, MAX_LIMIT) if args.limit else None
            found = client.sessions.iter(status=args.status, page_size=page_size)
            sessions = list(itertools.islice(found, args.limit))
    except APIError as exc:
        return _fail(exc)
    if args.json:
        print(_dumps([wire.session_to_json(s) for s in sessions]))
    else:
        print(format_sessions(sessions))
    return 0


def cmd_flush(args: argparse.Namespace) -> int:
    try:
        with _client(args) as client:
            result = client.sessions.flush(args.session, timeout=args.timeout)
    except APIError as exc:
        return _fail(exc)
    if args.json:
        print(_dumps(wire.flush_result_to_json(result)))
    else:
        print(f"processed {result.processed} messages; {len(result.tasks)} tasks")
        if result.tasks:
            print(format_tasks(result.tasks))
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        body = path.read_bytes()
        signal, content_type = otlp_target(path.name, body)
    except (OSError, ValueError) as exc:
        return _fail(exc, code=2)
    url = f"{args.endpoint.rstrip('/')}/v1/{signal}"
    try:
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": content_type, **_auth_headers(args)},
            timeout=args.timeout,
            verify=ssl.create_default_context(cafile=args.ca_file) if args.ca_file else True,
        )
    except httpx.HTTPError as exc:
        return _fail(f"POST {url}: {exc}")
    print(f"{response.status_code} {response.reason_phrase}")
    text = _response_text(response, signal)
    if text:
        print(text)
    return 0 if response.is_success else 1


# --- pure helpers --------------------------------------------------------------


def tasks_usage_error(args: argparse.Namespace) -> str:
    """Why the ``tasks`` arguments do not go together, or ``""``."""
    sources = [n for n, v in (("SESSION", args.session), ("--trace", args.trace),
                              ("--span", args.span)) if v]  # fmt: skip
    if len(sources) > 1:
        return f"give at most one of SESSION, --trace and --span, not {' and '.join(sources)}"
    across = {
        "--reason": args.reason,
        "--service": args.service,
        "--since": args.since,
        "--text": args.text,
        "--session-prefix": args.session_prefix,
    }
    given = [name for name, value in across.items() if value]
    if sources and (given or (args.status and sources[0] != "SESSION")):
        names = given or ["--status"]
        return f"{', '.join(names)} filter tasks across sessions; drop {sources[0]}"
    if args.limit < 1:
        return "--limit must be at least 1"
    return ""


def since_time(text: str, now: datetime | None = None) -> datetime:
    """``--since``: an ISO 8601 time (naive is UTC), or an age like ``2h`` / ``30m``
    before ``now``. Raises ArgumentTypeError."""
    try:
        return wire.parse_time(text)
    except ValueError:
        pass
    try:
        age = parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time or an age like 2h, got {text!r}"
        ) from None
    return (now or datetime.now(UTC)) - timedelta(seconds=age)


def otlp_target(name: str, body: bytes) -> tuple[str, str]:
    """``("traces" | "logs", content type)`` for a captured request file.
    Raises ValueError for a name that is neither ``.pb`` nor ``.json``, or bad JSON."""
    if name.endswith(".pb"):
        return ("logs" if ".logs." in name else "traces"), PROTOBUF
    if name.endswith(".json"):
        data = json.loads(body)
        logs = ".logs." in name or (isinstance(data, dict) and "resourceLogs" in data)
        return ("logs" if logs else "traces"), JSON_TYPE
    raise ValueError(f"{name}: expected a .pb or .json file")


def format_tasks(tasks: Sequence[Task], *, sessions: bool = False) -> str:
    """A compact table: order, status, its reason, progress step count,
    description (one line); with ``sessions``, each task's session first."""
    if not tasks:
        return "no tasks"
    head = ("#", "STATUS", "REASON", "STEPS", "DESCRIPTION")
    rows = [(("SESSION", *head) if sessions else head)]
    for t in tasks:
        row = (
            str(t.order),
            t.status.value,
            t.status_reason or "-",
            str(len(t.progress)),
            _one_line(t.description),
        )
        rows.append((t.session_id, *row) if sessions else row)
    return _table(rows)


def format_sessions(sessions: Sequence[Session]) -> str:
    if not sessions:
        return "no sessions"
    rows = [("SESSION", "SERVICE", "MESSAGES", "UPDATED")]
    rows += [
        (
            s.id,
            s.service or "-",
            str(s.message_count),
            wire.format_time(s.updated_at)[:19] + "Z" if s.updated_at else "-",
        )
        for s in sessions
    ]
    return _table(rows)


def _table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _DESCRIPTION_WIDTH:
        text = text[: _DESCRIPTION_WIDTH - 1] + "…"
    return text


def _dumps(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def _response_text(response: httpx.Response, signal: str) -> str:
    """The response body for humans: text as is, an OTLP protobuf answer as JSON."""
    if PROTOBUF not in response.headers.get("content-type", ""):
        return response.text.strip()
    message = ExportLogsServiceResponse() if signal == "logs" else ExportTraceServiceResponse()
    try:
        message.ParseFromString(response.content)
    except DecodeError:
        return f"<{len(response.content)} bytes of protobuf that did not parse>"
    return json.dumps(json_format.MessageToDict(message))


def _fail(error: Exception | str, *, code: int = 1) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code
