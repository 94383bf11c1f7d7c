"""Wires the components from a :class:`~tasktrace.config.Config`: the only module
that imports them all.

Start order: store (embedded Postgres if no DSN), migrations, exporters
(task spans, pass-through), extraction, receiver, listeners. Shutdown runs in
reverse: listeners stop taking data, the receiver writes what it accepted,
extraction finishes what runs, exporters flush, the store stops. Shutdown is
idempotent and safe without start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from tasktrace.api.grpc import add_task_service
from tasktrace.api.http import add_api_routes
from tasktrace.auth.host_check import host_check
from tasktrace.auth.tenant_queries import TenantQueries
from tasktrace.auth.tokens import Authenticator
from tasktrace.config import Config, split_endpoint
from tasktrace.errors import StoreUnavailable
from tasktrace.exporter.leases import PostgresLeases
from tasktrace.exporter.otlp_forward import OTLPForwarder
from tasktrace.exporter.otlp_sink import TaskSpanSink
from tasktrace.exporter.postgres import migrate, open_pool
from tasktrace.exporter.read_store import PostgresReads
from tasktrace.exporter.store_health import Readiness, readiness, task_counts
from tasktrace.exporter.task_span_feed import TaskSpanConsumer
from tasktrace.exporter.task_store import PostgresTasks
from tasktrace.exporter.transcripts import PostgresTranscripts
from tasktrace.extractor.registry import build_extractor
from tasktrace.extractor.scheduler import ExtractionScheduler, ExtractionStats
from tasktrace.model import Signal
from tasktrace.queries import (
    TaskQueries,
)
from tasktrace.receiver.ingest import Ingestor
from tasktrace.receiver.otlp_grpc import add_otlp_services
from tasktrace.receiver.otlp_http import add_otlp_routes
from tasktrace.receiver.service import Counters, Receiver
from tasktrace.receiver.sessions import is_opted_out
from tasktrace.receiver.traffic import Traffic
from tasktrace.records import WritePlan
from tasktrace.redaction import applied
from tasktrace.server.auth_guard import AuthCounters, GRPCAuthInterceptor, http_auth
from tasktrace.server.embedded import EmbeddedPostgres
from tasktrace.server.metrics import MetricsSnapshot
from tasktrace.server.ops import add_ops_routes
from tasktrace.server.self_metrics import OTLPMetricsReporter
from tasktrace.server.supervisor import StoreState, StoreSupervisor
from tasktrace.server.task_queries import TaskQueryService
from tasktrace.ui import add_ui_routes

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoints:
    grpc: str = ""
    http: str = ""


@dataclass
class Service:
    config: Config
    data_dir: Path
    endpoints: Endpoints = Endpoints()
    _embedded: EmbeddedPostgres | None = None
    _supervisor: StoreSupervisor | None = None
    _pool: AsyncConnectionPool | None = None
    _sinks: list[TaskSpanSink] = field(default_factory=list)
    _forwarders: list[tuple[OTLPForwarder, frozenset[Signal]]] = field(default_factory=list)
    _scheduler: ExtractionScheduler | None = None
    _receiver: Receiver | None = None
    _grpc: grpc.aio.Server | None = None
    _http: web.AppRunner | None = None
    _self_metrics: OTLPMetricsReporter | None = None
    _auth: AuthCounters = field(default_factory=AuthCounters)
    _stopped: bool = False

    @property
    def scheduler(self) -> ExtractionScheduler | None:
        """The extraction stage once started (None before): read-only, for tests and tools."""
        return self._scheduler

    async def start(self) -> None:
        cfg = self.config
        pg = cfg.exporters.postgres
        dsn = pg.dsn
        if not dsn:
            self._embedded = EmbeddedPostgres(self.data_dir)
            dsn = await asyncio.to_thread(self._embedded.start)
        await migrate(dsn, pg.schema_name)
        self._pool = open_pool(
            dsn, pg.schema_name, max_size=pg.pool_max_size, timeout=pg.acquire_timeout
        )
        await self._pool.open(wait=True, timeout=pg.connect_timeout)
        if self._embedded is not None:
            self._supervisor = StoreSupervisor(self._embedded, self._store_restarted)
            self._supervisor.start()

        proc = cfg.processors.tasktrace
        redaction = proc.redaction
        self._sinks = [
            TaskSpanSink(c, redaction=applied(redaction, "spans"))
            for c in cfg.active_otlp_exporters().values()
        ]
        for sink in self._sinks:
            await sink.start()
        for exporter, signals in cfg.pass_through().values():
            forwarder = OTLPForwarder(exporter)
            await forwarder.start()
            self._forwarders.append((forwarder, signals))
        consumers = [TaskSpanConsumer(self._pool, self._sinks)] if self._sinks else []
        svc = cfg.service
        shared = svc.instances == "shared" or (svc.instances == "auto" and bool(pg.dsn))
        self._scheduler = ExtractionScheduler(
            PostgresTasks(self._pool),
            build_extractor(proc.extractor, redaction),
            consumers,
            max_turns=proc.buffer.max_turns,
            idle_timeout=proc.buffer.idle_timeout,
            retry_backoff=proc.buffer.retry_backoff,
            max_backoff=proc.buffer.max_backoff,
            task_ttl=proc.task_ttl,
            concurrency=proc.max_concurrent_sessions,
            opted_out=functools.partial(
                is_opted_out,
                services=proc.opt_out.service_names,
                patterns=proc.opt_out.session_patterns,
            ),
            ingest_waiting=self._ingest_waiting,
            leases=PostgresLeases(self._pool, lease=svc.lease) if shared else None,
            poll_interval=svc.poll if shared else None,
        )
        await self._scheduler.start()

        otlp = cfg.receivers.otlp
        self._receiver = Receiver(
            Ingestor(
                PostgresTranscripts(
                    self._pool,
                    idle_timeout=proc.buffer.idle_timeout,
                    max_turns=proc.buffer.max_turns,
                )
            ),
            session_keys=otlp.session_keys,
            queue_size=otlp.queue_size,
            max_queued_bytes=otlp.queue_size_mib * 1024 * 1024,
            max_items=otlp.max_items_per_request,
            on_commit=self._on_commit,
            forward=self._pass_through if self._forwarders else None,
            redaction=applied(redaction, "store"),
        )
        await self._receiver.start()
        reads = PostgresReads(self._pool)
        queries = TenantQueries(TaskQueryService(reads, self._scheduler), reads.session_services)
        await self._start_listeners(queries)
        self._self_metrics = OTLPMetricsReporter(
            cfg.service.telemetry.metrics.readers, self.metrics_snapshot
        )
        await self._self_metrics.start()

    @property
    def store_state(self) -> StoreState:
        """The store's supervision state (ok / restarting / failed), for readiness:
        always ok with a DSN, whose server is supervised elsewhere."""
        return self._supervisor.state if self._supervisor is not None else StoreState.OK

    async def wait_failed(self) -> str:
        """Returns (the reason) once the embedded store died and could not be
        restarted; never with a DSN. The CLI then exits non-zero."""
        if self._supervisor is None:
            await asyncio.Event().wait()
        assert self._supervisor is not None
        return await self._supervisor.wait_failed()

    async def _store_restarted(self, uri: str) -> None:
        """Point the pool at the restarted server and drop its dead connections."""
        assert self._pool is not None
        self._pool.conninfo = uri
        await self._pool.check()

    def _ingest_waiting(self) -> int:
        return self._receiver.waiting() if self._receiver is not None else 0

    def telemetry(self) -> dict[str, Any]:
        """The service's own counts: what the receiver took in and kept in part,
        the store's supervision state, and each OTLP exporter's queue (task
        spans, pass-through)."""
        receiver = dataclasses.asdict(self._receiver.counters) if self._receiver else {}
        supervisor = self._supervisor
        return {
            "receiver": receiver,
            "store": {
                "state": str(self.store_state),
                "restarts": supervisor.restarts if supervisor is not None else 0,
            },
            "task_spans": {s.endpoint: dataclasses.asdict(s.stats()) for s in self._sinks},
            "pass_through": {f.name: dataclasses.asdict(f.stats()) for f in self.forwarders},
            "sessions_without_content": self._contentless(),
            "auth": dataclasses.asdict(self._auth),
        }

    def _contentless(self) -> dict[str, Any]:
        """Sessions warned about for sending model calls without message content."""
        if self._receiver is None:
            return {"count": 0, "sessions": []}
        watch = self._receiver.content_watch
        return {"count": watch.count, "sessions": watch.reported()[-100:]}

    async def metrics_snapshot(self) -> MetricsSnapshot:
        """The counts behind ``/metrics``: the stages' own, and the store's task counts
        (left out when the store does not answer)."""
        tasks = None
        if self._pool is not None:
            try:
                tasks = await task_counts(self._pool)
            except StoreUnavailable as exc:
                _log.warning("metrics: task counts unavailable (%s)", exc)
        receiver = self._receiver
        return MetricsSnapshot(
            receiver=dataclasses.replace(receiver.counters) if receiver else Counters(),
            traffic=receiver.traffic.copy() if receiver else Traffic(),
            extraction=self._scheduler.stats() if self._scheduler else ExtractionStats(),
            task_spans={s.endpoint: s.stats() for s in self._sinks},
            pass_through={f.name: f.stats() for f in self.forwarders},
            tasks=tasks,
        )

    async def readiness(self) -> Readiness:
        """Not ready while the embedded store is being restarted or has failed,
        else when the store answers with every migration applied."""
        if self._pool is None:
            return Readiness(False, "not started")
        if self.store_state is not StoreState.OK:
            return Readiness(False, f"embedded postgres {self.store_state}")
        return await readiness(self._pool)

    def _pass_through(self, signal: Signal, body: bytes) -> None:
        for forwarder, signals in self._forwarders:
            if signal in signals:
                forwarder.offer(signal, body)

    @property
    def forwarders(self) -> list[OTLPForwarder]:
        """The pass-through forwarders (one per OTLP exporter), for tests and tools."""
        return [forwarder for forwarder, _ in self._forwarders]

    def _on_commit(self, plan: WritePlan) -> None:
        assert self._scheduler is not None
        for session_id, count in plan.touched_sessions.items():
            if count:
                self._scheduler.notify(session_id, count)

    async def _start_listeners(self, queries: TaskQueries) -> None:
        assert self._receiver is not None
        protocols = self.config.receivers.otlp.protocols
        grpc_ep = http_ep = ""
        if protocols.grpc is not None:
            limit = protocols.grpc.max_recv_msg_size_mib * 1024 * 1024
            auth = self.config.authenticator_config("grpc")
            self._grpc = grpc.aio.server(
                options=[("grpc.max_receive_message_length", limit), ("grpc.so_reuseport", 0)],
                interceptors=[GRPCAuthInterceptor(Authenticator(auth), self._auth)] if auth else [],
            )
            add_otlp_services(self._grpc, self._receiver)
            add_task_service(self._grpc, queries, flush_timeout=60.0)
            host, port = split_endpoint(protocols.grpc.endpoint)
            _warn_if_open(host, "gRPC", auth is not None)
            address, tls = f"{_bracket(host)}:{port}", protocols.grpc.tls
            try:
                if tls is not None:
                    bound = self._grpc.add_secure_port(address, tls.grpc_credentials())
                else:
                    bound = self._grpc.add_insecure_port(address)
            except RuntimeError:  # its message only says to turn on gRPC's debug log
                raise OSError(
                    f"cannot listen on {host}:{port} for OTLP/gRPC: address in use or not available"
                ) from None
            await self._grpc.start()
            grpc_ep = f"{host}:{bound}"
            _log.info("OTLP/gRPC receiver and task query service listening on %s", grpc_ep)
        if protocols.http is not None:
            limit = protocols.http.max_request_body_size_mib * 1024 * 1024
            host, port = split_endpoint(protocols.http.endpoint)
            auth = self.config.authenticator_config("http")
            _warn_if_open(host, "HTTP", auth is not None)
            middlewares = [host_check(host, protocols.http.allowed_hosts)]
            if auth is not None:
                middlewares.append(http_auth(Authenticator(auth), self._auth, max_body_bytes=limit))
            app = web.Application(client_max_size=limit, middlewares=middlewares)
            add_otlp_routes(app, self._receiver, max_body_bytes=limit)
            add_api_routes(app, queries, flush_timeout=60.0, telemetry=self.telemetry)
            add_ops_routes(app, snapshot=self.metrics_snapshot, readiness=self.readiness)
            add_ui_routes(app, trace_url=self.config.ui.trace_url)
            # OTLP bodies are inflated by the receiver, within its size limit
            self._http = web.AppRunner(
                app, access_log=None, handle_signals=False, auto_decompress=False
            )
            await self._http.setup()
            http_tls = protocols.http.tls
            site = web.TCPSite(
                self._http,
                host,
                port,
                reuse_address=True,
                ssl_context=http_tls.ssl_context() if http_tls is not None else None,
            )
            await site.start()
            http_ep = f"{host}:{_site_port(site)}"
            scheme = "https" if http_tls is not None else "http"
            _log.info(
                "OTLP/HTTP receiver, query API, /ui and /metrics listening on %s://%s",
                scheme,
                http_ep,
            )
        self.endpoints = Endpoints(grpc=grpc_ep, http=http_ep)

    async def shutdown(self, timeout: float = 15.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._supervisor is not None:
            await self._supervisor.stop()
        if self._self_metrics is not None:
            await self._self_metrics.shutdown(timeout / 3)
        if self._grpc is not None:
            await self._grpc.stop(grace=min(5.0, timeout / 3))
        if self._http is not None:
            await self._http.cleanup()
        if self._receiver is not None:
            await self._receiver.shutdown(timeout / 3)
        if self._scheduler is not None:
            await self._scheduler.shutdown(timeout / 3)
        for sink in self._sinks:
            await sink.shutdown(timeout / 3)
        for forwarder in self.forwarders:
            await forwarder.shutdown(timeout / 3)
        if self._pool is not None:
            await self._pool.close()
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)

    async def __aenter__(self) -> Service:
        try:
            await self.start()
        except BaseException:
            await self.shutdown()
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()


def _warn_if_open(host: str, listener: str, authenticated: bool) -> None:
    """Warn when a listener is reachable beyond this machine and takes anyone."""
    if authenticated or _is_loopback(host):
        return
    _log.warning(
        "the %s listener is bound to %s without an authenticator: anyone who can reach it "
        "can write spans and read every transcript; set "
        "receivers.otlp.protocols.<grpc|http>.auth.authenticator (see 'Securing tasktrace')",
        listener,
        host,
    )


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _site_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp exposes the bound sockets only here
    sockets = getattr(server, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else 0
