"""The configuration sections and :class:`Config`, the whole file validated.

Unknown keys are rejected; OTLP exporters of any id are gathered under
``exporters.otlp``. Reading a file is :mod:`tasktrace.config.loading`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)

from tasktrace.config.auth import BearerTokenAuthConfig
from tasktrace.config.extractor import ExtractorConfig
from tasktrace.config.otlp_exporter import OTLPExporterConfig
from tasktrace.config.telemetry import TelemetryMetricsConfig
from tasktrace.config.tls import ServerTLSConfig
from tasktrace.durations import Duration
from tasktrace.model import Signal
from tasktrace.redaction import Redaction, parse_redaction


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- receivers --------------------------------------------------------------


class AuthSettings(_Strict):
    #: an extension id in ``extensions`` and ``service.extensions``
    authenticator: str


class GRPCProtocolConfig(_Strict):
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: int = Field(default=16, ge=1, le=1024)
    auth: AuthSettings | None = None
    tls: ServerTLSConfig | None = None

    _check_endpoint = field_validator("endpoint")(lambda v: _host_port(v))


class HTTPProtocolConfig(_Strict):
    endpoint: str = "127.0.0.1:4318"
    max_request_body_size_mib: int = Field(default=16, ge=1, le=1024)
    #: ``Host`` header names taken besides the bound address and IP literals (and
    #: loopback names when bound to loopback); others are refused (DNS rebinding)
    allowed_hosts: tuple[str, ...] = ()
    auth: AuthSettings | None = None
    tls: ServerTLSConfig | None = None

    _check_endpoint = field_validator("endpoint")(lambda v: _host_port(v))


class ProtocolsConfig(_Strict):
    grpc: GRPCProtocolConfig | None = GRPCProtocolConfig()
    http: HTTPProtocolConfig | None = HTTPProtocolConfig()


class OTLPReceiverConfig(_Strict):
    protocols: ProtocolsConfig = ProtocolsConfig()
    #: attribute keys tried after the built-in session keys
    session_keys: tuple[str, ...] = ()
    #: how many ingest batches may wait for the store before senders get RESOURCE_EXHAUSTED
    queue_size: int = Field(default=64, ge=1, le=100_000)
    #: MiB of export requests being decoded, queued or written before senders get
    #: RESOURCE_EXHAUSTED / 429 (one request is always taken when none is in process)
    queue_size_mib: int = Field(default=64, ge=1, le=16_384)
    #: spans (or log records) one export request may hold; more get
    #: RESOURCE_EXHAUSTED / 413 (decoding and storing cost memory per item)
    max_items_per_request: int = Field(default=16_384, ge=1, le=10_000_000)


class ReceiversConfig(_Strict):
    otlp: OTLPReceiverConfig = OTLPReceiverConfig()


# --- processors -------------------------------------------------------------


class BufferConfig(_Strict):
    max_turns: int = Field(default=16, ge=1, le=10_000)
    idle_timeout: Duration = 8.0
    #: first retry delay after a failed extraction; doubles up to ``max_backoff``
    retry_backoff: Duration = 2.0
    max_backoff: Duration = 300.0


class OptOutConfig(_Strict):
    service_names: tuple[str, ...] = ()
    #: regular expressions matched against the whole session id
    session_patterns: tuple[str, ...] = ()

    @field_validator("session_patterns")
    @classmethod
    def _compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad pattern {pattern!r}: {exc}") from exc
        return patterns


class TaskProcessorConfig(_Strict):
    buffer: BufferConfig = BufferConfig()
    task_ttl: Duration = 1800.0
    extractor: ExtractorConfig = ExtractorConfig()
    opt_out: OptOutConfig = OptOutConfig()
    #: sessions in process at once (read and committed in batches); an LLM extractor
    #: bounds its own concurrent calls with ``extractor.llm.max_concurrency``
    max_concurrent_sessions: int = Field(default=64, ge=1, le=1024)
    #: e-mail, card and phone patterns and user regexes (tasktrace/redaction.py); None: off
    redaction: Annotated[Redaction | None, PlainValidator(parse_redaction)] = None


class ProcessorsConfig(_Strict):
    tasktrace: TaskProcessorConfig = TaskProcessorConfig()


# --- exporters --------------------------------------------------------------


#: Linux's PATH_MAX, in bytes
_MAX_PATH = 4096


def check_data_dir_name(value: str) -> str:
    """``value`` if it can name a data directory; ``ValueError`` if it holds NUL or
    other control characters (a newline in a path ends up in the server's
    settings and logs) or is longer than a path can be."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (0x00)")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"must not contain control characters: {value!r}")
    if len(value.encode("utf-8", "surrogateescape")) > _MAX_PATH:
        raise ValueError(f"longer than {_MAX_PATH} bytes")
    return value


