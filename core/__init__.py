"""tasktrace: turns OpenTelemetry GenAI traces into tasks.

The ``tasktrace`` package itself is the kernel: what every component shares
and nothing else. :mod:`.model` (spans, messages, sessions, tasks, task
operations), :mod:`.records` (transcript merge state and the write plan of a
batch), :mod:`.errors` (retryable vs permanent store errors), :mod:`.stores`
(the store protocols components talk through), :mod:`.consumers` (the
one-method interface from extraction to the sinks), :mod:`.queries` (the query
protocol the API serves), :mod:`.config` (the configuration model) and three
small pure helpers (:mod:`.durations`, :mod:`.lru`, :mod:`.sequences`). The
kernel imports no component; see ``docs/architecture.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"
