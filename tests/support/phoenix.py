"""A real OTLP backend for tests: Arize Phoenix, run from a venv of its own
(``.ci/install-phoenix.sh``) as a child process on free ports of 127.0.0.1.

Phoenix binds its gRPC port on all interfaces whatever ``PHOENIX_HOST`` says,
so the child is started through a two-line launcher that rewrites that bind
to 127.0.0.1. Tests export to it over OTLP/HTTP and read back through its REST API.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.processes import stop_process_group, wait_until_ready

INSTALL_HINT = "run `bash .ci/install-phoenix.sh` to install Arize Phoenix into its own venv"
READY_TIMEOUT = 90.0

# Phoenix's GrpcServer binds "[::]:<port>"; keep it on the loopback interface.
_LAUNCHER = """
import sys, grpc.aio._server as s
bind = s.Server.add_insecure_port
s.Server.add_insecure_port = lambda self, a: bind(self, a.replace("[::]:", "127.0.0.1:"))
from phoenix.server.main import main
sys.argv = ["phoenix", "serve"]
sys.exit(main())
"""


class PhoenixUnavailable(RuntimeError):
    """Phoenix is not installed or did not become healthy; the message says why."""


def phoenix_venv() -> Path:
    """``$TASKTRACE_PHOENIX_VENV`` if set, else ``~/.cache/tasktrace-ci/phoenix-venv``."""
    override = os.environ.get("TASKTRACE_PHOENIX_VENV")
    if override:
        return Path(override)
    return Path.home() / ".cache" / "tasktrace-ci" / "phoenix-venv"


def _is_healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_phoenix(timeout: float = READY_TIMEOUT) -> Iterator[str]:
    """Start ``phoenix serve`` in a temp working dir; yield ``http://127.0.0.1:PORT``.

    Raises :class:`PhoenixUnavailable` if it is not installed or not healthy
    within ``timeout`` seconds. On exit: SIGTERM to its process group, SIGKILL
    after ``processes.STOP_TIMEOUT`` seconds.
    """
    python = phoenix_venv() / "bin" / "python"
    if not python.exists():
        raise PhoenixUnavailable(f"no Phoenix venv at {python.parent.parent}: {INSTALL_HINT}")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="tasktrace-phoenix-") as workdir:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": workdir,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_TELEMETRY_ENABLED": "false",
            "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
            "PHOENIX_WORKING_DIR": workdir,
        }
        log_path = Path(workdir) / "phoenix.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(python), "-c", _LAUNCHER],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_ready(
                "phoenix serve",
                process,
                lambda: _is_healthy(base_url),
                timeout=timeout,
                log_path=log_path,
                error=PhoenixUnavailable,
                interval=0.25,
            )
            yield base_url
        finally:
            stop_process_group(process)


def get_spans(
    base_url: str,
    project: str,
    *,
    attributes: Mapping[str, str] | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Spans of ``project`` through ``GET /v1/projects/<project>/spans``, filtered
    by Phoenix itself on ``attributes`` (``key:value``, all must match; values
    are strings); follows the cursor. ``[]`` while the project does not exist yet."""
    # JSON-quoted, so a value that looks like a number still matches as a string
    filters = [("attribute", f"{k}:{json.dumps(v)}") for k, v in (attributes or {}).items()]
    spans: list[dict[str, Any]] = []
    cursor = ""
    while True:
        query = [("limit", str(limit)), *filters, *([("cursor", cursor)] if cursor else [])]
        path = f"/v1/projects/{urllib.parse.quote(project)}/spans"
        try:
            url = f"{base_url}{path}?{urllib.parse.urlencode(query)}"
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return []
            raise
        spans.extend(body.get("data", []))
        cursor = body.get("next_cursor") or ""
        if not cursor:
            return spans


_FILTERED_SPANS = """
query ($filter: String!) {
  projects { edges { node { name
    spans(first: 1000, filterCondition: $filter) {
      edges { node { name context { traceId spanId } attributes } }
    }
  } } }
}
"""


def filter_spans(base_url: str, project: str, condition: str) -> list[dict[str, Any]]:
    """Spans of ``project`` matching a filter condition as typed into Phoenix's UI
    (its GraphQL ``filterCondition``), each ``{name, context, attributes}`` with
    the attributes decoded. Raises ``RuntimeError`` on a GraphQL error (a filter
    Phoenix rejects)."""
    body = json.dumps({"query": _FILTERED_SPANS, "variables": {"filter": condition}}).encode()
    request = urllib.request.Request(
        f"{base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    if answer.get("errors"):
        raise RuntimeError(f"Phoenix rejected {condition!r}: {answer['errors']}")
    spans = []
    for edge in answer["data"]["projects"]["edges"]:
        if edge["node"]["name"] != project:
            continue
        for span in edge["node"]["spans"]["edges"]:
            node = span["node"]
            spans.append({**node, "attributes": json.loads(node["attributes"])})
    return spans
