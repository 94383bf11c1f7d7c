"""Loading ``otel-config.yaml``: the shipped defaults, ``${env:...}`` expansion,
``--set`` overrides, and errors that name the key the user wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasktrace.cli.main import main
from tasktrace.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "otel-config.yaml"
PACKAGED = ROOT / "core" / "default-config.yaml"
TASKTRACE = Path(sys.executable).parent / "tasktrace"


def config_error(*overrides: str, text: str | None = None, tmp_path: Path | None = None) -> str:
    """The message of the ConfigError raised by the defaults plus ``overrides``
    (or by the YAML ``text`` written to a file in ``tmp_path``)."""
    path = None
    if text is not None:
        assert tmp_path is not None
        path = tmp_path / "bad.yaml"
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides=list(overrides), environ={})
    return str(caught.value)


# --- the shipped file -------------------------------------------------------


def test_the_shipped_file_and_the_packaged_defaults_are_identical() -> None:
    assert SHIPPED.read_bytes() == PACKAGED.read_bytes()


def test_loading_the_shipped_file_equals_loading_no_path() -> None:
    assert load_config(SHIPPED, environ={}) == load_config(None, environ={})


def test_an_empty_file_means_the_shipped_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing\n")
    assert load_config(path, environ={}) == load_config(None, environ={})


def test_a_file_setting_one_key_takes_the_shipped_defaults_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("exporters:\n  postgres:\n    dsn: postgresql://db/x\n")
    expected = load_config(None, overrides=["exporters.postgres.dsn=postgresql://db/x"], environ={})
    assert load_config(path, environ={}) == expected


def test_the_defaults_listen_on_loopback_and_run_the_heuristic_extractor() -> None:
    config = load_config(None, environ={})
    assert config.receivers.otlp.protocols.grpc is not None
    assert config.receivers.otlp.protocols.grpc.endpoint == "127.0.0.1:4317"
    assert config.receivers.otlp.protocols.http is not None
    assert config.receivers.otlp.protocols.http.endpoint == "127.0.0.1:4318"
    assert config.processors.tasktrace.extractor.type == "heuristic"
    assert config.processors.tasktrace.buffer.idle_timeout == 8.0
    assert config.active_otlp_exporters() == {}


# --- ${env:...} -------------------------------------------------------------


def test_an_env_reference_takes_the_variables_value() -> None:
    config = load_config(None, environ={"TASKTRACE_GRPC_ENDPOINT": "0.0.0.0:5317"})
    assert config.receivers.otlp.protocols.grpc is not None
    assert config.receivers.otlp.protocols.grpc.endpoint == "0.0.0.0:5317"


def test_an_env_reference_falls_back_to_its_default_when_unset_or_empty() -> None:
    unset = load_config(None, environ={})
    empty = load_config(None, environ={"TASKTRACE_LLM_MODEL": ""})
    assert unset.processors.tasktrace.extractor.llm.model == "gpt-4o-mini"
    assert empty.processors.tasktrace.extractor.llm.model == "gpt-4o-mini"


def test_a_whole_value_env_reference_takes_its_yaml_type(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "processors:\n  tasktrace:\n    buffer:\n"
        "      max_turns: ${env:TURNS}\n"
        "      idle_timeout: ${env:IDLE:-3s}\n"
        "receivers:\n  otlp:\n    session_keys: ${env:KEYS}\n"
    )
    config = load_config(path, environ={"TURNS": "5", "KEYS": "[app.session, thread]"})
    assert config.processors.tasktrace.buffer.max_turns == 5
    assert config.processors.tasktrace.buffer.idle_timeout == 3.0
    assert config.receivers.otlp.session_keys == ("app.session", "thread")


def test_an_env_reference_inside_a_longer_string_stays_text(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: ${env:HOST}:4317\n"
    )
    config = load_config(path, environ={"HOST": "10.0.0.1"})
    assert config.receivers.otlp.protocols.grpc is not None
    assert config.receivers.otlp.protocols.grpc.endpoint == "10.0.0.1:4317"


def test_an_unset_env_reference_without_default_is_an_error_naming_it(tmp_path: Path) -> None:
    message = config_error(
        text="exporters:\n  postgres:\n    dsn: ${env:MY_DSN}\n", tmp_path=tmp_path
    )
    assert "MY_DSN" in message
    assert "not set" in message


# --- --set ------------------------------------------------------------------


def test_set_overrides_a_dotted_path_with_a_yaml_value() -> None:
    config = load_config(
        None,
        overrides=[
            "processors.tasktrace.buffer.max_turns=3",
            "processors.tasktrace.buffer.idle_timeout=1m30s",
            "receivers.otlp.session_keys=[a, b]",
            "receivers.otlp.protocols.http=null",
        ],
        environ={},
    )
    assert config.processors.tasktrace.buffer.max_turns == 3
    assert config.processors.tasktrace.buffer.idle_timeout == 90.0
    assert config.receivers.otlp.session_keys == ("a", "b")
    assert config.receivers.otlp.protocols.http is None


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("exporters.postgres.dsnn=x", "--set exporters.postgres.dsnn=x: unknown key"),
        ("exporters.postgres.pool_max_size=0", "--set exporters.postgres.pool_max_size=0: "),
        ("exporters.otlp/x.endpont=y", "--set exporters.otlp/x.endpont=y: unknown key"),
    ],
)
def test_a_bad_set_is_reported_as_that_set_not_as_the_default_config(
    item: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, overrides=["processors.tasktrace.buffer.max_turns=3", item], environ={})
    assert str(caught.value).startswith(expected)
    assert "default config" not in str(caught.value)


def test_set_keeps_the_slash_of_a_component_id() -> None:
    config = load_config(
        None,
        overrides=[
            "exporters.otlp/phoenix.endpoint=http://127.0.0.1:6006",
            "exporters.otlp/phoenix.timeout=8s",
            "service.pipelines.traces.exporters=[postgres, otlp/phoenix]",
        ],
        environ={},
    )
    exporter = config.active_otlp_exporters()["otlp/phoenix"]
    assert exporter.endpoint == "http://127.0.0.1:6006"
    assert exporter.timeout == 8.0


def test_a_pipeline_without_the_tasktrace_processor_is_a_pass_through() -> None:
    config = load_config(
        None,
        overrides=[
            "exporters.otlp/upstream.endpoint=127.0.0.1:14317",
            "exporters.otlp_http/off.endpoint=",
            "service.pipelines.traces/forward.processors=[]",
            "service.pipelines.traces/forward.exporters=[otlp/upstream, otlp_http/off]",
            "service.pipelines.logs.processors=[]",
            "service.pipelines.logs.exporters=[otlp/upstream]",
        ],
        environ={},
    )
    ((exporter, signals),) = config.pass_through().values()
    assert exporter.endpoint == "127.0.0.1:14317"
    assert signals == {"traces", "logs"}
    assert config.active_otlp_exporters() == {}  # no task spans to a pass-through exporter


def test_the_defaults_forward_nothing() -> None:
    assert load_config(None, environ={}).pass_through() == {}


def test_set_without_an_equals_sign_is_an_error() -> None:
    assert "KEY=VALUE" in config_error("receivers.otlp.queue_size")


def test_set_through_a_scalar_is_an_error_naming_it() -> None:
    message = config_error("receivers.otlp.queue_size.deeper=1")
    assert "'queue_size' is not a mapping" in message


# --- unknown keys -----------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "bogus",
        "receivers.otlp.bogus",
        "receivers.otlp.protocols.grpc.bogus",
        "processors.tasktrace.buffer.bogus",
        "processors.tasktrace.extractor.llm.bogus",
        "exporters.postgres.bogus",
        "exporters.otlp.bogus",
        "exporters.otlp.retry_on_failure.bogus",
        "exporters.otlp/phoenix.bogus",
        "service.telemetry.logs.bogus",
    ],
)
def test_an_unknown_key_is_an_error_naming_it_as_written(key: str) -> None:
    message = config_error(f"{key}=1")
    assert f"unknown key {key!r}" in message


def test_an_unknown_key_in_a_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    message = config_error(
        text="receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpont: 1.2.3.4:1\n",
        tmp_path=tmp_path,
    )
    assert str(tmp_path / "bad.yaml") in message
    assert "receivers.otlp.protocols.grpc.endpont" in message


# --- bad values -------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "receivers.otlp.protocols.grpc.endpoint=nowhere",
            "receivers.otlp.protocols.grpc.endpoint: endpoint 'nowhere' must be HOST:PORT",
        ),
        (
            "receivers.otlp.protocols.http.endpoint=127.0.0.1:99999",
            "receivers.otlp.protocols.http.endpoint: endpoint '127.0.0.1:99999' must be HOST:PORT",
        ),
        ("exporters.otlp.endpoint=not an endpoint", "exporters.otlp: endpoint 'not an endpoint'"),
        (
            "processors.tasktrace.buffer.idle_timeout=-1s",
            "processors.tasktrace.buffer.idle_timeout: duration must not be negative",
        ),
        (
            "processors.tasktrace.task_ttl=-5",
            "processors.tasktrace.task_ttl: duration must not be negative",
        ),
        ("exporters.otlp.timeout=soon", "exporters.otlp.timeout: not a duration: 'soon'"),
        ("exporters.kafka.brokers=[a]", "unknown exporter type 'kafka'"),
        ("exporters.otlp/x=hello", "exporter 'otlp/x' must be a mapping"),
        (
            "service.pipelines.traces.exporters=[postgres, otlp/missing]",
            "service.pipelines.traces: exporter 'otlp/missing' is not configured",
        ),
        (
            "service.pipelines.traces.receivers=[zipkin]",
            "service.pipelines.traces: receiver 'zipkin' is not configured",
        ),
        (
            "service.pipelines.traces.processors=[]",
            "service.pipelines.traces: exporter 'postgres' needs the tasktrace processor",
        ),
        (
            "service.pipelines.metrics.exporters=[otlp]",
            "service.pipelines.metrics: a pipeline id is traces[/name] or logs[/name]",
        ),
        (
            "receivers.otlp.protocols.grpc.max_recv_msg_size_mib=0",
            "receivers.otlp.protocols.grpc.max_recv_msg_size_mib:",
        ),
        ("exporters.postgres.schema=Bad-Name", "exporters.postgres.schema:"),
        ("processors.tasktrace.extractor.type=magic", "processors.tasktrace.extractor"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_key(override: str, expected: str) -> None:
    message = config_error(override)
    assert expected in message
    assert "Value error," not in message


def test_a_file_that_is_not_yaml_is_an_error(tmp_path: Path) -> None:
    assert "not valid YAML" in config_error(text="receivers: [unclosed\n", tmp_path=tmp_path)


def test_a_file_whose_top_level_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    assert "top level must be a mapping" in config_error(text="- a\n- b\n", tmp_path=tmp_path)


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml", environ={})


# --- tasktrace config check -------------------------------------------------


def test_config_check_accepts_the_shipped_file() -> None:
    result = subprocess.run(
        [str(TASKTRACE), "config", "check", str(SHIPPED)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_config_check_rejects_an_unknown_key_and_names_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        SHIPPED.read_text().replace("queue_size: 64", "queue_size: 64\n    colour: red")
    )
    result = subprocess.run(
        [str(TASKTRACE), "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown key 'receivers.otlp.colour'" in result.stderr


def test_config_check_in_process_exits_non_zero_for_a_bad_override(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["config", "check", str(SHIPPED), "--set", "exporters.otlp.bogus=1"])
    assert exited.value.code == 1
    assert "unknown key 'exporters.otlp.bogus'" in capsys.readouterr().err


# --- ui -----------------------------------------------------------------------


def test_a_ui_trace_url_must_name_the_trace_id() -> None:
    assert "trace_url must contain {trace_id}" in config_error("ui.trace_url=http://jaeger/x")
    config = load_config(
        None, overrides=["ui.trace_url=http://jaeger:16686/trace/{trace_id}"], environ={}
    )
    assert config.ui.trace_url == "http://jaeger:16686/trace/{trace_id}"
    assert load_config(None, environ={}).ui.trace_url == ""
