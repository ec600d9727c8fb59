"""The seams between the engine and the outside world (structural Protocols).

Connectors satisfy these without importing them; only ``correlator.wiring`` builds concrete
ones. Sources raise ``correlator.errors.BackendError`` subclasses; ``correlator.evidence`` turns
those into status envelopes, so nothing below ever reaches a caller as a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from correlator.models import (
    Change,
    Deploy,
    Exemplar,
    Investigation,
    LogLine,
    MetricSeries,
    TimeWindow,
    Trace,
)


class ExemplarSource(Protocol):
    async def query_exemplars(self, expr: str, window: TimeWindow) -> list[Exemplar]: ...


class MetricsSource(Protocol):
    async def query_range(
        self, expr: str, window: TimeWindow, step_seconds: float
    ) -> list[MetricSeries]: ...


class RuleExprSource(Protocol):
    async def alert_rule_expr(self, alertname: str) -> str | None: ...


class TraceSource(Protocol):
    async def get_trace(self, trace_id: str) -> Trace | None: ...


class TraceSearch(Protocol):
    async def search(self, traceql: str, window: TimeWindow, limit: int) -> list[str]:
        """Trace ids (normalised 32-hex) matching a TraceQL query."""
        ...


class LogSource(Protocol):
    async def query_range(self, logql: str, window: TimeWindow, limit: int) -> list[LogLine]: ...


class AnnotationSource(Protocol):
    async def deploy_annotations(self, window: TimeWindow, tags: Sequence[str]) -> list[Change]: ...


class DeployStore(Protocol):
    async def add_deploy(self, deploy: Deploy) -> str: ...

    async def deploys_between(self, start: datetime, end: datetime) -> list[Deploy]: ...


class EventSink(Protocol):
    """Progress events of an investigation (stored, then streamed as SSE by the API)."""

    async def emit(self, investigation_id: str, kind: str, payload: dict[str, object]) -> None: ...


class NoteSink(Protocol):
    """Receives the investigation each time its note should be (re)published.

    ``phase`` is one of ``rules`` (first note, before any LLM call), ``llm`` (LLM stages done),
    ``resolved`` (the alert resolved). The notify outbox implements it: it stores the
    notifications and delivers them later, so publishing never blocks on Slack/PagerDuty.
    """

    async def publish(self, investigation: Investigation, *, phase: str) -> None: ...
