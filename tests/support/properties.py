"""Shared Hypothesis settings for the property suites: deterministic (derandomized,
no example database) and small enough that every suite runs in seconds in CI."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

#: the settings of every property test; ``max_examples`` per test may be lowered
PROPERTY = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
