# --- tenancy -------------------------------------------------------------------

TOKEN_A, TOKEN_ALL = "token-of-app-a", "token-of-the-operator"
TENANCY = [
    f"extensions.bearertokenauth.tokens=[{{token: {TOKEN_A}, services: [app-a]}}, {TOKEN_ALL}]",
    *AUTH[1:],
]


def _export_for(service_name: str, session_id: str) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("tests").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=chat_attributes(session_id, "hi")
    ):
        pass
    provider.shutdown()
    return encode_spans(memory.get_finished_spans()).SerializeToString()


async def test_a_token_for_app_a_cannot_write_or_read_app_b(pg_dsn: str) -> None:
    async with running_service(pg_dsn, overrides=TENANCY) as svc:
        a, b = f"Bearer {TOKEN_A}", f"Bearer {TOKEN_ALL}"
        # writes: app A's token for app B (or a mix) is refused whole, over both protocols
        own, foreign = _export_for("app-a", "sess-a"), _export_for("app-b", "sess-b-by-a")
        async with grpc.aio.insecure_channel(svc.endpoints.grpc) as channel:
            call = channel.unary_unary(TRACE_EXPORT)
            await call(own, metadata=(("authorization", a),), timeout=30)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call(foreign, metadata=(("authorization", a),), timeout=30)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "app-b" in (refused.value.details() or "")
        answer = await _http(
            svc.endpoints.http,
            a,
            "POST",
            "/v1/traces",
            content=foreign,
            headers={"Content-Type": PROTOBUF},
        )
        assert answer.status_code == 403
        written = await _http(
            svc.endpoints.http,
            b,
            "POST",
            "/v1/traces",
            content=_export_for("app-b", "sess-b"),
            headers={"Content-Type": PROTOBUF},
        )
        assert written.status_code == 200
        assert svc.telemetry()["auth"]["forbidden"] == 2

        def ids(token: str) -> list[str]:
            with Client(f"http://{svc.endpoints.http}", token=token) as client:
                return sorted(s.id for s in client.sessions.list(limit=100).items)

        assert await asyncio.to_thread(ids, TOKEN_ALL) == ["sess-a", "sess-b"]
        assert await asyncio.to_thread(ids, TOKEN_A) == ["sess-a"]
        for path in ("/messages", "/tasks", "/status"):
            url = f"/api/v1/sessions/sess-b{path}"
            assert (await _http(svc.endpoints.http, a, "GET", url)).status_code == 404
            assert (await _http(svc.endpoints.http, b, "GET", url)).status_code == 200
        async with grpc.aio.insecure_channel(svc.endpoints.grpc) as channel:
            stub = TaskServiceStub(channel)
            listed = await stub.ListSessions(
                pb.ListSessionsRequest(), metadata=(("authorization", a),), timeout=30
            )
            assert [s.id for s in listed.items] == ["sess-a"]
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await stub.GetSessionStatus(
                    pb.GetSessionStatusRequest(session_id="sess-b"),
                    metadata=(("authorization", a),),
                    timeout=30,
                )
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
