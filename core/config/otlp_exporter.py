"""Configuration of an OTLP task-span exporter (``exporters.otlp[/name]``), in the
collector's words: ``endpoint``, ``timeout``, ``retry_on_failure``, ``sending_queue``.

The config loader sets ``protocol`` from the component type (see
:func:`protocol_for`); everything else reads like the collector's
``otlp_grpc`` / ``otlp_http`` exporters. An empty ``endpoint`` disables the exporter.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import grpc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tasktrace.durations import Duration

Protocol = Literal["grpc", "http"]
OutputMode = Literal["link", "child", "both"]

_PROTOCOLS: dict[str, Protocol] = {
    "otlp": "grpc",
    "otlp_grpc": "grpc",
    "otlphttp": "http",
    "otlp_http": "http",
}
_TRACES_PATH = "/v1/traces"


def protocol_for(component_type: str) -> Protocol:
    """The wire protocol of a component type (``otlp``/``otlp_grpc`` -> grpc,
    ``otlphttp``/``otlp_http`` -> http; both collector spellings). Raises ValueError."""
    try:
        return _PROTOCOLS[component_type]
    except KeyError:
        known = ", ".join(sorted(_PROTOCOLS))
        message = f"not an OTLP exporter type: {component_type!r} (one of {known})"
        raise ValueError(message) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSConfig(_Strict):
    """``insecure`` unset means: plaintext for ``http://`` and bare ``host:port``
    endpoints, TLS for ``https://``. ``ca_file`` (PEM) verifies the server
    instead of the system roots; ``cert_file`` + ``key_file`` are the client
    certificate for a server that asks for one (mTLS)."""

    insecure: bool | None = None
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("tls.cert_file and tls.key_file go together")
        return self

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials from the configured files (system roots without ``ca_file``)."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _read(name: str) -> bytes | None:
    return Path(name).read_bytes() if name else None


class RetryConfig(_Strict):
    """``retry_on_failure``. The installed OTLP SDK exporters own the retry loop
    (one deadline, exponential backoff from 1 s with ±20% jitter, at most six
    attempts, server ``RetryInfo`` / ``Retry-After`` honoured, shutdown interrupts
    the wait). ``enabled`` and ``max_elapsed_time`` (their deadline) are applied;
    the other keys are accepted for collector compatibility and validated, but the
    SDK's schedule is fixed."""

    enabled: bool = True
    initial_interval: Duration = Field(default=5.0, gt=0)
    max_interval: Duration = Field(default=30.0, gt=0)
    max_elapsed_time: Duration = Field(default=300.0, gt=0)
    multiplier: float = Field(default=1.5, ge=1.0)

    @property
    def unapplied(self) -> tuple[str, ...]:
        """The keys set away from their defaults that the SDK schedule ignores."""
        default = RetryConfig()
        keys = ("initial_interval", "max_interval", "multiplier")
        return tuple(k for k in keys if getattr(self, k) != getattr(default, k))

    @model_validator(mode="after")
    def _intervals_ordered(self) -> RetryConfig:
        if self.max_interval < self.initial_interval:
            raise ValueError("retry_on_failure.max_interval must not be below initial_interval")
        return self


class QueueConfig(_Strict):
    """``sending_queue``: spans waiting for export. Disabled means at most one
    task change waits at a time."""

    enabled: bool = True
    queue_size: int = Field(default=1000, ge=1, le=1_000_000)


class OutputConfig(_Strict):
    """``link``: a task span in a trace of its own, linked to the source turns;
    ``child``: a zero-length span inside the last source turn instead;
    ``both``: the two."""

    mode: OutputMode = "link"


class OTLPExporterConfig(_Strict):
    """One OTLP exporter. ``timeout`` bounds an export only when retries are off:
    the SDK exporters give one deadline to an export and all its retries, so with
    retries on that deadline is ``retry_on_failure.max_elapsed_time``."""

    endpoint: str = ""
    protocol: Protocol = "grpc"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = Field(default=10.0, gt=0)
    compression: Literal["none", "gzip"] = "none"
    tls: TLSConfig = TLSConfig()
    retry_on_failure: RetryConfig = RetryConfig()
    sending_queue: QueueConfig = QueueConfig()
    output: OutputConfig = OutputConfig()

    @model_validator(mode="after")
    def _endpoint_form(self) -> OTLPExporterConfig:
        if self.endpoint:
            _check_endpoint(self.endpoint, self.protocol, self.tls.insecure)
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)

    @property
    def insecure(self) -> bool:
        """Plaintext (no TLS) to the endpoint."""
        if self.tls.insecure is not None:
            return self.tls.insecure
        return not self.endpoint.startswith("https://")

    @property
    def url(self) -> str:
        """The endpoint as the SDK exporter takes it: gRPC ``host:port``;
        HTTP a full URL, ``/v1/traces`` appended when no path was given."""
        if self.protocol == "grpc":
            parts = urlsplit(self.endpoint)
            return parts.netloc if parts.scheme in ("http", "https") else self.endpoint
        parts = urlsplit(self.endpoint)
        if parts.path in ("", "/"):
            return f"{parts.scheme}://{parts.netloc}{_TRACES_PATH}"
        return self.endpoint

    @property
    def export_deadline(self) -> float:
        """Seconds one export may take, retries included: the SDK exporters use
        their ``timeout`` as that single deadline."""
        retry = self.retry_on_failure
        return retry.max_elapsed_time if retry.enabled else self.timeout


def _check_endpoint(endpoint: str, protocol: Protocol, insecure: bool | None) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme in ("http", "https"):
        if not parts.hostname or (protocol == "grpc" and parts.port is None):
            raise ValueError(f"endpoint {endpoint!r}: write host:port or http://host:port")
        if protocol == "grpc" and parts.path not in ("", "/"):
            raise ValueError(f"endpoint {endpoint!r}: a gRPC endpoint takes no path")
        if protocol == "http" and parts.scheme == "http" and insecure is False:
            raise ValueError(f"endpoint {endpoint!r}: TLS needs an https:// endpoint")
        return
    if protocol == "http":
        raise ValueError(f"endpoint {endpoint!r}: an OTLP/HTTP endpoint is a URL, http://host:port")
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in endpoint:
        raise ValueError(f"endpoint {endpoint!r}: write host:port or http://host:port")
