"""Per-service evidence: error-log patterns (now vs baseline) and the rules' metric queries
(after metric discovery, ``evidence/discovery.py``, has said which templates can answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from correlator.errors import BackendError
from correlator.evidence import discovery, links, logmine
from correlator.evidence.envelope import Probe, Recorder
from correlator.evidence.sources import EvidenceSources
from correlator.models import (
    EvidenceKind,
    EvidenceStatus,
    LogLine,
    MetricQuery,
    MetricSeries,
    ServiceLogPatterns,
    TimeWindow,
)
from correlator.settings import Settings
from correlator.wire import logql

MAX_SERIES = 20  # per query kept in the bundle
MAX_SCAN_SERIES = 1000  # per query read but not kept (version series)
MAX_SERVICES = 8


def patterns_id(service: str) -> str:
    return f"patterns:{service}"


class ServiceEvidence:
    def __init__(
        self,
        rec: Recorder,
        sources: EvidenceSources,
        settings: Settings,
        metric_queries: Callable[[set[str]], Sequence[MetricQuery]] | None,
    ) -> None:
        self.rec, self.sources, self.settings = rec, sources, settings
        self.metric_queries = metric_queries
        self.patterns: list[ServiceLogPatterns] = []
        self.metrics: list[MetricSeries] = []
        self._asked: set[str] = set()
        self._queried: set[str] = set()
        self._called = False

    def plan(self, services: Iterable[str]) -> None:
        for service in services:
            self.rec.plan(
                Probe(patterns_id(service), EvidenceKind.LOG_PATTERNS, "loki", service=service)
            )

    def windows(self, onset: datetime, now: datetime) -> tuple[TimeWindow, TimeWindow]:
        loki = self.settings.loki
        start = onset - timedelta(seconds=loki.pattern_before_seconds)
        end = min(onset + timedelta(seconds=loki.pattern_after_seconds), max(now, onset))
        window = TimeWindow(start=start, end=max(end, start + timedelta(seconds=1)))
        return window, window.shift(-(window.end - window.start))

    async def gather(self, services: Sequence[str], onset: datetime, now: datetime) -> None:
        """Patterns and metric queries for ``services`` (most implicated first) not asked for
        yet, at most ``MAX_SERVICES`` per investigation."""
        room = max(MAX_SERVICES - len(self._asked), 0)
        new = [s for s in dict.fromkeys(services) if s not in self._asked][:room]
        self._asked.update(new)
        if not new and self._called:
            return
        window, baseline = self.windows(onset, now)
        queries = self._queries(set(new))
        mwin = TimeWindow(start=onset - timedelta(hours=1), end=window.end)
        step = max(15.0, round(mwin.seconds / 240))
        async with asyncio.TaskGroup() as tg:
            for service in new:
                tg.create_task(self._patterns(service, window, baseline))
            tg.create_task(self._metrics(new, queries, mwin, step))

    async def _metrics(
        self, services: Sequence[str], queries: list[MetricQuery], window: TimeWindow, step: float
    ) -> None:
        ok = await self._discover(services, queries, window)
        async with asyncio.TaskGroup() as tg:
            for q in queries:
                if ok is None or q.name in ok:
                    tg.create_task(self.run_metric(q, window, step))

    async def _discover(
        self, services: Sequence[str], queries: list[MetricQuery], window: TimeWindow
    ) -> set[str] | None:
        """Names of the queries that can answer; ``None`` (run them all) without discovery."""
        source = self.sources.series
        plan = discovery.plan(queries)
        match = plan.match_params()
        if source is None or not match or len(match) > discovery.MAX_SELECTORS:
            return None
        probe = Probe(
            "discovery:" + ",".join(sorted(services))[:200],
            EvidenceKind.METRIC,
            "prometheus",
            service=services[0] if len(services) == 1 else None,
        )
        found = await self.rec.call(probe, lambda: source.series(match, window))
        if found is None:
            return None  # discovery failed: every template runs, as without it
        ok = discovery.answerable(plan, found)
        self.rec.summarise(probe.id, discovery.summary(queries, ok))
        return ok

    def _metric_probe(self, query: MetricQuery, window: TimeWindow) -> Probe:
        return Probe(
            f"metric:{query.name}",
            EvidenceKind.METRIC,
            "prometheus",
            query=query.expr,
            link=links.metric_link(self.settings, query.expr, window),
            service=query.service,
        )

    def _queries(self, services: set[str]) -> list[MetricQuery]:
        if self.metric_queries is None:
            return []
        self._called = True
        fresh: list[MetricQuery] = []
        for q in self.metric_queries(services):
            if q.name not in self._queried:
                self._queried.add(q.name)
                fresh.append(q)
        return fresh

    async def run_metric(
        self, query: MetricQuery, window: TimeWindow, step: float, *, keep: bool = True
    ) -> list[MetricSeries]:
        """``query_range`` as envelope ``metric:<name>``; series are stored when ``keep``."""
        cap = MAX_SERIES if keep else MAX_SCAN_SERIES
        probe = self._metric_probe(query, window)
        source = self.sources.metrics
        if source is None:
            self.rec.not_configured(probe, "Prometheus query_range")
            return []
        found = await self.rec.call(probe, lambda: source.query_range(query.expr, window, step))
        series = [
            s.model_copy(
                update={
                    "evidence_id": probe.id,
                    "name": query.name,
                    "query": query.expr,
                    "service": query.service or s.service,
                    "signal": query.signal,
                }
            )
            for s in (found or [])[:cap]
        ]
        if found:
            more = f" (first {cap} of {len(found)})" if len(found) > cap else ""
            self.rec.summarise(probe.id, f"{len(found)} series{more}")
        if keep:
            self.metrics.extend(series)
        return series

    async def _patterns(self, service: str, window: TimeWindow, baseline: TimeWindow) -> None:
        loki = self.settings.loki
        built = self.rec.build(
            Probe(patterns_id(service), EvidenceKind.LOG_PATTERNS, "loki", service=service),
            lambda: logql.error_lines_query(loki, service),
        )
        if built is None:
            return
        query = built
        probe = Probe(
            patterns_id(service),
            EvidenceKind.LOG_PATTERNS,
            "loki",
            query=query,
            link=links.logs_link(self.settings, query, window),
            service=service,
        )
        source = self.sources.logs
        if source is None:
            self.rec.not_configured(probe, "Loki")
            return
        base_error: list[str] = []
        limit = loki.line_limit

        async def quiet_baseline() -> list[LogLine] | None:
            try:
                return await source.query_range(query, baseline, limit)
            except (BackendError, TimeoutError) as exc:
                base_error.append(str(exc) or type(exc).__name__)
                return None

        async def both() -> tuple[list[LogLine], list[LogLine] | None]:
            base_task = asyncio.ensure_future(quiet_baseline())
            try:
                lines = await source.query_range(query, window, limit)
            except BaseException:
                base_task.cancel()
                raise
            return lines, await base_task

        got = await self.rec.call(probe, both, empty=lambda r: not r[0])
        if got is None:
            return
        lines, base_lines = got
        mined = logmine.mine(
            evidence_id=probe.id,
            service=service,
            lines=lines,
            baseline_lines=base_lines,
            window=window,
            baseline=baseline,
        )
        self.patterns.append(mined)
        new = sum(1 for p in mined.patterns if p.is_new)
        summary = (
            f"{mined.error_count} error lines vs {mined.baseline_error_count} in baseline; "
            f"{len(mined.patterns)} templates, {new} new"
        )
        if base_error:
            summary += f"; baseline unavailable: {base_error[0][:200]}"
        self.rec.summarise(probe.id, summary)
        if self.rec.items[probe.id].status is EvidenceStatus.NO_DATA:
            self.rec.summarise(probe.id, f"no error lines ({summary})")