class PostgresExporterConfig(_Strict):
    """``dsn`` empty: tasktrace runs its own embedded PostgreSQL in ``data_dir``."""

    dsn: str = ""
    schema_name: str = Field(default="tasktrace", alias="schema")
    data_dir: str = ""
    pool_max_size: int = Field(default=8, ge=1, le=256)
    connect_timeout: Duration = 10.0
    #: how long a request waits for a pooled connection before it is answered
    #: UNAVAILABLE / 503 (well under an OTLP exporter's 10 s export timeout)
    acquire_timeout: Duration = 2.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    _check_data_dir = field_validator("data_dir")(lambda v: check_data_dir_name(v))

    @field_validator("schema_name")
    @classmethod
    def _plain_schema(cls, value: str) -> str:
        """A name that needs no quoting (it is quoted all the same) and is not reserved."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", value):
            raise ValueError(f"{value!r}: 1-63 of a-z, 0-9 and _, not starting with a digit")
        if value.startswith("pg_") or value == "information_schema":
            raise ValueError(f"{value!r} is reserved by PostgreSQL")
        return value


_OTLP_TYPES = {"otlp": "grpc", "otlp_grpc": "grpc", "otlphttp": "http", "otlp_http": "http"}


class ExportersConfig(BaseModel):
    """Exporter ids ``type[/name]``: one ``postgres``, any number of OTLP exporters."""

    model_config = ConfigDict(frozen=True)

    postgres: PostgresExporterConfig = PostgresExporterConfig()
    #: ``otlp`` is always there (off until it has an endpoint), so the default
    #: pipeline's ``[postgres, otlp]`` holds for a file that leaves it out
    otlp: dict[str, OTLPExporterConfig] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split_by_type(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping):
            return raw
        out: dict[str, Any] = {"otlp": {"otlp": {"protocol": "grpc"}}}
        for component_id, body in raw.items():
            kind = str(component_id).split("/", 1)[0]
            if kind == "postgres":
                out["postgres"] = body or {}
            elif kind in _OTLP_TYPES:
                if not isinstance(body, Mapping | None):
                    raise ValueError(f"exporter {component_id!r} must be a mapping, not {body!r}")
                body = dict(body or {})
                body.setdefault("protocol", _OTLP_TYPES[kind])
                out["otlp"][str(component_id)] = body
            else:
                raise ValueError(
                    f"unknown exporter type {kind!r} in {component_id!r} "
                    f"(known: postgres, {', '.join(_OTLP_TYPES)})"
                )
        return out


# --- service ----------------------------------------------------------------


#: what the OTLP receiver takes in; a pipeline id is ``signal[/name]``
SIGNALS: dict[str, Signal] = {"traces": "traces", "logs": "logs"}


def pipeline_signal(pipeline_id: str) -> Signal | None:
    """The signal a pipeline id names (``traces/passthrough`` -> traces); None if unknown."""
    return SIGNALS.get(pipeline_id.split("/", 1)[0])


class PipelineConfig(_Strict):
    """A pipeline with the ``tasktrace`` processor makes tasks; one without it
    (``processors: []``) forwards what it receives, unchanged, to its OTLP exporters."""

    receivers: tuple[str, ...] = ("otlp",)
    processors: tuple[str, ...] = ("tasktrace",)
    exporters: tuple[str, ...] = ("postgres", "otlp")

    @property
    def makes_tasks(self) -> bool:
        return "tasktrace" in self.processors


class TelemetryLogsConfig(_Strict):
    level: Literal["debug", "info", "warn", "warning", "error"] = "info"


class TelemetryConfig(_Strict):
    logs: TelemetryLogsConfig = TelemetryLogsConfig()
    metrics: TelemetryMetricsConfig = TelemetryMetricsConfig()


class ServiceConfig(_Strict):
    pipelines: dict[str, PipelineConfig] = Field(
        default_factory=lambda: {"traces": PipelineConfig()}
    )
    telemetry: TelemetryConfig = TelemetryConfig()
    #: extension ids started, as in the collector
    extensions: tuple[str, ...] = ()
    #: several instances on one database (docs/scale-out.md): "shared" keeps due
    #: times and extraction leases in PostgreSQL; "auto": shared with a DSN,
    #: single with the embedded store. A dead instance's sessions are taken
    #: over ``lease`` after its last renewal (every third of it while it extracts);
    #: due sessions are polled every ``poll``.
    instances: Literal["auto", "single", "shared"] = "auto"
    lease: Duration = Field(default=30.0, gt=0)
    poll: Duration = Field(default=0.5, gt=0)
    #: processes of ``serve`` (receiver + extraction each) on the same ports and store
    workers: int = Field(default=1, ge=1, le=64)


class UIConfig(_Strict):
    """The ``/ui`` dashboard. ``trace_url``: a link to a trace in the user's
    backend, ``{trace_id}`` replaced by the hex trace id (empty: no links)."""

    trace_url: str = ""

    @field_validator("trace_url")
    @classmethod
    def _names_the_trace(cls, value: str) -> str:
        if value and "{trace_id}" not in value:
            raise ValueError("trace_url must contain {trace_id}")
        return value


class Config(_Strict):
    receivers: ReceiversConfig = ReceiversConfig()
    processors: ProcessorsConfig = ProcessorsConfig()
    exporters: ExportersConfig = ExportersConfig()
    #: ``bearertokenauth[/name]`` ids; no other extension type is known
    extensions: dict[str, BearerTokenAuthConfig] = Field(default_factory=dict)
    service: ServiceConfig = ServiceConfig()
    ui: UIConfig = UIConfig()

    @model_validator(mode="after")
    def _pipelines_name_known_components(self) -> Config:
        exporters = {"postgres", *self.exporters.otlp}
        for name, pipeline in self.service.pipelines.items():
            for kind, ids, known in (
                ("receiver", pipeline.receivers, {"otlp"}),
                ("processor", pipeline.processors, {"tasktrace"}),
                ("exporter", pipeline.exporters, exporters),
            ):
                for component in ids:
                    if component not in known:
                        raise ValueError(
                            f"service.pipelines.{name}: {kind} {component!r} is not configured"
                        )
            if pipeline_signal(name) is None:
                raise ValueError(
                    f"service.pipelines.{name}: a pipeline id is traces[/name] or logs[/name]"
                )
            if not pipeline.makes_tasks and "postgres" in pipeline.exporters:
                raise ValueError(
                    f"service.pipelines.{name}: exporter 'postgres' needs the tasktrace processor"
                    " (a pipeline without it forwards data unchanged to OTLP exporters)"
                )
        return self

    @field_validator("extensions", mode="before")
    @classmethod
    def _known_extensions(cls, raw: Any) -> Any:
        for ext in raw if isinstance(raw, Mapping) else ():
            if str(ext).split("/", 1)[0] != "bearertokenauth":
                raise ValueError(f"{ext!r}: unknown extension type (known: bearertokenauth)")
        return raw

    @model_validator(mode="after")
    def _authenticators_declared(self) -> Config:
        for ext in self.service.extensions:
            if ext not in self.extensions:
                raise ValueError(f"service.extensions: {ext!r} is not configured in extensions")
        protocols = self.receivers.otlp.protocols
        for name, proto in (("grpc", protocols.grpc), ("http", protocols.http)):
            if proto is None or proto.auth is None:
                continue
            ext = proto.auth.authenticator
            where = f"receivers.otlp.protocols.{name}.auth.authenticator"
            if ext not in self.extensions:
                raise ValueError(f"{where}: {ext!r} is not configured in extensions")
            if ext not in self.service.extensions:
                raise ValueError(f"{where}: {ext!r} is not listed in service.extensions")
        return self

    def authenticator_config(
        self, protocol: Literal["grpc", "http"]
    ) -> BearerTokenAuthConfig | None:
        """The ``bearertokenauth`` config guarding a listener (None: open)."""
        proto = getattr(self.receivers.otlp.protocols, protocol)
        if proto is None or proto.auth is None:
            return None
        return self.extensions[proto.auth.authenticator]

    def active_otlp_exporters(self) -> dict[str, OTLPExporterConfig]:
        """OTLP exporters for task spans: named in a pipeline with the tasktrace
        processor and given an endpoint."""
        named = {c for p in self.service.pipelines.values() if p.makes_tasks for c in p.exporters}
        return {k: v for k, v in self.exporters.otlp.items() if k in named and v.endpoint}

    def pass_through(self) -> dict[str, tuple[OTLPExporterConfig, frozenset[Signal]]]:
        """OTLP exporters of pipelines without the tasktrace processor (and with an
        endpoint), each with the signals (``traces``, ``logs``) it forwards."""
        signals: dict[str, set[Signal]] = {}
        for name, pipeline in self.service.pipelines.items():
            signal = pipeline_signal(name)
            if signal is None or pipeline.makes_tasks or "otlp" not in pipeline.receivers:
                continue
            for component in pipeline.exporters:
                signals.setdefault(component, set()).add(signal)
        return {
            k: (self.exporters.otlp[k], frozenset(v))
            for k, v in signals.items()
            if self.exporters.otlp[k].endpoint
        }


def _host_port(value: str) -> str:
    _, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"endpoint {value!r} must be HOST:PORT")
    return value


def split_endpoint(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
