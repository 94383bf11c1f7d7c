"""Where results go: PostgreSQL (sessions, messages, tasks, history; the
implementations of :mod:`tasktrace.stores` and the read side the API serves,
with :mod:`.migrations`), task spans to OTLP backends (:mod:`.task_spans`,
:mod:`.otlp_sink`), and the pass-through forwarding of received OTLP
(:mod:`.otlp_forward`)."""
