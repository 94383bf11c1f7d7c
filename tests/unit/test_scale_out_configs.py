"""The scale-out recipe's manifests (docs/k8s/) hang together: the Deployment runs
``serve --workers``, probes /readyz and /healthz, takes the DSN from the Secret;
the Services select its pods; the collector in front resolves the headless Service
and its config passes the real collector's own validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.collector import DOCS, OTELCOL, validate

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docs" / "k8s"


def manifests(name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The file's objects by (kind, name)."""
    docs = [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def port_names(deployment: dict[str, Any]) -> set[str]:
    return {p["name"] for p in container(deployment).get("ports", [])}


def test_the_tasktrace_deployment_runs_workers_probes_health_and_reads_the_dsn_secret() -> None:
    objs = manifests("tasktrace.yaml")
    deployment = objs["Deployment", "tasktrace"]
    app = container(deployment)
    env = {e["name"]: e for e in app["env"]}
    ref = env["TASKTRACE_POSTGRES_DSN"]["valueFrom"]["secretKeyRef"]

    assert app["args"][:1] == ["serve"] and "--workers" in app["args"]
    assert deployment["spec"]["replicas"] > 1
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {app["readinessProbe"]["httpGet"]["port"], app["livenessProbe"]["httpGet"]["port"]} <= (
        port_names(deployment)
    )
    assert ref["key"] in objs["Secret", ref["name"]]["stringData"]
    assert "value" not in env["TASKTRACE_POSTGRES_DSN"]


@pytest.mark.parametrize(
    ("file", "deployment"),
    [("tasktrace.yaml", "tasktrace"), ("collector.yaml", "tasktrace-collector")],
)
def test_each_service_selects_its_deployments_pods_on_ports_they_expose(
    file: str, deployment: str
) -> None:
    objs = manifests(file)
    pods = objs["Deployment", deployment]
    labels = pods["spec"]["template"]["metadata"]["labels"]
    services = [o for (kind, _), o in objs.items() if kind == "Service"]

    assert services
    for service in services:
        assert service["spec"]["selector"].items() <= labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names(pods)


def collector_config() -> dict[str, Any]:
    text = manifests("collector.yaml")["ConfigMap", "tasktrace-collector"]["data"]["config.yaml"]
    parsed: dict[str, Any] = yaml.safe_load(text)
    return parsed


def test_the_collector_balances_by_trace_over_the_headless_service() -> None:
    balancing = collector_config()["exporters"]["loadbalancing"]
    headless = manifests("tasktrace.yaml")["Service", "tasktrace-headless"]

    assert balancing["routing_key"] == "traceID"
    assert balancing["resolver"]["dns"]["hostname"] == headless["metadata"]["name"]
    assert headless["spec"]["clusterIP"] == "None"
    assert balancing["resolver"]["dns"]["port"] == str(headless["spec"]["ports"][0]["port"])


def test_the_session_routing_variant_routes_by_the_session_attributes() -> None:
    balancing = yaml.safe_load((DOCS / "loadbalancing-session.yaml").read_text())["exporters"][
        "loadbalancing"
    ]

    assert balancing["routing_key"] == "attributes"
    assert {"gen_ai.conversation.id", "session.id"} <= set(balancing["routing_attributes"])


@pytest.mark.skipif(OTELCOL.missing() is not None, reason=OTELCOL.missing() or "")
def test_the_collector_config_in_the_configmap_passes_the_collectors_validation(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(collector_config()))

    checked = validate(OTELCOL, config, {})

    assert checked.returncode == 0, checked.stderr
