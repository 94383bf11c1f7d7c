"""Who may call: bearer tokens checked in constant time (:mod:`.tokens`), the
per-token ``service.name`` allow-list (:mod:`.tenancy`, :mod:`.tenant_queries`)
and the Host-header check of the HTTP listener (:mod:`.host_check`). The
configuration is :mod:`tasktrace.config.auth`; the wiring puts these in front
of the listeners."""
