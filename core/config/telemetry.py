"""``service.telemetry.metrics``: the service's own metrics sent over OTLP, in
the collector's layout::

    service:
      telemetry:
        metrics:
          readers:
            - periodic:
                interval: 30s
                exporter:
                  otlp:
                    protocol: http/protobuf     # or grpc
                    endpoint: http://127.0.0.1:4318

(The collector writes ``interval`` in milliseconds; here it is a duration.)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasktrace.durations import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OTLPMetricExporterConfig(_Strict):
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    #: gRPC ``host:port`` (or ``http://host:port``); HTTP a URL, ``/v1/metrics`` added if no path
    endpoint: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = Field(default=10.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("endpoint must not be empty")
        return value


class MetricExporterConfig(_Strict):
    otlp: OTLPMetricExporterConfig


class PeriodicReaderConfig(_Strict):
    interval: Duration = Field(default=60.0, gt=0)
    exporter: MetricExporterConfig


class MetricReaderConfig(_Strict):
    periodic: PeriodicReaderConfig


class TelemetryMetricsConfig(_Strict):
    readers: tuple[MetricReaderConfig, ...] = ()
