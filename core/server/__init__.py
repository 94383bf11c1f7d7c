"""The running service: the one package that imports every component.

:mod:`.pipeline` assembles receiver, extractor and exporters from a
:class:`~tasktrace.config.Config`, starts and stops them in order, and mounts
the listeners; :mod:`.embedded` and :mod:`.supervisor` run the embedded
PostgreSQL; :mod:`.metrics`, :mod:`.self_metrics` and :mod:`.ops` are
``/metrics``, ``/healthz`` and ``/readyz``; :mod:`.auth_guard` puts the
authenticator in front of the OTLP and query listeners."""
