"""Extraction: buffers each session's new messages, decides when a session is due
(:mod:`.buffer`, :mod:`.scheduler`), and turns existing tasks plus new messages
into task operations through an :class:`~tasktrace.extractor.base.Extractor`
(:mod:`.heuristic`, :mod:`.llm`; registered in :mod:`.registry`). It reads and
commits through the store protocols of :mod:`tasktrace.stores`, never a concrete
store."""
