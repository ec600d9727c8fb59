"""Hand-built investigations for the notify tests (deterministic: no clock, no randomness)."""

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
    Hypothesis,
    InsufficientEvidence,
    Investigation,
    InvestigationStatus,
    LLMReport,
    LLMStageStats,
    LogLine,
    MetricSeries,
    Remediation,
    RemediationKind,
    Resource,
    Span,
    SpanStatus,
    StageTiming,
    SuspectChange,
    TimeWindow,
    Trace,
    TraceAnalysis,
    TraceEvidence,
    TraceLogs,
)

T0 = datetime(2026, 11, 21, 16, 32, 54, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _alert(status: AlertStatus = AlertStatus.FIRING, **labels: str) -> Alert:
    base = {
        "alertname": "CheckoutErrorRate",
        "severity": "critical",
        "service": "checkout",
        "team": "payments",
    }
    base.update(labels)
    return Alert(
        fingerprint="cb14fc0c00f5862f",
        status=status,
        labels=base,
        annotations={"summary": "checkout 5xx ratio above 5% for 2m"},
        starts_at=T0,
        generator_url="http://prometheus:9090/graph?g0.expr=rate%28x%5B1m%5D%29",
        group_key='{}:{alertname="CheckoutErrorRate"}',
        receiver="correlator",
    )


def _evidence() -> list[Evidence]:
    return [
        Evidence(
            id=f"trace:{TRACE}",
            kind=EvidenceKind.TRACE,
            status=EvidenceStatus.OK,
            source="tempo",
            query=TRACE,
            elapsed_ms=84.2,
            link=f"http://grafana:3000/explore?traceId={TRACE}",
            summary="exemplar trace: checkout PlaceOrder -> payment Charge failed (UNAVAILABLE)",
            service="checkout",
        ),
        Evidence(
            id=f"logs:{TRACE}",
            kind=EvidenceKind.TRACE_LOGS,
            status=EvidenceStatus.OK,
            source="loki",
            query=f'{{service_name="checkout"}} | trace_id="{TRACE}"',
            elapsed_ms=41.0,
            link="http://grafana:3000/explore?left=loki&query=x",
            summary="12 error lines: failed to charge card: connection refused",
            service="checkout",
        ),
        Evidence(
            id="deploy:checkout:1.4.2",
            kind=EvidenceKind.DEPLOYS,
            status=EvidenceStatus.OK,
            source="correlator",
            elapsed_ms=3.0,
            link="https://git.example.com/shop/checkout/compare/a1b2c3d...e4f5a6b",
            summary="checkout 1.4.1 -> 1.4.2 deployed 3 min before onset",
            service="checkout",
        ),
        Evidence(
            id="metric:error_ratio",
            kind=EvidenceKind.METRIC,
            status=EvidenceStatus.OK,
            source="prometheus",
            query='sum(rate(http_server_requests_total{status=~"5.."}[1m]))',
            elapsed_ms=12.5,
            link="javascript:alert(1)",
            summary="5xx ratio 0.2% -> 7.9% at onset",
        ),
        Evidence(
            id="patterns:payment",
            kind=EvidenceKind.LOG_PATTERNS,
            status=EvidenceStatus.TIMEOUT,
            source="loki",
            query='{service_name="payment"} |~ "error"',
            elapsed_ms=5000.0,
            error="deadline of 5.0 s exceeded",
            summary="payment log patterns",
        ),
        Evidence(
            id="change:grafana",
            kind=EvidenceKind.CHANGE,
            status=EvidenceStatus.NOT_CONFIGURED,
            source="grafana",
            summary="deploy annotations",
        ),
    ]


def rich(
    *,
    status: AlertStatus = AlertStatus.FIRING,
    llm: bool = True,
    inv_id: str = "0b7e6c1e-5f1a-4c55-9d7e-3a7b1d2c9f00",
) -> Investigation:
    """A finished investigation: top hypothesis with evidence, rollback, decoys, gaps, LLM stats."""
    alert = _alert(status)
    bundle = EvidenceBundle(
        alert=alert,
        window=TimeWindow(start=T0 - timedelta(minutes=15), end=T0 + timedelta(minutes=2)),
        onset=T0,
        alert_service="checkout",
        items=_evidence(),
    )
    rollback = Remediation(
        kind=RemediationKind.ROLLBACK,
        summary="Roll checkout back from 1.4.2 to 1.4.1",
        commands=["kubectl -n shop rollout undo deployment/checkout --to-revision=41"],
        target_version="1.4.1",
        risk="low: 1.4.1 ran for 6 days without errors",
        verify="5xx ratio back under 1% within 5 min",
    )
    top = Hypothesis(
        service="checkout",
        fault_type=FaultType.DEPLOY_REGRESSION,
        statement="checkout 1.4.2 (deployed 16:29) broke payment calls",
        confidence=0.82,
        evidence_ids=[
            f"trace:{TRACE}",
            f"logs:{TRACE}",
            "deploy:checkout:1.4.2",
            "metric:error_ratio",
        ],
        suspect_change=SuspectChange(
            evidence_id="deploy:checkout:1.4.2",
            kind="deploy",
            service="checkout",
            summary="checkout 1.4.1 -> 1.4.2 by ci-bot",
            version="1.4.2",
        ),
        remediation=rollback,
    )
    others = [
        Hypothesis(
            service="payment",
            fault_type=FaultType.DEPENDENCY_DOWN,
            statement="payment is down",
            confidence=0.31,
        ),
        Hypothesis(
            service="frontend",
            fault_type=FaultType.TRAFFIC_SURGE,
            statement="frontend traffic surge",
            confidence=0.05,
        ),
    ]
    stages = [
        StageTiming(name="evidence", started_at=T0, elapsed_ms=812.4),
        StageTiming(name="rules", started_at=T0, elapsed_ms=3.2),
    ]
    report = LLMReport(enabled=False)
    if llm:
        stages.append(StageTiming(name="llm", started_at=T0, elapsed_ms=2140.0))
        report = LLMReport(
            enabled=True,
            stages=[
                LLMStageStats(
                    stage="digest", model="local-qwen", calls=1, tokens_in=1800, tokens_out=220
                ),
                LLMStageStats(
                    stage="rank", model="local-qwen", calls=1, tokens_in=1400, tokens_out=180
                ),
            ],
        )
    return Investigation(
        id=inv_id,
        fingerprint=alert.fingerprint,
        alert=alert,
        alert_status=status,
        status=InvestigationStatus.DONE,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=4),
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=4),
        evidence=bundle,
        analysis=Analysis(hypotheses=[top, *others], rules_applied=["deploy_regression"]),
        remediation=rollback,
        stages=stages,
        llm=report,
    )


