"""The bearer-token config and checks, pure: the collector's config shape and
its validation errors, token matching, a token file re-read on change, the
tenancy allow-list on export requests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tasktrace.auth.tenancy import foreign_services, request_services
from tasktrace.auth.tokens import Authenticator, Principal, bearer_token
from tasktrace.config import ConfigError, load_config
from tasktrace.config.auth import BearerTokenAuthConfig

WIRED = [
    "service.extensions=[bearertokenauth]",
    "receivers.otlp.protocols.grpc.auth.authenticator=bearertokenauth",
    "receivers.otlp.protocols.http.auth.authenticator=bearertokenauth",
]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_collector_shape_loads_with_the_token_from_the_environment(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.yaml",
        "extensions:\n  bearertokenauth:\n    token: ${env:TASKTRACE_TOKEN}\n"
        "receivers:\n  otlp:\n    protocols:\n"
        "      grpc: {auth: {authenticator: bearertokenauth}}\n"
        "      http: {auth: {authenticator: bearertokenauth}}\n"
        "service:\n  extensions: [bearertokenauth]\n",
    )
    loaded = load_config(config, environ={"TASKTRACE_TOKEN": "abc"})
    auth = loaded.authenticator_config("grpc")
    assert auth is not None and auth.token == "abc"
    assert loaded.authenticator_config("http") == auth


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (WIRED[1:2], "'bearertokenauth' is not configured in extensions"),
        (["extensions.bearertokenauth.token=x", *WIRED[1:2]], "not listed in service.extensions"),
        (["service.extensions=[bearertokenauth/b]"], "'bearertokenauth/b' is not configured"),
        (["extensions.oidc.issuer_url=x"], "unknown extension type"),
        (["extensions.bearertokenauth.filename=/nonexistent/tokens"], "cannot read token file"),
        (
            ["extensions.bearertokenauth.token=x", "extensions.bearertokenauth.tokens=[y]"],
            "exactly one of token, tokens, filename",
        ),
        (
            [
                "receivers.otlp.protocols.http.tls.cert_file=/nonexistent/c.pem",
                "receivers.otlp.protocols.http.tls.key_file=/nonexistent/k.pem",
            ],
            "tls.cert_file: cannot read /nonexistent/c.pem",
        ),
    ],
)
def test_bad_auth_and_tls_settings_get_a_clear_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides=overrides, environ={})


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_reads_the_scheme_case_insensitively(
    header: str | None, token: str | None
) -> None:
    assert bearer_token(header) == token


def test_tokens_match_exactly_and_carry_their_allow_list() -> None:
    config = BearerTokenAuthConfig.model_validate(
        {"tokens": ["all", {"token": "a", "services": ["app-a"]}]}
    )
    auth = Authenticator(config)
    assert auth.authenticate("Bearer all") == Principal()
    assert auth.authenticate("Bearer a") == Principal(frozenset({"app-a"}))
    assert auth.authenticate("Bearer al") is None
    assert auth.authenticate("Bearer alll") is None
    assert auth.authenticate(None) is None


def test_a_token_file_is_re_read_when_it_changes(tmp_path: Path) -> None:
    tokens = write(tmp_path / "tokens", "first\n\n")
    auth = Authenticator(BearerTokenAuthConfig(filename=str(tokens)))
    assert auth.authenticate("Bearer first") is not None
    write(tokens, "second\nthird\n")
    os.utime(tokens, ns=(1, 1))  # a new stamp even within the clock's resolution
    assert auth.authenticate("Bearer first") is None
    assert auth.authenticate("Bearer third") is not None


def _request(*services: str | None) -> bytes:
    request = ExportTraceServiceRequest()
    for name in services:
        group = request.resource_spans.add()
        if name is not None:
            attr = group.resource.attributes.add(key="service.name")
            attr.value.string_value = name
    return request.SerializeToString()


def test_foreign_services_are_those_outside_the_allow_list() -> None:
    a = Principal(frozenset({"app-a"}))
    services = request_services("traces", _request("app-a", "app-b", None))
    assert services == {"app-a", "app-b", ""}
    assert foreign_services(a, services) == ["", "app-b"]
    assert foreign_services(a, request_services("traces", _request("app-a"))) == []
    assert foreign_services(Principal(), services) == []
    assert request_services("traces", b"\xff\xff") is None
    assert foreign_services(a, None) == []  # undecodable: the receiver answers 400 itself


@pytest.mark.parametrize(
    ("host", "authenticated", "warned"),
    [
        ("0.0.0.0", False, True),
        ("10.1.2.3", False, True),
        ("::", False, True),
        ("0.0.0.0", True, False),
        ("127.0.0.1", False, False),
        ("::1", False, False),
        ("localhost", False, False),
    ],
)
def test_a_non_loopback_bind_without_an_authenticator_is_warned_about(
    caplog: pytest.LogCaptureFixture, host: str, authenticated: bool, warned: bool
) -> None:
    from tasktrace.server.pipeline import _warn_if_open

    with caplog.at_level("WARNING", logger="tasktrace.server.pipeline"):
        _warn_if_open(host, "HTTP", authenticated)
    assert any("without an authenticator" in r.message for r in caplog.records) is warned
