"""The OTLP task-span exporter config, written the collector's way."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tasktrace.config.otlp_exporter import OTLPExporterConfig, protocol_for


def make_config(**values: Any) -> OTLPExporterConfig:
    return OTLPExporterConfig.model_validate(values)


def test_an_exporter_without_endpoint_is_disabled() -> None:
    assert not make_config().enabled
    assert make_config(endpoint="collector:4317").enabled


@pytest.mark.parametrize(
    ("component_type", "protocol"),
    [("otlp", "grpc"), ("otlp_grpc", "grpc"), ("otlphttp", "http"), ("otlp_http", "http")],
)
def test_both_collector_spellings_of_the_component_type_name_the_protocol(
    component_type: str, protocol: str
) -> None:
    assert protocol_for(component_type) == protocol


def test_an_unknown_component_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="otlp_grpc"):
        protocol_for("jaeger")


@pytest.mark.parametrize(
    ("endpoint", "url", "insecure"),
    [
        ("collector:4317", "collector:4317", True),
        ("127.0.0.1:4317", "127.0.0.1:4317", True),
        ("http://collector:4317", "collector:4317", True),
        ("https://collector:4317", "collector:4317", False),
    ],
)
def test_grpc_endpoints_are_host_port_with_tls_unless_plain(
    endpoint: str, url: str, insecure: bool
) -> None:
    config = make_config(endpoint=endpoint, protocol="grpc")

    assert (config.url, config.insecure) == (url, insecure)


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otlp.example.com/api/traces", "https://otlp.example.com/api/traces"),
    ],
)
def test_http_endpoints_get_the_traces_path_when_they_have_none(endpoint: str, url: str) -> None:
    assert make_config(endpoint=endpoint, protocol="http").url == url


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [
        ("collector", "grpc"),
        ("http://collector", "grpc"),
        ("http://collector:4317/v1/traces", "grpc"),
        ("collector:4318", "http"),
        ("collector:port", "grpc"),
    ],
)
def test_malformed_endpoints_are_rejected(endpoint: str, protocol: str) -> None:
    with pytest.raises(ValidationError, match="endpoint"):
        make_config(endpoint=endpoint, protocol=protocol)


def test_tls_insecure_overrides_the_scheme_default() -> None:
    assert not make_config(endpoint="collector:4317", tls={"insecure": False}).insecure


def test_durations_are_written_the_collector_way() -> None:
    config = make_config(
        timeout="500ms",
        retry_on_failure={"initial_interval": "1s", "max_interval": "1m", "max_elapsed_time": "2m"},
    )

    retry = config.retry_on_failure
    assert (config.timeout, retry.initial_interval, retry.max_interval) == (0.5, 1.0, 60.0)
    assert config.export_deadline == 120.0


def test_the_defaults_are_the_collectors() -> None:
    config = make_config()

    retry = config.retry_on_failure
    assert config.protocol == "grpc"
    assert config.timeout == 10.0
    assert (retry.enabled, retry.initial_interval, retry.max_interval) == (True, 5.0, 30.0)
    assert (retry.max_elapsed_time, retry.multiplier) == (300.0, 1.5)
    assert (config.sending_queue.enabled, config.sending_queue.queue_size) == (True, 1000)
    assert config.output.mode == "link"
    assert config.compression == "none"


def test_without_retries_the_export_deadline_is_the_timeout() -> None:
    config = make_config(timeout="3s", retry_on_failure={"enabled": False})

    assert config.export_deadline == 3.0


@pytest.mark.parametrize(
    "values",
    [
        {"endpont": "collector:4317"},
        {"retry_on_failure": {"max_elapsed": "1m"}},
        {"sending_queue": {"num_consumer": 2}},
        {"tls": {"insecure_skip_verify": True}},
        {"output": {"mode": "inline"}},
        {"compression": "zstd"},
        {"timeout": "soon"},
        {"sending_queue": {"queue_size": 0}},
        {"retry_on_failure": {"initial_interval": "10s", "max_interval": "1s"}},
    ],
)
def test_unknown_keys_and_bad_values_are_rejected(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_config(**values)


def test_the_config_is_frozen() -> None:
    config = make_config(endpoint="collector:4317")

    with pytest.raises(ValidationError):
        config.endpoint = "elsewhere:4317"


def test_retry_keys_the_sdk_schedule_ignores_are_reported_when_set() -> None:
    assert make_config().retry_on_failure.unapplied == ()
    config = make_config(retry_on_failure={"initial_interval": "1s", "multiplier": 2})
    assert config.retry_on_failure.unapplied == ("initial_interval", "multiplier")
