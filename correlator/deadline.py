"""A per-investigation deadline carried in a ``contextvars.ContextVar``.

``correlator.evidence`` opens ``deadline_scope(settings.evidence_deadline_seconds)`` around a
gather; every task spawned inside inherits the context, so connectors (``connectors/_http.py``)
can ask ``remaining()`` before sleeping for a retry and never outlive the investigation. Nested
scopes never extend an outer deadline: the earliest one wins. Outside any scope ``remaining()``
is ``None`` (no deadline).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("correlator_deadline", default=None)


@contextmanager
def deadline_scope(
    seconds: float, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[float]:
    """Run the block under a deadline ``seconds`` from now (yields the absolute deadline)."""
    at = clock() + max(0.0, seconds)
    outer = _DEADLINE.get()
    if outer is not None:
        at = min(at, outer)
    token = _DEADLINE.set(at)
    try:
        yield at
    finally:
        _DEADLINE.reset(token)


def deadline_at() -> float | None:
    """The absolute deadline (``time.monotonic`` scale) of the current scope, if any."""
    return _DEADLINE.get()


def remaining(*, clock: Callable[[], float] = time.monotonic) -> float | None:
    """Seconds left before the current deadline (``0.0`` once passed); ``None`` without one."""
    at = _DEADLINE.get()
    if at is None:
        return None
    return max(0.0, at - clock())


def expired(*, clock: Callable[[], float] = time.monotonic) -> bool:
    left = remaining(clock=clock)
    return left is not None and left <= 0.0
