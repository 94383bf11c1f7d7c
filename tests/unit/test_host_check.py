"""Which ``Host`` headers the HTTP listener takes (DNS rebinding guard)."""

from __future__ import annotations

import pytest

from tasktrace.auth.host_check import host_allowed, host_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:4318", "localhost"),
        ("LocalHost", "localhost"),
        ("[::1]:4318", "::1"),
        ("::1", "::1"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("", ""),
    ],
)
def test_the_name_is_read_without_port_or_brackets(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize(
    "header", ["127.0.0.1:4318", "localhost:4318", "[::1]:4318", "app.localhost", "10.0.0.7:1"]
)
def test_loopback_names_and_ip_literals_are_taken_on_a_loopback_bind(header: str) -> None:
    assert host_allowed(header, "127.0.0.1", ())


@pytest.mark.parametrize("header", ["evil.example:4318", "attacker.test", "localhost.evil.example"])
def test_other_names_are_refused_on_a_loopback_bind(header: str) -> None:
    assert not host_allowed(header, "127.0.0.1", ())
    assert not host_allowed(header, "localhost", ())


def test_configured_names_are_taken_case_insensitively() -> None:
    assert host_allowed("Tasktrace.Internal:4318", "127.0.0.1", ("tasktrace.internal",))
    assert not host_allowed("other.internal", "127.0.0.1", ("tasktrace.internal",))


def test_the_bound_name_is_taken() -> None:
    assert host_allowed("collector.example:4318", "collector.example", ())
    assert not host_allowed("localhost", "collector.example", ())


def test_a_wildcard_bind_takes_any_name_until_names_are_configured() -> None:
    assert host_allowed("tasktrace.default.svc", "0.0.0.0", ())
    assert host_allowed("tasktrace.default.svc", "::", ())
    assert not host_allowed("tasktrace.default.svc", "0.0.0.0", ("tasktrace.example",))
    assert host_allowed("10.1.2.3:4318", "0.0.0.0", ("tasktrace.example",))
