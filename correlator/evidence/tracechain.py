"""The per-trace chain (get_trace -> analyze -> logs by trace_id), the TraceQL fallback search,
and the pre-onset baseline traces used for version comparison."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from correlator.evidence import links
from correlator.evidence.envelope import Probe, Recorder
from correlator.evidence.sources import EvidenceSources
from correlator.evidence.traces import analyze
from correlator.models import (
    EvidenceKind,
    EvidenceStatus,
    TimeWindow,
    Trace,
    TraceAnalysis,
    TraceEvidence,
    TraceLogs,
)
from correlator.settings import Settings
from correlator.wire import logql
from correlator.wire.ids import try_normalize_trace_id
from correlator.wire.promql import fill_template

logger = logging.getLogger(__name__)

LOG_PAD = timedelta(seconds=5)
HINT_PAD = timedelta(seconds=60)
BASELINE_SPAN = timedelta(hours=1)
MAX_IMPLICATED = 8


def _empty_trace(trace: Trace | None) -> bool:
    return trace is None or not trace.spans


def trace_window(trace: Trace) -> TimeWindow:
    start = min(s.start for s in trace.spans)
    end = max(s.end for s in trace.spans)
    return TimeWindow(start=start - LOG_PAD, end=max(end, start) + LOG_PAD)


def summarise_trace(trace: Trace, analysis: TraceAnalysis) -> str:
    services = sorted({s.service for s in trace.spans})
    text = (
        f"{len(trace.spans)} spans, {len(services)} services, {analysis.duration_ms:.0f} ms, "
        f"{len(analysis.error_span_ids)} error spans"
    )
    if analysis.root_error_service:
        text += f"; root error in {analysis.root_error_service}"
    return text


class TraceChain:
    def __init__(self, rec: Recorder, sources: EvidenceSources, settings: Settings) -> None:
        self.rec, self.sources, self.settings = rec, sources, settings
        self.traces: list[TraceEvidence] = []
        self.logs: list[TraceLogs] = []

    async def follow_all(
        self,
        items: Sequence[tuple[str, datetime | None]],
        service: str | None,
        window: TimeWindow,
        *,
        from_exemplar: bool,
        fetched: asyncio.Event | None = None,
    ) -> None:
        """Follow each trace in parallel; ``window`` bounds log queries of traces not found.

        ``fetched`` is set once every trace has been fetched and analysed (before their logs),
        so work that needs the implicated services can start while the logs are read.
        """
        left = len(items)

        def one_fetched() -> None:
            nonlocal left
            left -= 1
            if left <= 0 and fetched is not None:
                fetched.set()

        if left == 0 and fetched is not None:
            fetched.set()
        async with asyncio.TaskGroup() as tg:
            for trace_id, hint in items:
                around = TimeWindow(start=hint - HINT_PAD, end=hint + HINT_PAD) if hint else window
                tg.create_task(
                    self.follow(
                        trace_id, around, service, from_exemplar=from_exemplar, fetched=one_fetched
                    )
                )

    async def fetch(self, trace_id: str, window: TimeWindow) -> tuple[Trace, TraceAnalysis] | None:
        """get_trace + analyze as envelope ``trace:<hex>``; None when unavailable."""
        probe = Probe(
            f"trace:{trace_id}",
            EvidenceKind.TRACE,
            "tempo",
            query=trace_id,
            link=links.trace_link(self.settings, trace_id, window),
        )
        source = self.sources.traces
        if source is None:
            self.rec.not_configured(probe, "Tempo")
            return None
        trace = await self.rec.call(probe, lambda: source.get_trace(trace_id), empty=_empty_trace)
        if trace is None or not trace.spans:
            return None
        try:
            analysis = analyze(trace)
        except Exception as exc:  # boundary: a malformed trace must not sink the investigation
            logger.exception("trace analysis failed for %s", trace_id)
            ev = self.rec.items[probe.id]
            ev.status, ev.error = EvidenceStatus.ERROR, f"analysis failed: {type(exc).__name__}"
            return None
        self.rec.summarise(probe.id, summarise_trace(trace, analysis))
        self.rec.items[probe.id].service = analysis.root_service
        return trace, analysis

    async def follow(
        self,
        trace_id: str,
        around: TimeWindow,
        service: str | None,
        *,
        from_exemplar: bool,
        fetched: Callable[[], None] = lambda: None,
    ) -> None:
        """get_trace -> analyze -> logs; without a trace, logs of ``service`` in ``around``."""
        self.rec.plan(Probe(f"logs:{trace_id}", EvidenceKind.TRACE_LOGS, "loki"))
        try:
            got = await self.fetch(trace_id, around)
        finally:
            fetched()
        services: set[str] = {service} if service else set()
        window = around
        if got is not None:
            trace, analysis = got
            self.traces.append(
                TraceEvidence(
                    evidence_id=f"trace:{trace_id}",
                    trace=trace,
                    analysis=analysis,
                    from_exemplar=from_exemplar,
                )
            )
            services = {s.service for s in trace.spans if s.service and s.service != "unknown"}
            window = trace_window(trace)
        await self._logs(trace_id, services, window)

    async def _logs(self, trace_id: str, services: set[str], window: TimeWindow) -> None:
        loki = self.settings.loki
        built = self.rec.build(
            Probe(f"logs:{trace_id}", EvidenceKind.TRACE_LOGS, "loki"),
            lambda: logql.trace_logs_query(loki, trace_id, services),
        )
        if built is None:
            return
        query = built
        probe = Probe(
            f"logs:{trace_id}",
            EvidenceKind.TRACE_LOGS,
            "loki",
            query=query,
            link=links.logs_link(self.settings, query, window),
        )
        source = self.sources.logs
        if source is None:
            self.rec.not_configured(probe, "Loki")
            return
        lines = await self.rec.call(
            probe, lambda: source.query_range(query, window, loki.line_limit)
        )
        if lines:
            lines = sorted(lines, key=lambda ln: ln.timestamp)
            self.logs.append(TraceLogs(evidence_id=probe.id, trace_id=trace_id, lines=lines))
            errors = sum(1 for ln in lines if (ln.level or "").lower() in ("error", "fatal"))
            self.rec.summarise(probe.id, f"{len(lines)} log lines, {errors} at error level")

    async def search(
        self, service: str | None, window: TimeWindow, *, baseline: bool = False
    ) -> list[str]:
        """TraceQL search of ``service``'s traces (error/slow, or any for a baseline)."""
        tempo = self.settings.tempo
        kind = "baseline" if baseline else "fallback"
        template = tempo.baseline_template if baseline else tempo.search_template
        traceql = ""
        if service:
            kind_id = f"trace_search:{kind}:invalid"
            built = self.rec.build(
                Probe(kind_id, EvidenceKind.TRACE_SEARCH, "tempo", service=service),
                lambda: fill_template(template, service=service),
            )
            if built is None:
                return []
            traceql = built
        digest = hashlib.sha256(traceql.encode()).hexdigest()[:12]
        probe = Probe(
            f"trace_search:{kind}:{digest}",
            EvidenceKind.TRACE_SEARCH,
            "tempo",
            query=traceql,
            link=links.traceql_link(self.settings, traceql, window) if traceql else None,
            service=service,
        )
        source = self.sources.trace_search
        if source is None:
            self.rec.not_configured(probe, "Tempo search")
            return []
        if not service:
            self.rec.record(
                probe, EvidenceStatus.NO_DATA, summary="alert names no service to search traces of"
            )
            return []
        limit = tempo.baseline_traces if baseline else tempo.search_limit
        found = await self.rec.call(probe, lambda: source.search(traceql, window, limit))
        ids = list(dict.fromkeys(t for t in (try_normalize_trace_id(x) for x in found or []) if t))
        if found:
            self.rec.summarise(probe.id, f"{len(ids)} traces")
        return ids[:limit]

    async def baseline(self, service: str | None, window: TimeWindow) -> list[TraceEvidence]:
        """Traces of ``service`` from the hour before the alert's window, for version diffs."""
        if self.settings.tempo.baseline_traces == 0 or not service:
            return []
        if self.sources.trace_search is None or self.sources.traces is None:
            return []
        before = TimeWindow(start=window.start - BASELINE_SPAN, end=window.start)
        ids = await self.search(service, before, baseline=True)
        out: list[TraceEvidence] = []

        async def one(trace_id: str) -> None:
            got = await self.fetch(trace_id, before)
            if got is not None:
                te = TraceEvidence(
                    evidence_id=f"trace:{trace_id}",
                    trace=got[0],
                    analysis=got[1],
                    from_exemplar=False,
                    baseline=True,
                )
                out.append(te)
                self.traces.append(te)

        async with asyncio.TaskGroup() as tg:
            for trace_id in ids:
                if f"trace:{trace_id}" not in self.rec.items:
                    tg.create_task(one(trace_id))
        return out

    def implicated_services(self) -> list[str]:
        """Services of root errors, error spans and critical-path spans of the alert's traces,
        most implicated first. A weighted vote, so the answer does not depend on the order in
        which the traces arrived (the list is capped: order decides which services are asked)."""
        votes: Counter[str] = Counter()
        for te in self.traces:
            if te.baseline:
                continue
            a = te.analysis
            by_id = {s.span_id: s for s in te.trace.spans}
            if a.root_error_service:
                votes[a.root_error_service] += 8
            for i in a.error_span_ids:
                if i in by_id:
                    votes[by_id[i].service] += 4
            for rank, service in enumerate(
                sorted(a.self_time_ms, key=lambda s: -a.self_time_ms[s])
            ):
                votes[service] += 2 if rank == 0 else 1
            for i in a.critical_path:
                if i in by_id:
                    votes[by_id[i].service] += 1
        ranked = sorted(votes, key=lambda s: (-votes[s], s))
        return [s for s in ranked if s and s != "unknown"][:MAX_IMPLICATED]
