"""In-memory fakes of the evidence ports (``correlator.ports``), for tests at the port seam.

Every fake records its calls and can be told to fail (``error=BackendTimeout(...)``) or to hang
(``hang=True``: awaits an event nobody sets, so only a deadline ends it). No sleeping anywhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from correlator.models import (
    Change,
    Deploy,
    Exemplar,
    LogLine,
    MetricSeries,
    Resource,
    Span,
    SpanKind,
    SpanStatus,
    TimeWindow,
    Trace,
)


@dataclass
class Behaviour:
    error: BaseException | None = None
    hang: bool = False
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def act(self, *call: Any) -> None:
        self.calls.append(call)
        self.started.set()
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error


@dataclass
class FakeExemplars(Behaviour):
    exemplars: list[Exemplar] = field(default_factory=list)

    async def query_exemplars(self, expr: str, window: TimeWindow) -> list[Exemplar]:
        await self.act(expr, window)
        return list(self.exemplars)


@dataclass
class FakeMetrics(Behaviour):
    """``series(expr)`` answers a query; default: nothing."""

    series: Callable[[str], list[MetricSeries]] = lambda expr: []
    hang_on: Callable[[str], bool] = lambda expr: False

    async def query_range(
        self, expr: str, window: TimeWindow, step_seconds: float
    ) -> list[MetricSeries]:
        if self.hang_on(expr):
            self.calls.append((expr, window, step_seconds))
            await asyncio.Event().wait()
        await self.act(expr, window, step_seconds)
        return self.series(expr)


@dataclass
class FakeSeries(Behaviour):
    """``/api/v1/series``: the label sets it holds, whatever the selectors (the caller matches)."""

    label_sets: list[dict[str, str]] = field(default_factory=list)

    async def series(self, matchers: Sequence[str], window: TimeWindow) -> list[dict[str, str]]:
        await self.act(list(matchers), window)
        return [dict(s) for s in self.label_sets]


@dataclass
class FakeRules(Behaviour):
    exprs: dict[str, str] = field(default_factory=dict)

    async def alert_rule_expr(self, alertname: str) -> str | None:
        await self.act(alertname)
        return self.exprs.get(alertname)


@dataclass
class FakeTraces(Behaviour):
    traces: dict[str, Trace] = field(default_factory=dict)
    fail_ids: dict[str, BaseException] = field(default_factory=dict)

    async def get_trace(self, trace_id: str) -> Trace | None:
        await self.act(trace_id)
        if trace_id in self.fail_ids:
            raise self.fail_ids[trace_id]
        return self.traces.get(trace_id)


@dataclass
class FakeTraceSearch(Behaviour):
    """``results(traceql, window)`` -> trace ids."""

    results: Callable[[str, TimeWindow], list[str]] = lambda q, w: []

    async def search(self, traceql: str, window: TimeWindow, limit: int) -> list[str]:
        await self.act(traceql, window, limit)
        return self.results(traceql, window)[:limit]


@dataclass
class FakeLogs(Behaviour):
    """``lines(logql, window)`` -> lines."""

    lines: Callable[[str, TimeWindow], list[LogLine]] = lambda q, w: []

    async def query_range(self, logql: str, window: TimeWindow, limit: int) -> list[LogLine]:
        await self.act(logql, window, limit)
        return self.lines(logql, window)[:limit]


@dataclass
class FakeAnnotations(Behaviour):
    changes: list[Change] = field(default_factory=list)

    async def deploy_annotations(self, window: TimeWindow, tags: Sequence[str]) -> list[Change]:
        await self.act(window, tuple(tags))
        return [c for c in self.changes if window.start <= c.time <= window.end]


@dataclass
class FakeDeploys(Behaviour):
    deploys: list[Deploy] = field(default_factory=list)

    async def add_deploy(self, deploy: Deploy) -> str:
        self.deploys.append(deploy)
        return str(len(self.deploys))

    async def deploys_between(self, start: datetime, end: datetime) -> list[Deploy]:
        await self.act(start, end)
        return [d for d in self.deploys if start <= d.time <= end]


# -- builders -------------------------------------------------------------------------------


def exemplars_from_prometheus(path: Path) -> list[Exemplar]:
    """The ``/api/v1/query_exemplars`` wire JSON as domain exemplars (what a connector returns)."""
    doc = json.loads(path.read_text())
    out: list[Exemplar] = []
    for series in doc["data"]:
        for ex in series["exemplars"]:
            labels = dict(ex["labels"])
            out.append(
                Exemplar(
                    trace_id=labels.get("trace_id") or labels.get("traceID", ""),
                    span_id=labels.get("span_id"),
                    value=float(ex["value"]),
                    timestamp=datetime.fromtimestamp(ex["timestamp"], tz=UTC),
                    series_labels=dict(series["seriesLabels"]),
                    labels=labels,
                )
            )
    return out


@dataclass(frozen=True)
class S:
    """A span spec for ``make_trace``: (service, parent index or None, ms offset, ms length)."""

    service: str
    parent: int | None
    offset_ms: float
    length_ms: float
    error: bool = False
    version: str | None = None
    commit: str | None = None
    name: str = "op"


def make_trace(trace_id: str, start: datetime, spans: Sequence[S]) -> Trace:
    built: list[Span] = []
    for i, s in enumerate(spans):
        begin = start + timedelta(milliseconds=s.offset_ms)
        built.append(
            Span(
                trace_id=trace_id,
                span_id=f"{i + 1:016x}",
                parent_span_id=None if s.parent is None else f"{s.parent + 1:016x}",
                name=s.name,
                kind=SpanKind.SERVER,
                start=begin,
                end=begin + timedelta(milliseconds=s.length_ms),
                status=SpanStatus.ERROR if s.error else SpanStatus.UNSET,
                resource=Resource(service=s.service, version=s.version, commit=s.commit),
            )
        )
    return Trace(trace_id=trace_id, spans=built)


def log_line(t: datetime, line: str, service: str, **meta: str) -> LogLine:
    return LogLine(
        timestamp=t,
        line=line,
        labels={"service_name": service},
        metadata=dict(meta),
        service=service,
        level=meta.get("level"),
        trace_id=meta.get("trace_id"),
    )