def hostile() -> Investigation:
    """Label and evidence values trying to inject Slack mrkdwn / Markdown / HTML."""
    inv = rich(llm=False, inv_id="11111111-2222-3333-4444-555555555555")
    alert = inv.alert.model_copy(
        update={
            "labels": {
                **inv.alert.labels,
                "alertname": "Evil <!channel> & <https://evil.example|click>",
                "service": "svc<script>alert(1)</script>",
            },
            "annotations": {"summary": "[phish](https://evil.example) ```rm -rf /```"},
        }
    )
    assert inv.analysis is not None
    top = inv.analysis.hypotheses[0].model_copy(
        update={"statement": "cause <@U123> & *bold* `code`"}
    )
    return inv.model_copy(
        update={
            "alert": alert,
            "analysis": inv.analysis.model_copy(update={"hypotheses": [top]}),
            "remediation": inv.remediation.model_copy(update={"commands": ["echo ``` && <!here>"]})
            if inv.remediation
            else None,
        }
    )


def undetermined() -> Investigation:
    """No hypothesis at all, LLM degraded, a partial run: the note says what is missing."""
    inv = rich(llm=False, inv_id="99999999-8888-7777-6666-555555555555")
    return inv.model_copy(
        update={
            "analysis": Analysis(
                insufficient=InsufficientEvidence(missing=["no exemplars on the alert metric"])
            ),
            "remediation": None,
            "llm": LLMReport(enabled=True, degraded=True, reason="LLM endpoint unreachable"),
            "partial": "evidence deadline reached",
        }
    )


def _span(
    span_id: str,
    parent: str | None,
    name: str,
    service: str,
    start_ms: float,
    dur_ms: float,
    *,
    error: bool = False,
) -> Span:
    start = T0 - timedelta(seconds=30) + timedelta(milliseconds=start_ms)
    return Span(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start=start,
        end=start + timedelta(milliseconds=dur_ms),
        status=SpanStatus.ERROR if error else SpanStatus.OK,
        status_message="UNAVAILABLE: connection refused" if error else "",
        resource=Resource(service=service),
    )


def with_telemetry(inv: Investigation) -> Investigation:
    """``inv`` plus an exemplar trace, its log lines, a metric series and a deploy marker."""
    assert inv.evidence is not None
    spans = [
        _span("a000000000000001", None, "POST /api/checkout", "frontend", 0, 120, error=True),
        _span("a000000000000002", "a000000000000001", "PlaceOrder", "checkout", 5, 110, error=True),
        _span("a000000000000003", "a000000000000002", "GetCart", "cart", 8, 12),
        _span("a000000000000004", "a000000000000002", "Charge", "payment", 30, 80, error=True),
    ]
    trace = TraceEvidence(
        evidence_id=f"trace:{TRACE}",
        trace=Trace(trace_id=TRACE, spans=spans),
        analysis=TraceAnalysis(
            root_service="frontend",
            error_span_ids=["a000000000000001", "a000000000000002", "a000000000000004"],
            root_error_span_id="a000000000000004",
            root_error_service="payment",
        ),
    )
    logs = TraceLogs(
        evidence_id=f"logs:{TRACE}",
        trace_id=TRACE,
        lines=[
            LogLine(
                timestamp=T0 - timedelta(seconds=30) + timedelta(milliseconds=90),
                line="failed to charge card: <b>connection refused</b>",
                service="checkout",
                level="error",
                trace_id=TRACE,
                span_id="a000000000000002",
            )
        ],
    )
    start = inv.evidence.window.start.timestamp()
    points = [(start + 60 * i, 0.002 if i < 14 else 0.079) for i in range(17)]
    points.append((start + 60 * 17, float("nan")))
    metric = MetricSeries(
        evidence_id="metric:error_ratio",
        name="error_ratio",
        query='sum(rate(http_server_requests_total{status=~"5.."}[1m]))',
        points=points,
        service="checkout",
    )
    change = Change(
        evidence_id="deploy:checkout:1.4.2",
        service="checkout",
        kind=ChangeKind.DEPLOY,
        time=T0 - timedelta(minutes=3),
        source="deploy_api",
        from_version="1.4.1",
        to_version="1.4.2",
    )
    bundle = inv.evidence.model_copy(
        update={"traces": [trace], "trace_logs": [logs], "metrics": [metric], "changes": [change]}
    )
    return inv.model_copy(update={"evidence": bundle})
