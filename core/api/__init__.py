"""The task query API: the HTTP JSON routes (``/api/v1``), the gRPC
TaskQueryService, and their wire codecs (:mod:`.wire` for JSON, :mod:`.proto_codec`
for protobuf). It serves any :class:`~tasktrace.queries.TaskQueries`; it owns no
storage and imports no component."""
