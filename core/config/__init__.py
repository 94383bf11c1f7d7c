"""Configuration, declared once, in the OpenTelemetry Collector's own layout.

``receivers`` / ``processors`` / ``exporters`` / ``extensions`` /
``service.pipelines``, component ids ``type[/name]``, ``${env:NAME}``
expansion, durations like ``8s``, unknown keys rejected. This package owns the
configuration *model*: :mod:`.model` holds the sections and :class:`Config`,
one module per component section beside it (:mod:`.extractor`,
:mod:`.otlp_exporter`, :mod:`.auth`, :mod:`.tls`, :mod:`.telemetry`), and
:mod:`.loading` reads a file. Components receive their section; none reads
the file or the environment.
"""

from __future__ import annotations

from tasktrace.config.loading import default_config_text, load_config, validate
from tasktrace.config.model import Config, ConfigError, split_endpoint

__all__ = [
    "Config",
    "ConfigError",
    "default_config_text",
    "load_config",
    "split_endpoint",
    "validate",
]
