"""tasktrace: turns OpenTelemetry GenAI traces into tasks."""

from __future__ import annotations

__version__ = "0.1.0"
