"""Small hand-built evidence bundles for the rules tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from correlator.evidence.traces import analyze
from correlator.models import (
    Alert,
    AlertStatus,
    Change,
    ChangeKind,
    Evidence,
    EvidenceBundle,
    EvidenceKind,
    EvidenceStatus,
    FlagEvaluation,
    LogPattern,
    MetricSeries,
    Resource,
    ServiceLogPatterns,
    Span,
    SpanEvent,
    SpanKind,
    SpanStatus,
    TimeWindow,
    Trace,
    TraceAnalysis,
    TraceEvidence,
)

ONSET = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def alert(name: str = "HighErrorRate", **labels: str) -> Alert:
    return Alert(
        fingerprint="f" * 16,
        status=AlertStatus.FIRING,
        labels={"alertname": name, **labels},
        starts_at=ONSET,
    )


def span(
    service: str,
    *,
    parent: Span | None = None,
    kind: SpanKind = SpanKind.SERVER,
    ms: float = 10.0,
    offset_ms: float = 0.0,
    error: bool = False,
    attrs: dict[str, str] | None = None,
    exception: str | None = None,
    version: str | None = None,
    message: str = "",
) -> Span:
    start = (parent.start if parent else ONSET) + timedelta(milliseconds=offset_ms)
    events = []
    if exception:
        events.append(
            SpanEvent(name="exception", time=start, attributes={"exception.type": exception})
        )
    return Span(
        trace_id="0" * 32,
        span_id=f"{next(_ids):016x}",
        parent_span_id=parent.span_id if parent else None,
        name=f"{service} op",
        kind=kind,
        start=start,
        end=start + timedelta(milliseconds=ms),
        status=SpanStatus.ERROR if error else SpanStatus.UNSET,
        status_message=message,
        attributes=dict(attrs or {}),
        events=events,
        resource=Resource(service=service, version=version),
    )


def trace(
    spans: list[Span],
    *,
    baseline: bool = False,
    flags: list[FlagEvaluation] | None = None,
) -> TraceEvidence:
    tid = f"{next(_ids):032x}"
    fixed = [s.model_copy(update={"trace_id": tid}) for s in spans]
    errors = [s.span_id for s in fixed if s.is_error]
    origin = analyze(Trace(trace_id=tid, spans=fixed))  # the error origin, as evidence finds it
    return TraceEvidence(
        evidence_id=f"trace:{tid}",
        trace=Trace(trace_id=tid, spans=fixed),
        analysis=TraceAnalysis(
            root_service=fixed[0].service if fixed else None,
            error_span_ids=errors,
            root_error_span_id=origin.root_error_span_id,
            root_error_service=origin.root_error_service,
            flags=list(flags or []),
        ),
        baseline=baseline,
    )


def call(
    caller: Span, callee: str, *, ms: float, error: bool = False, gap_ms: float = 1.0, **kw: object
) -> tuple[Span, Span]:
    """A client span in ``caller``'s service and the server span of ``callee`` under it."""
    client = span(
        caller.service,
        parent=caller,
        kind=SpanKind.CLIENT,
        ms=ms + 2 * gap_ms,
        error=error,
        attrs={"peer.service": callee},
    )
    server = span(callee, parent=client, ms=ms, offset_ms=gap_ms, error=error, **kw)  # type: ignore[arg-type]
    return client, server


def patterns(service: str, *pats: LogPattern) -> ServiceLogPatterns:
    window = TimeWindow(start=ONSET - timedelta(minutes=15), end=ONSET + timedelta(minutes=5))
    return ServiceLogPatterns(
        evidence_id=f"patterns:{service}",
        service=service,
        window=window,
        baseline=window.shift(timedelta(hours=-1)),
        patterns=list(pats),
    )


def pattern(
    service: str,
    template: str,
    count: int,
    baseline: int = 0,
    *,
    new: bool = False,
    level: str = "error",
) -> LogPattern:
    return LogPattern(
        service=service,
        template=template,
        level=level,
        count=count,
        baseline_count=baseline,
        is_new=new,
    )


def change(
    service: str, minutes_before: float, kind: ChangeKind = ChangeKind.DEPLOY, **kw: object
) -> Change:
    return Change(
        evidence_id=f"change:{service}:{next(_ids)}",
        service=service,
        kind=kind,
        time=ONSET - timedelta(minutes=minutes_before),
        **{"source": "deploy_api", **kw},  # type: ignore[arg-type]
    )


def series(service: str, signal: str, values: list[float], *, step: float = 15.0) -> MetricSeries:
    """Points ending at onset + 2 min, ``step`` seconds apart."""
    end = ONSET.timestamp() + 120
    start = end - step * (len(values) - 1)
    return MetricSeries(
        evidence_id=f"metric:{signal}:{service}",
        name=f"{signal}:{service}",
        query="q",
        service=service,
        signal=signal,
        points=[(start + i * step, v) for i, v in enumerate(values)],
    )


def _envelope(
    eid: str,
    kind: EvidenceKind,
    status: EvidenceStatus = EvidenceStatus.OK,
    service: str | None = None,
) -> Evidence:
    return Evidence(id=eid, kind=kind, status=status, source="test", service=service)


def bundle(
    *,
    traces: list[TraceEvidence] = (),  # type: ignore[assignment]
    log_patterns: list[ServiceLogPatterns] = (),  # type: ignore[assignment]
    changes: list[Change] = (),  # type: ignore[assignment]
    metrics: list[MetricSeries] = (),  # type: ignore[assignment]
    extra_items: list[Evidence] = (),  # type: ignore[assignment]
    the_alert: Alert | None = None,
    expr: str | None = None,
) -> EvidenceBundle:
    items = [_envelope(t.evidence_id, EvidenceKind.TRACE) for t in traces]
    items += [_envelope(p.evidence_id, EvidenceKind.LOG_PATTERNS) for p in log_patterns]
    items += [_envelope(c.evidence_id, EvidenceKind.CHANGE) for c in changes]
    items += [_envelope(m.evidence_id, EvidenceKind.METRIC) for m in metrics]
    items += list(extra_items)
    return EvidenceBundle(
        alert=the_alert or alert(),
        window=TimeWindow(start=ONSET - timedelta(minutes=30), end=ONSET + timedelta(minutes=5)),
        onset=ONSET,
        expr=expr,
        items=items,
        traces=list(traces),
        log_patterns=list(log_patterns),
        changes=list(changes),
        metrics=list(metrics),
    )


def envelope(eid: str, kind: EvidenceKind, status: EvidenceStatus, error: str = "") -> Evidence:
    return Evidence(id=eid, kind=kind, status=status, source="test", error=error or None)
