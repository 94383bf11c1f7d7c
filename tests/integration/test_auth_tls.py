"""Bearer-token auth and TLS on the real listeners: every OTLP export and query
call without the right token is refused (gRPC UNAUTHENTICATED, HTTP 401) and
nothing of it is stored; the right token is served; TLS with client
certificates (mTLS); the real OTel SDK exporters configured only through
``OTEL_EXPORTER_OTLP_HEADERS`` and ``OTEL_EXPORTER_OTLP_CERTIFICATE``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
import trustme
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tasktrace.client import Client
from tasktrace.proto.tasktrace.v1 import tasks_pb2 as pb
from tasktrace.proto.tasktrace.v1.tasks_pb2_grpc import TaskServiceStub
from tasktrace.server.pipeline import Service
from tests.support.otlp_traffic import JSON, PROTOBUF, TRACE_EXPORT, chat_attributes, fixture
from tests.support.service import running_service

TOKEN = "s3cret-token-for-tests"
AUTH = [
    f"extensions.bearertokenauth.token={TOKEN}",
    "service.extensions=[bearertokenauth]",
    "receivers.otlp.protocols.grpc.auth.authenticator=bearertokenauth",
    "receivers.otlp.protocols.http.auth.authenticator=bearertokenauth",
]
#: what a refused caller sends as ``Authorization``: nothing, a wrong token, the
#: right token under another scheme, a prefix of the right token
BAD = [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}"]


@pytest.fixture
async def service(pg_dsn: str) -> AsyncIterator[Service]:
    async with running_service(pg_dsn, overrides=AUTH) as running:
        yield running


def _headers(authorization: str | None) -> dict[str, str]:
    return {"Authorization": authorization} if authorization else {}


async def _grpc_export(endpoint: str, authorization: str | None) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        call = channel.unary_unary(TRACE_EXPORT)
        metadata = (("authorization", authorization),) if authorization else None
        try:
            await call(fixture("two-requests"), timeout=30, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def _grpc_query(endpoint: str, authorization: str | None) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(endpoint) as channel:
        metadata = (("authorization", authorization),) if authorization else None
        try:
            await TaskServiceStub(channel).ListSessions(
                pb.ListSessionsRequest(), timeout=30, metadata=metadata
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def _http(
    endpoint: str, authorization: str | None, method: str, path: str, **kw: object
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://{endpoint}", timeout=30) as http:
        headers = {**kw.pop("headers", {}), **_headers(authorization)}  # type: ignore[dict-item]
        return await http.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]


async def _stored_sessions(service: Service, ca_file: Path | None = None) -> list[str]:
    """The stored session ids, read with the right token (over TLS given ``ca_file``)."""
    if ca_file is None:
        base, ca = f"http://{service.endpoints.http}", None
    else:
        base, ca = f"https://localhost:{service.endpoints.http.rsplit(':', 1)[1]}", str(ca_file)

    def read() -> list[str]:
        with Client(base, token=TOKEN, ca_file=ca) as client:
            return sorted(s.id for s in client.sessions.list(limit=100).items)

    return await asyncio.to_thread(read)


async def test_every_call_without_the_right_token_is_refused_and_nothing_is_stored(
    service: Service,
) -> None:
    refused = 0
    for authorization in BAD:
        assert await _grpc_export(service.endpoints.grpc, authorization) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert await _grpc_query(service.endpoints.grpc, authorization) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        for content_type, ext in ((PROTOBUF, "pb"), (JSON, "json")):
            answer = await _http(
                service.endpoints.http,
                authorization,
                "POST",
                "/v1/traces",
                content=fixture("two-requests", ext),
                headers={"Content-Type": content_type},
            )
            assert answer.status_code == 401
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        for path in ("/api/v1/sessions", "/api/v1/tasks", "/ui", "/metrics"):
            assert (
                await _http(service.endpoints.http, authorization, "GET", path)
            ).status_code == (401)
        refused += 8
    assert refused == 32
    assert await _stored_sessions(service) == []
    assert service._receiver is not None and (
        service._receiver.counters.spans,
        service._receiver.counters.batches,
    ) == (0, 0)


async def test_the_right_token_is_served_on_every_protocol(service: Service) -> None:
    right = f"Bearer {TOKEN}"
    assert await _grpc_export(service.endpoints.grpc, right) == grpc.StatusCode.OK
    assert await _grpc_query(service.endpoints.grpc, right) == grpc.StatusCode.OK
    for content_type, ext in ((PROTOBUF, "pb"), (JSON, "json")):
        answer = await _http(
            service.endpoints.http,
            f"bearer {TOKEN}",  # the scheme is case-insensitive
            "POST",
            "/v1/traces",
            content=fixture("two-requests", ext),
            headers={"Content-Type": content_type},
        )
        assert answer.status_code == 200, answer.text
    assert (await _http(service.endpoints.http, right, "GET", "/api/v1/sessions")).status_code == (
        200
    )
    assert await _stored_sessions(service) == ["sess-two-requests-001"]


async def test_probes_stay_open(service: Service) -> None:
    assert (await _http(service.endpoints.http, None, "GET", "/healthz")).status_code == 200
    assert (await _http(service.endpoints.http, None, "GET", "/readyz")).status_code in (200, 503)


# --- TLS and mTLS ------------------------------------------------------------


class Certs:
    def __init__(self, root: Path) -> None:
        self.ca = trustme.CA()
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        client = self.ca.issue_cert("client@tasktrace.test")
        self.ca_file = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.server_cert, self.server_key = root / "server.pem", root / "server.key"
        server.cert_chain_pems[0].write_to_path(str(self.server_cert))
        server.private_key_pem.write_to_path(str(self.server_key))
        self.client_cert, self.client_key = root / "client.pem", root / "client.key"
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))

    def tls_overrides(self, *, mtls: bool) -> list[str]:
        out = []
        for proto in ("grpc", "http"):
            base = f"receivers.otlp.protocols.{proto}.tls"
            out += [f"{base}.cert_file={self.server_cert}", f"{base}.key_file={self.server_key}"]
            if mtls:
                out.append(f"{base}.client_ca_file={self.ca_file}")
        return out


@pytest.fixture
def certs(tmp_path: Path) -> Iterator[Certs]:
    yield Certs(tmp_path)


def _client_context(certs: Certs, *, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca_file))
    if with_cert:
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return context


async def _tls_get(endpoint: str, context: ssl.SSLContext) -> int | str:
    async with httpx.AsyncClient(verify=context, timeout=30) as http:
        try:
            answer = await http.get(
                f"https://{endpoint}/api/v1/sessions", headers=_headers(f"Bearer {TOKEN}")
            )
        except httpx.HTTPError as error:
            return type(error).__name__
    return answer.status_code


async def _tls_grpc(endpoint: str, certs: Certs, *, with_cert: bool) -> grpc.StatusCode:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca_file.read_bytes(),
        private_key=certs.client_key.read_bytes() if with_cert else None,
        certificate_chain=certs.client_cert.read_bytes() if with_cert else None,
    )
    async with grpc.aio.secure_channel(endpoint, credentials) as channel:
        try:
            await TaskServiceStub(channel).ListSessions(
                pb.ListSessionsRequest(),
                timeout=10,
                metadata=(("authorization", f"Bearer {TOKEN}"),),
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_mtls_takes_a_client_certificate_and_refuses_a_client_without_one(
    pg_dsn: str, certs: Certs
) -> None:
    async with running_service(pg_dsn, overrides=[*AUTH, *certs.tls_overrides(mtls=True)]) as svc:
        http_ep = svc.endpoints.http.replace("127.0.0.1", "localhost")
        assert await _tls_get(http_ep, _client_context(certs, with_cert=True)) == 200
        assert await _tls_get(http_ep, _client_context(certs, with_cert=False)) != 200
        grpc_ep = svc.endpoints.grpc.replace("127.0.0.1", "localhost")
        assert await _tls_grpc(grpc_ep, certs, with_cert=True) == grpc.StatusCode.OK
        assert await _tls_grpc(grpc_ep, certs, with_cert=False) == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(httpx.HTTPError):  # plaintext to a TLS port is never served
            await _http(svc.endpoints.http, f"Bearer {TOKEN}", "GET", "/api/v1/sessions")


def _spans(session_id: str) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "auth-sdk"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tests").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=chat_attributes(session_id, "hi")
    ):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


async def test_the_sdk_exporters_reach_a_tls_server_with_headers_from_the_environment(
    pg_dsn: str, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(certs.ca_file))
    # requests lets these override the session's CA file (the SDK's HTTP exporter sets that)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    async with running_service(pg_dsn, overrides=[*AUTH, *certs.tls_overrides(mtls=False)]) as svc:
        grpc_port = svc.endpoints.grpc.rsplit(":", 1)[1]
        http_port = svc.endpoints.http.rsplit(":", 1)[1]
        results: dict[tuple[str, bool], list[SpanExportResult]] = {}
        for headers in ("", "authorization=Bearer%20wrong", f"authorization=Bearer%20{TOKEN}"):
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", headers)
            exporters = {
                "grpc": GRPCExporter(endpoint=f"https://localhost:{grpc_port}", timeout=5),
                "http": HTTPExporter(
                    endpoint=f"https://localhost:{http_port}/v1/traces", timeout=5
                ),
            }
            for name, exporter in exporters.items():
                spans = _spans(f"sdk-{name}-{bool(headers)}-{headers.endswith(TOKEN)}")
                result = await asyncio.to_thread(exporter.export, spans)
                results.setdefault((name, headers.endswith(TOKEN)), []).append(result)
                exporter.shutdown()

        stored = await _stored_sessions(svc, certs.ca_file)
    assert results[("grpc", False)] == [SpanExportResult.FAILURE] * 2
    assert results[("http", False)] == [SpanExportResult.FAILURE] * 2
    assert results[("grpc", True)] == [SpanExportResult.SUCCESS]
    assert results[("http", True)] == [SpanExportResult.SUCCESS]
    assert stored == ["sdk-grpc-True-True", "sdk-http-True-True"]


# --- tasktrace as a sender: pass-through and task-span exporters -------------------


async def test_the_pass_through_and_task_span_exporters_reach_a_secured_server(
    pg_dsn: str, certs: Certs
) -> None:
    from tasktrace.config.otlp_exporter import OTLPExporterConfig
    from tasktrace.exporter.otlp_sink import build_exporter
    from tests.integration.test_pass_through import pass_through

    tls = f"{{insecure: false, ca_file: {certs.ca_file}}}"
    headers = f"{{authorization: Bearer {TOKEN}}}"
    async with running_service(pg_dsn, overrides=[*AUTH, *certs.tls_overrides(mtls=False)]) as b:
        grpc_port = b.endpoints.grpc.rsplit(":", 1)[1]
        http_port = b.endpoints.http.rsplit(":", 1)[1]
        forward = pass_through("otlp/b", f"localhost:{grpc_port}", "traces", tls=tls)
        forward += [
            f"exporters.otlp/b.headers={headers}",
            f"exporters.otlp_http/b.endpoint=https://localhost:{http_port}",
            f"exporters.otlp_http/b.headers={headers}",
            f"exporters.otlp_http/b.tls={tls}",
            "service.pipelines.traces/passthrough.exporters=[otlp/b, otlp_http/b]",
        ]
        async with running_service(pg_dsn, overrides=forward) as a:
            assert await _grpc_export(a.endpoints.grpc, None) == grpc.StatusCode.OK
        # shutdown forwarded what was queued, over gRPC and HTTP
        assert [f.stats().forwarded for f in a.forwarders] == [1, 1]
        assert [f.stats().failed for f in a.forwarders] == [0, 0]
        assert await _stored_sessions(b, certs.ca_file) == ["sess-two-requests-001"]

        for endpoint, protocol in (
            (f"localhost:{grpc_port}", "grpc"),
            (f"https://localhost:{http_port}", "http"),
        ):
            results = []
            for sent_headers in ({}, {"authorization": f"Bearer {TOKEN}"}):
                config = OTLPExporterConfig.model_validate(
                    {
                        "endpoint": endpoint,
                        "protocol": protocol,
                        "headers": sent_headers,
                        "tls": {"insecure": False, "ca_file": str(certs.ca_file)},
                        "retry_on_failure": {"enabled": False},
                        "timeout": "5s",
                    }
                )
                exporter = build_exporter(config)
                spans = _spans(f"sink-{protocol}-{bool(sent_headers)}")
                results.append(await asyncio.to_thread(exporter.export, spans))
                exporter.shutdown()
            assert results == [SpanExportResult.FAILURE, SpanExportResult.SUCCESS], protocol
        assert await _stored_sessions(b, certs.ca_file) == [
            "sess-two-requests-001",
            "sink-grpc-True",
            "sink-http-True",
        ]


def _cli(*argv: str) -> int:
    from tasktrace.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(list(argv))
    return int(done.value.code or 0)


async def test_the_cli_sends_and_reads_with_a_token_and_a_ca_file(
    pg_dsn: str, certs: Certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = tmp_path / "two-requests.pb"
    request.write_bytes(fixture("two-requests"))
    async with running_service(pg_dsn, overrides=[*AUTH, *certs.tls_overrides(mtls=False)]) as svc:
        url = f"https://localhost:{svc.endpoints.http.rsplit(':', 1)[1]}"
        tls = ("--endpoint", url, "--ca-file", str(certs.ca_file))
        monkeypatch.delenv("TASKTRACE_TOKEN", raising=False)
        assert await asyncio.to_thread(_cli, "send", str(request), *tls) == 1  # 401
        assert await asyncio.to_thread(_cli, "sessions", *tls) != 0
        assert await asyncio.to_thread(_cli, "send", str(request), *tls, "--token", TOKEN) == 0
        monkeypatch.setenv("TASKTRACE_TOKEN", TOKEN)  # read when the parser is built
        assert await asyncio.to_thread(_cli, "sessions", *tls) == 0
        assert await _stored_sessions(svc, certs.ca_file) == ["sess-two-requests-001"]
