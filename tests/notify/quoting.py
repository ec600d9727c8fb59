"""A hand-built investigation with typed evidence for the verdict tests: one rollout seen by four
sources, incident traces with a slow database span behind a flag, a baseline trace without it,
a log line on that span, a runner-up and LLM stats with cost. Attribute names follow the OTel
semantic conventions (db.query.text, db.namespace, server.address, feature_flag.* events);
deterministic: no clock, no randomness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from correlator.models import (
    Alert,
    AlertStatus,
    Analysis,
    Change,
    ChangeKind,
    Evidence,
    EvidenceBundle,
    EvidenceKind,
    EvidenceStatus,
    FaultType,
    FlagEvaluation,
    Hypothesis,
    Investigation,
    InvestigationStatus,
    LLMReport,
    LLMStageStats,
    LogLine,
    Remediation,
    RemediationKind,
    Resource,
    Span,
    SpanKind,
    StageTiming,
    SuspectChange,
    TimeWindow,
    Trace,
    TraceAnalysis,
    TraceEvidence,
    TraceLogs,
)

ONSET = datetime(2026, 10, 5, 14, 20, 30, tzinfo=UTC)
DEPLOY = ONSET - timedelta(minutes=1, seconds=10)
STATEMENT = "SELECT o.id FROM orders o WHERE o.customer_email = $1 ORDER BY o.created_at DESC"
LOG = "slow query: seq scan on orders (rows=1100000, duration_ms=1210)"
GRAFANA = "http://grafana.example:3000"
_CHANGE_SOURCES = ("correlator", "grafana", "prometheus", "tempo", "correlator")


def _tid(i: int) -> str:
    return f"{i:032x}"


def _sid(i: int, j: int) -> str:
    return f"{i:08x}{j:08x}"


def _trace(i: int, *, slow: bool, start: datetime) -> TraceEvidence:
    tid = _tid(i)
    res = Resource(service="checkout-api", version="2.4.1" if slow else "2.4.0")
    db_ms = 1210.0 + i if slow else 0.0
    server = Span(
        trace_id=tid,
        span_id=_sid(i, 1),
        name="POST /api/v1/checkout",
        kind=SpanKind.SERVER,
        start=start,
        end=start + timedelta(milliseconds=db_ms + 40),
        attributes={"http.request.method": "POST", "http.route": "/api/v1/checkout"},
        resource=res,
    )
    spans = [server]
    if slow:
        spans.append(
            Span(
                trace_id=tid,
                span_id=_sid(i, 2),
                parent_span_id=server.span_id,
                name="SELECT shop.orders",
                kind=SpanKind.CLIENT,
                start=start + timedelta(milliseconds=10),
                end=start + timedelta(milliseconds=10 + db_ms),
                attributes={
                    "db.system.name": "postgresql",
                    "db.namespace": "shop",
                    "db.collection.name": "orders",
                    "db.query.text": STATEMENT,
                    "server.address": "db-primary",
                    "server.port": 5432,
                },
                resource=res,
            )
        )
    flag = FlagEvaluation(
        key="new_checkout",
        variant="on" if slow else "off",
        provider="flagd",
        service="checkout-api",
        span_id=server.span_id,
        time=start,
    )
    analysis = TraceAnalysis(
        root_service="checkout-api",
        duration_ms=server.duration_ms,
        versions={"checkout-api": res.version or ""},
        commits={"checkout-api": "7a3f9c2" if slow else "5e1d0b8"},
        flags=[flag],
    )
    return TraceEvidence(
        evidence_id=f"trace:{tid}",
        trace=Trace(trace_id=tid, spans=spans),
        analysis=analysis,
        from_exemplar=slow,
        baseline=not slow,
    )


def _changes() -> list[Change]:
    common = {"service": "checkout-api", "kind": ChangeKind.DEPLOY}
    return [
        Change(
            evidence_id="change:deploy_api:checkout-api:2.4.1",
            time=DEPLOY,
            source="deploy_api",
            to_version="2.4.1",
            to_commit="7a3f9c2",
            description="order history on checkout page (behind new_checkout)",
            **common,
        ),
        Change(
            evidence_id="change:grafana:checkout-api:20261005T141920Z",
            time=DEPLOY,
            source="grafana",
            to_commit="7a3f9c2",
            description="Deploy checkout-api 2.4.1 (7a3f9c2)",
            **common,
        ),
        Change(
            evidence_id="change:metric:checkout-api:2.4.1",
            service="checkout-api",
            kind=ChangeKind.VERSION_CHANGE,
            time=DEPLOY + timedelta(seconds=30),
            source="metric",
            from_version="2.4.0",
            to_version="2.4.1",
            from_commit="5e1d0b8",
            to_commit="7a3f9c2",
        ),
        Change(
            evidence_id="change:trace:checkout-api:2.4.1",
            service="checkout-api",
            kind=ChangeKind.VERSION_CHANGE,
            time=ONSET,
            source="trace",
            from_version="2.4.0",
            to_version="2.4.1",
        ),
        Change(
            evidence_id="change:deploy_api:inventory:3.8.2",
            service="inventory",
            kind=ChangeKind.DEPLOY,
            time=ONSET - timedelta(minutes=9),
            source="deploy_api",
            to_version="3.8.2",
        ),
    ]


def _items(traces: list[TraceEvidence], logs: list[TraceLogs]) -> list[Evidence]:
    items = [
        Evidence(
            id=t.evidence_id,
            kind=EvidenceKind.TRACE,
            status=EvidenceStatus.OK,
            source="tempo",
            link=f"{GRAFANA}/explore?trace={t.trace.trace_id}",
            summary=f"{len(t.trace.spans)} spans",
        )
        for t in traces
    ]
    items += [
        Evidence(
            id=tl.evidence_id,
            kind=EvidenceKind.TRACE_LOGS,
            status=EvidenceStatus.OK,
            source="loki",
            link=f"{GRAFANA}/explore?logs={tl.trace_id}",
            summary=f"{len(tl.lines)} log lines",
        )
        for tl in logs
    ]
    items += [
        Evidence(id=c.evidence_id, kind=EvidenceKind.CHANGE, status=EvidenceStatus.OK, source=s)
        for c, s in zip(_changes(), _CHANGE_SOURCES, strict=True)
    ]
    return items


def quoting(*, log_line: str = LOG, llm: bool = True) -> Investigation:
    """The investigation the verdict tests render."""
    alert = Alert(
        fingerprint="5a7e1bd0c0ffee00",
        status=AlertStatus.FIRING,
        labels={
            "alertname": "CheckoutLatencyP95High",
            "severity": "critical",
            "service": "checkout-api",
        },
        annotations={"summary": "checkout p95 above 500 ms"},
        starts_at=ONSET,
        group_key='{}:{alertname="CheckoutLatencyP95High"}',
        receiver="correlator",
    )
    traces = [_trace(i, slow=True, start=ONSET + timedelta(seconds=i)) for i in range(1, 4)]
    traces.append(_trace(9, slow=False, start=ONSET - timedelta(minutes=15)))
    slow = traces[1]
    logs = [
        TraceLogs(
            evidence_id=f"logs:{slow.trace.trace_id}",
            trace_id=slow.trace.trace_id,
            lines=[
                LogLine(
                    timestamp=ONSET + timedelta(seconds=3),
                    line=log_line,
                    service="checkout-api",
                    level="warn",
                    trace_id=slow.trace.trace_id,
                    span_id=slow.trace.spans[1].span_id,
                )
            ],
        )
    ]
    bundle = EvidenceBundle(
        alert=alert,
        window=TimeWindow(start=ONSET - timedelta(minutes=15), end=ONSET + timedelta(minutes=2)),
        onset=ONSET,
        alert_service="checkout-api",
        items=_items(traces, logs),
        traces=traces,
        trace_logs=logs,
        changes=_changes(),
    )
    rollback = Remediation(
        kind=RemediationKind.ROLLBACK,
        summary="Roll back checkout-api from 2.4.1 to 2.4.0, or disable feature flag new_checkout",
        commands=["kubectl -n shop rollout undo deployment/checkout-api"],
    )
    top = Hypothesis(
        service="checkout-api",
        fault_type=FaultType.DEPLOY_REGRESSION,
        statement="checkout-api: deploy regression after deploy 2.4.1",
        confidence=0.83,
        scores={"change": 1.5, "latency_origin": 3.0, "error_origin": 0.0, "logs": 0.7},
        evidence_ids=[t.evidence_id for t in traces if not t.baseline],
        suspect_change=SuspectChange(
            evidence_id="change:deploy_api:checkout-api:2.4.1",
            kind="deploy",
            service="checkout-api",
            summary="deploy of checkout-api 2.4.1",
            version="2.4.1",
            commit="7a3f9c2",
        ),
        remediation=rollback,
    )
    runner_up = Hypothesis(
        service="inventory",
        fault_type=FaultType.DEPLOY_REGRESSION,
        statement="inventory: deploy regression after deploy 3.8.2",
        confidence=0.21,
        scores={"change": 0.6},
    )
    stats = [
        LLMStageStats(
            stage="digest",
            model="openai/m",
            calls=2,
            tokens_in=2100,
            tokens_out=300,
            cost_usd=0.0021,
        ),
        LLMStageStats(
            stage="rank", model="openai/m", calls=1, tokens_in=1500, tokens_out=200, cost_usd=0.0015
        ),
    ]
    return Investigation(
        id="7e57ab1e-0000-4000-8000-00000000c0de",
        fingerprint=alert.fingerprint,
        alert=alert,
        alert_status=AlertStatus.FIRING,
        status=InvestigationStatus.DONE,
        created_at=ONSET,
        updated_at=ONSET + timedelta(seconds=5),
        started_at=ONSET + timedelta(seconds=1),
        finished_at=ONSET + timedelta(seconds=5),
        evidence=bundle,
        analysis=Analysis(hypotheses=[top, runner_up]),
        remediation=rollback,
        stages=[
            StageTiming(name="evidence", started_at=ONSET, elapsed_ms=1800.0),
            StageTiming(name="rules", started_at=ONSET, elapsed_ms=16.0),
            StageTiming(name="llm", started_at=ONSET, elapsed_ms=2400.0),
        ],
        llm=LLMReport(enabled=llm, stages=stats if llm else []),
    )


def no_backends() -> Investigation:
    """Nothing configured: every query not_configured, no hypothesis (the first-run case)."""
    inv = quoting(llm=False)
    assert inv.evidence is not None
    items = [
        Evidence(
            id=f"{source}:{i}",
            kind=kind,
            status=EvidenceStatus.NOT_CONFIGURED,
            source=source,
            summary=f"{source} query {i}",
        )
        for source, kind in (
            ("prometheus", EvidenceKind.METRIC),
            ("tempo", EvidenceKind.TRACE),
            ("loki", EvidenceKind.LOG_PATTERNS),
            ("grafana", EvidenceKind.DEPLOYS),
        )
        for i in range(4)
    ]
    bundle = EvidenceBundle(
        alert=inv.alert, window=inv.evidence.window, onset=inv.evidence.onset, items=items
    )
    return inv.model_copy(update={"evidence": bundle, "analysis": Analysis(), "remediation": None})
