"""A real Jaeger v2 for tests: ``docs/backends/jaeger/config.yaml`` (OTLP in, in-memory
storage, query API) run by the binary ``.ci/install-jaeger.sh`` builds, on free ports
of 127.0.0.1, and read back through Jaeger's own query API (``/api/traces``, the one
the UI's search uses)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.collector import DOCS, JAEGER, running_collector
from tests.support.ports import free_port

CONFIG = DOCS / "jaeger" / "config.yaml"
POLL_TIMEOUT = 30.0

#: a Jaeger trace as ``/api/traces`` returns it: ``traceID``, ``spans``, ``processes``
JaegerTrace = dict[str, Any]


@dataclass(frozen=True)
class Jaeger:
    """Where a running Jaeger listens: OTLP gRPC and HTTP ``host:port``, query base URL."""

    otlp_grpc: str
    otlp_http: str
    query_url: str

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET`` a query API path; its JSON. ``None`` on 404."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.query_url}{path}{query}", timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def search(self, service: str, tags: Mapping[str, str]) -> list[JaegerTrace]:
        """Traces of ``service`` with a span carrying all ``tags``: the UI's search."""
        params = {
            "service": service,
            "tags": json.dumps(dict(tags)),
            "start": "1",  # microseconds: the fixtures' spans are old, search all time
            "end": str(int(time.time() * 1e6) + 3_600_000_000),
            "limit": "100",
        }
        body = self.get("/api/traces", params)
        return list(body["data"]) if body and body.get("data") else []

    def trace(self, trace_id: str) -> JaegerTrace | None:
        """One trace by its hex id, or ``None`` while Jaeger does not hold it."""
        body = self.get(f"/api/traces/{trace_id}")
        return body["data"][0] if body and body.get("data") else None

    def services(self) -> list[str]:
        body = self.get("/api/services")
        return list(body["data"] or []) if body else []


def _query_ready(query_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{query_url}/api/services", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_jaeger() -> Iterator[Jaeger]:
    """Start Jaeger with the documented config on free ports; stop it on exit.

    Raises :class:`tests.support.collector.CollectorFailed` if it does not start."""
    ports = {name: free_port() for name in ("grpc", "http", "query", "query_grpc")}
    jaeger = Jaeger(
        otlp_grpc=f"127.0.0.1:{ports['grpc']}",
        otlp_http=f"127.0.0.1:{ports['http']}",
        query_url=f"http://127.0.0.1:{ports['query']}",
    )
    env = {
        "JAEGER_OTLP_GRPC_ENDPOINT": jaeger.otlp_grpc,
        "JAEGER_OTLP_HTTP_ENDPOINT": jaeger.otlp_http,
        "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{ports['query']}",
        "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{ports['query_grpc']}",
    }
    with running_collector(JAEGER, CONFIG, env, lambda: _query_ready(jaeger.query_url)):
        yield jaeger


def poll(read: Any, *, timeout: float = POLL_TIMEOUT) -> Any:
    """Call ``read()`` until it returns something truthy or ``timeout`` passes; the
    last result. Jaeger offers no event to await: its storage is written
    asynchronously after the OTLP receiver answers."""
    deadline = time.monotonic() + timeout
    while True:
        result = read()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def tags_of(span: Mapping[str, Any]) -> dict[str, Any]:
    """A Jaeger span's tags as ``{key: value}``."""
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}
