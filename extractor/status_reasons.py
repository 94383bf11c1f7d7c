"""Which :class:`~tasktrace.model.StatusReason` goes with which status. Pure.

Every extractor names a reason with each status it sets; :func:`resolve` keeps
the pair consistent, so a task in the store always has one of these:

============  ==========================================================
status        reasons (the first is the default when none or a wrong one is given)
============  ==========================================================
``pending``   ``""`` (nothing has happened yet)
``running``   ``in_progress``, ``awaiting_user``
``success``   ``completed``, ``criteria``
``failed``    ``tool_error``, ``refused``, ``escalated``, ``abandoned``, ``criteria``
``expired``   ``expired``
============  ==========================================================

``escalated``, ``refused`` and ``abandoned`` mean the request was not done, so
they only go with ``failed``; given with another status, :func:`status_for`
turns the status into ``failed``.
"""

from __future__ import annotations

from tasktrace.model import StatusReason, TaskStatus

R = StatusReason

ALLOWED: dict[TaskStatus, tuple[str, ...]] = {
    TaskStatus.PENDING: ("",),
    TaskStatus.RUNNING: (R.IN_PROGRESS, R.AWAITING_USER),
    TaskStatus.SUCCESS: (R.COMPLETED, R.CRITERIA),
    TaskStatus.FAILED: (R.TOOL_ERROR, R.REFUSED, R.ESCALATED, R.ABANDONED, R.CRITERIA),
    TaskStatus.EXPIRED: (R.EXPIRED,),
}
#: reasons that mean the request was not done, whatever status came with them
NOT_DONE = frozenset({R.REFUSED, R.ESCALATED, R.ABANDONED})


def status_for(status: TaskStatus, reason: str) -> TaskStatus:
    """``failed`` for a reason that means "not done", else ``status``."""
    return TaskStatus.FAILED if reason in NOT_DONE and status is not TaskStatus.EXPIRED else status


def resolve(status: TaskStatus, reason: str) -> str:
    """``reason`` when it fits ``status``, else the status's default reason."""
    allowed = ALLOWED[status]
    return reason if reason in allowed else allowed[0]
