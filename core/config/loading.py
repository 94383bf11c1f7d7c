"""Reading a config: YAML, ``${env:NAME}`` expansion as the collector does,
``--set a.b.c=value`` overrides, and one error message naming the bad key.
The only place that reads the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tasktrace.config.model import Config, ConfigError

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${env:NAME}`` and ``${env:NAME:-default}`` like the collector."""

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(
                    f"environment variable {name} is not set (write ${{env:{name}:-default}})"
                )
            return default
        return value

    return _ENV_REF.sub(sub, text)


def expand_tree(node: Any, environ: Mapping[str, str]) -> Any:
    """Expand env references in the string values of parsed YAML, as the collector does:
    a value that is one whole reference takes the referenced value's YAML type."""
    if isinstance(node, dict):
        return {k: expand_tree(v, environ) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_tree(v, environ) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node
    expanded = expand_env(node, environ)
    if _ENV_REF.fullmatch(node.strip()) and expanded.strip():
        try:
            return yaml.safe_load(expanded)
        except yaml.YAMLError:
            return expanded
    return expanded


def default_config_text() -> str:
    return resources.files("tasktrace").joinpath("default-config.yaml").read_text("utf-8")


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, expand, override (``--set a.b.c=value``) and validate a config.

    With no path, the shipped defaults (identical to ``otel-config.yaml``).
    Raises :class:`ConfigError` with one message naming the offending key.
    """
    env = os.environ if environ is None else environ
    if path is None:
        text, origin = default_config_text(), "default config"
    else:
        try:
            text, origin = Path(path).read_text("utf-8"), str(path)
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    try:
        raw = expand_tree(yaml.safe_load(text) or {}, env)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping")
    for item in overrides:
        apply_override(raw, item)
    return validate(raw, origin, overrides)


def validate(
    raw: Mapping[str, Any], origin: str = "config", overrides: Sequence[str] = ()
) -> Config:
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin, overrides)) from None


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``a.b.c=value``; the value is read as YAML (``8s``, ``[a, b]``, ``true``).

    Component ids keep their slash (``exporters.otlp/phoenix.endpoint=...``).
    """
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {item!r}: {part!r} is not a mapping")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item!r}: bad value: {exc}") from exc


def _describe(exc: ValidationError, origin: str, overrides: Sequence[str] = ()) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(_user_path(error["loc"]))
        source = _override_for(where, overrides) or origin
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key {where!r}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {where}: {message}" if where else f"{source}: {message}")
    return "\n".join(lines)


def _override_for(where: str, overrides: Sequence[str]) -> str | None:
    """``--set ITEM`` when the error is at (or in, or above) the key ITEM set."""
    for item in reversed(overrides):  # the last --set of a key is the one applied
        key = item.partition("=")[0].strip()
        if where and (key == where or key.startswith(f"{where}.") or where.startswith(f"{key}.")):
            return f"--set {item}"
    return None


def _user_path(loc: tuple[int | str, ...]) -> list[str]:
    """A pydantic error location as the user wrote the key: OTLP exporters are
    held under ``exporters.otlp[<id>]``, but written ``exporters.<id>``."""
    parts = [str(p) for p in loc if not str(p).startswith("function-")]
    if parts[:2] == ["exporters", "otlp"] and len(parts) > 2:
        del parts[1]
    return parts
