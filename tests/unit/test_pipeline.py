import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import generate_latest

from correlator.errors import BackendTimeout
from correlator.metrics import Metrics
from correlator.models import (
    AlertmanagerWebhook,
    Analysis,
    EvidenceBundle,
    FaultType,
    Hypothesis,
    Investigation,
    InvestigationStatus,
    TimeWindow,
)
from correlator.pipeline import PipelineDeps, investigate
from correlator.settings import Settings
from correlator.telemetry import JsonFormatter, investigation_context, tracing_requested

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


def investigation(name: str = "alertmanager_webhook_01_firing.json") -> Investigation:
    hook = AlertmanagerWebhook.model_validate(json.loads((FIXTURES / name).read_text()))
    (alert,) = hook.to_alerts()
    now = datetime.now(UTC)
    return Investigation(
        id="inv-1",
        fingerprint=alert.fingerprint,
        alert=alert,
        alert_status=alert.status,
        status=InvestigationStatus.RUNNING,
        created_at=now,
        updated_at=now,
    )


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, object]]] = []

    async def emit(self, investigation_id: str, kind: str, payload: dict[str, object]) -> None:
        self.seen.append((investigation_id, kind, payload))


class Notes:
    def __init__(self) -> None:
        self.phases: list[str] = []

    async def publish(self, investigation: Investigation, *, phase: str) -> None:
        self.phases.append(phase)


def tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


async def test_without_hooks_only_the_alert_is_parsed_and_marked_partial() -> None:
    events, metrics = Events(), Metrics()
    provider, exporter = tracing()
    deps = PipelineDeps(events=events, tracer=provider.get_tracer("t"))
    out = await investigate(investigation(), deps=deps, settings=Settings(), metrics=metrics)
    assert out.expr == "demo_queue_depth > 5"
    assert out.partial == "evidence and rules stages not configured"
    assert out.evidence is None
    assert out.analysis is None
    assert [(s.name, s.status) for s in out.stages] == [
        ("alert", "ok"),
        ("evidence", "skipped"),
        ("rules", "skipped"),
        ("llm", "skipped"),
    ]
    assert [k for _, k, _ in events.seen] == ["started", "stage", "stage", "stage", "stage"]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans["investigation"]
    assert root.attributes is not None
    assert root.attributes["alertname"] == "DemoQueueBacklog"
    assert root.attributes["service"] == "checkout"
    assert root.attributes["team"] == "payments"
    assert spans["stage alert"].parent is not None
    assert spans["stage alert"].parent.span_id == root.context.span_id
    exposed = generate_latest(metrics.registry)
    assert b'correlator_stage_seconds_count{stage="alert",status="ok"} 1.0' in exposed


async def test_hooks_run_in_order_and_checkpoint_after_each_stage() -> None:
    notes = Notes()
    checkpoints: list[list[str]] = []

    async def evidence(inv: Investigation) -> EvidenceBundle:
        assert inv.window_start is not None
        assert inv.window_end is not None
        window = TimeWindow(start=inv.window_start, end=inv.window_end)
        return EvidenceBundle(alert=inv.alert, window=window, onset=inv.alert.starts_at)

    async def rules(inv: Investigation, bundle: EvidenceBundle) -> Analysis:
        hyp = Hypothesis(
            service="checkout",
            fault_type=FaultType.DATABASE_SLOW,
            statement="slow query",
            confidence=0.7,
        )
        return Analysis(hypotheses=[hyp])

    async def checkpoint(inv: Investigation) -> None:
        checkpoints.append([s.name for s in inv.stages])

    deps = PipelineDeps(notes=notes, evidence=evidence, rules=rules, checkpoint=checkpoint)
    out = await investigate(investigation(), deps=deps, settings=Settings(), metrics=Metrics())
    assert out.partial is None
    assert out.evidence is not None
    assert out.analysis is not None
    assert out.analysis.top is not None
    assert out.analysis.top.statement == "slow query"
    assert notes.phases == ["running", "rules"]  # the "investigating" card, then the verdict
    assert checkpoints[-1] == ["alert", "notes_running", "evidence", "rules", "notes", "llm"]
    assert len(checkpoints) == 6


async def test_a_backend_error_in_a_stage_is_recorded_not_raised() -> None:
    async def evidence(inv: Investigation) -> EvidenceBundle:
        raise BackendTimeout("prometheus", "deadline exceeded")

    deps = PipelineDeps(evidence=evidence)
    out = await investigate(investigation(), deps=deps, settings=Settings(), metrics=Metrics())
    stage = {s.name: s for s in out.stages}
    assert stage["evidence"].status == "error"
    assert "prometheus: deadline exceeded" in stage["evidence"].detail
    assert out.partial == "stages not run: rules"


async def test_legacy_alert_without_generator_url_asks_the_rule_source() -> None:
    class Rules:
        async def alert_rule_expr(self, alertname: str) -> str | None:
            return f"{alertname}_expr > 1"

    inv = investigation("prometheus-msteams_prom_post_request.json")
    out = await investigate(
        inv, deps=PipelineDeps(rule_expr=Rules()), settings=Settings(), metrics=Metrics()
    )
    assert out.expr == f"{inv.alert.alertname}_expr > 1"
    assert out.stages[0].detail == "expr from rules_api"


def test_json_logs_carry_investigation_and_trace_ids() -> None:
    provider, _ = tracing()
    record = logging.LogRecord(
        "correlator.x", logging.INFO, __file__, 1, "hello %s", ("you",), None
    )
    record.backend = "tempo"
    with (
        investigation_context("inv-42"),
        provider.get_tracer("t").start_as_current_span("s") as span,
    ):
        doc = json.loads(JsonFormatter().format(record))
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert doc["msg"] == "hello you"
    assert doc["investigation_id"] == "inv-42"
    assert doc["trace_id"] == trace_id
    assert doc["backend"] == "tempo"
    assert "investigation_id" not in json.loads(JsonFormatter().format(record))


def test_tracing_only_when_otlp_endpoint_is_set() -> None:
    assert not tracing_requested({})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318"})
    assert not tracing_requested(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}
    )


def test_backend_span_nests_under_the_current_span_and_records_errors() -> None:
    from opentelemetry import trace

    from correlator.telemetry import backend_span

    provider, exporter = tracing()
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("stage evidence"):
        try:
            with backend_span("tempo", "GET", "/api/v2/traces/abc", provider=provider):
                raise TimeoutError("slow")
        except TimeoutError:
            pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    call = spans["tempo GET /api/v2/traces/abc"]
    assert call.parent is not None
    assert call.parent.span_id == spans["stage evidence"].context.span_id
    assert call.status.status_code is trace.StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["backend"] == "tempo"
