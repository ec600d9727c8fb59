"""The status envelope recorder: every source call becomes an ``Evidence``, never an exception.

Each call is registered as ``timeout`` ("not finished before the evidence deadline") before it
starts, so when the whole gather is cut off by its deadline the bundle still names every call that
was in flight. Backend errors map to statuses here, once:

    BackendTimeout, TimeoutError         -> timeout
    other BackendError (5xx, 429, 4xx,
    bad body, circuit open)              -> error
    any other exception from a source    -> error (logged with traceback: a connector bug)
    empty result                         -> no_data
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from correlator.errors import BackendError, BackendTimeout, ConfigError
from correlator.models import Evidence, EvidenceKind, EvidenceStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")

PENDING = "not finished before the evidence deadline"
NOT_STARTED = "not started before the evidence deadline"
MAX_ERROR = 500


@dataclass(frozen=True)
class Probe:
    id: str
    kind: EvidenceKind
    source: str
    query: str = ""
    link: str | None = None
    service: str | None = None


def _default_empty(result: object) -> bool:
    if result is None:
        return True
    if isinstance(result, list | tuple | dict | set):
        return len(result) == 0
    return False


@dataclass
class Recorder:
    items: dict[str, Evidence] = field(default_factory=dict)

    def record(
        self, probe: Probe, status: EvidenceStatus, *, summary: str = "", error: str | None = None
    ) -> Evidence:
        ev = Evidence(
            id=probe.id,
            kind=probe.kind,
            status=status,
            source=probe.source,
            query=probe.query,
            link=probe.link,
            service=probe.service,
            summary=summary,
            error=error[:MAX_ERROR] if error else None,
        )
        self.items[probe.id] = ev
        return ev

    def plan(self, probe: Probe) -> None:
        """Register a call that will start later; it stays ``timeout`` if it never does."""
        if probe.id not in self.items:
            self.record(probe, EvidenceStatus.TIMEOUT, error=NOT_STARTED)

    def build(self, probe: Probe, make: Callable[[], str]) -> str | None:
        """A query from settings templates; a bad template is an ``error`` envelope, not a crash."""
        try:
            return make()
        except (ConfigError, ValueError) as exc:
            self.record(probe, EvidenceStatus.ERROR, error=f"cannot build the query: {exc}")
            return None

    def not_configured(self, probe: Probe, what: str) -> None:
        self.record(probe, EvidenceStatus.NOT_CONFIGURED, error=f"{what} is not configured")

    def summarise(self, evidence_id: str, summary: str) -> None:
        ev = self.items.get(evidence_id)
        if ev is not None:
            ev.summary = summary

    async def call(
        self,
        probe: Probe,
        fn: Callable[[], Awaitable[T]],
        *,
        empty: Callable[[T], bool] = _default_empty,
    ) -> T | None:
        """Run ``fn`` as one envelope; the result, or None when it failed (see module doc)."""
        ev = self.record(probe, EvidenceStatus.TIMEOUT, error=PENDING)
        start = time.perf_counter()
        try:
            result = await fn()
        except asyncio.CancelledError:
            ev.elapsed_ms = _ms(start)
            raise
        except (BackendTimeout, TimeoutError) as exc:
            self._fail(ev, start, EvidenceStatus.TIMEOUT, exc)
            return None
        except BackendError as exc:
            self._fail(ev, start, EvidenceStatus.ERROR, exc)
            return None
        except Exception as exc:  # boundary: a source bug must not sink the investigation
            logger.exception("evidence source %s failed on %s", probe.source, probe.id)
            self._fail(ev, start, EvidenceStatus.ERROR, exc)
            return None
        ev.elapsed_ms = _ms(start)
        ev.error = None
        ev.status = EvidenceStatus.NO_DATA if empty(result) else EvidenceStatus.OK
        return result

    @staticmethod
    def _fail(ev: Evidence, start: float, status: EvidenceStatus, exc: BaseException) -> None:
        ev.elapsed_ms = _ms(start)
        ev.status = status
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, BackendError):
            text = f"{type(exc).__name__}: {text}"
        ev.error = text[:MAX_ERROR]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 3)
