"""``investigate``: one alert -> one Investigation, stage by stage.

Stages, in order (each records a ``StageTiming``, observes ``metrics.stage_seconds``, opens an
OpenTelemetry span under the investigation's trace and emits a ``stage`` event):

    alert     parse the alert: PromQL from ``generatorURL`` (``g0.expr``, else ``deps.rule_expr``),
              the time window [startsAt - lookback, startsAt + grace]
    evidence  ``deps.evidence``  (EvidenceStage)  -> EvidenceBundle   (the evidence issue)
    rules     ``deps.rules``     (RulesStage)     -> Analysis          (the rules issue)
    notes     ``deps.notes``     (NoteSink)       publish phase "running" first, then "rules"
    llm       ``deps.llm``       (LLMStage)       -> Investigation     (the llm issue)
    notes     ``deps.notes``     publish phase "llm" when the LLM stage ran

A hook left as ``None`` is skipped and named in ``Investigation.partial``; nothing is faked.
Hooks report their own failures in their results (evidence status envelopes); a hook raising a
``CorrelatorError`` marks its stage ``error`` and the pipeline continues with what it has. Any
other exception propagates to the worker, which marks the investigation failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from opentelemetry import trace

from correlator.errors import CorrelatorError
from correlator.llm.redact import Redactor, redact_model
from correlator.metrics import Metrics
from correlator.models import (
    EvidenceBundle,
    EvidenceStatus,
    Investigation,
    StageTiming,
    TimeWindow,
)
from correlator.models.alert import alert_service
from correlator.ports import (
    Checkpoint,
    EventSink,
    EvidenceStage,
    LLMStage,
    NoteSink,
    NoteText,
    RuleExprSource,
    RulesStage,
)
from correlator.settings import Settings
from correlator.telemetry import alert_attributes, investigation_context
from correlator.telemetry import tracer as default_tracer

log = logging.getLogger(__name__)


@dataclass
class PipelineDeps:
    """Optional collaborators of the pipeline; ``correlator.wiring`` fills them in."""

    events: EventSink | None = None
    notes: NoteSink | None = None
    checkpoint: Checkpoint | None = None  # persists progress after each stage (the worker's save)
    rule_expr: RuleExprSource | None = None  # alert stage: PromQL when generatorURL lacks g0.expr
    evidence: EvidenceStage | None = None
    rules: RulesStage | None = None
    llm: LLMStage | None = None
    tracer: trace.Tracer | None = None
    note_text: NoteText | None = None  # renders the note stored on the investigation
    extra: dict[str, object] = field(default_factory=dict)


class _Run:
    """The mutable state of one pipeline run (the investigation being built, and the tools)."""

    def __init__(self, inv: Investigation, deps: PipelineDeps, metrics: Metrics) -> None:
        self.inv = inv
        self.deps = deps
        self.metrics = metrics
        self.tracer = deps.tracer or default_tracer()

    async def emit(self, kind: str, payload: dict[str, object]) -> None:
        if self.deps.events is not None:
            await self.deps.events.emit(self.inv.id, kind, payload)

    @asynccontextmanager
    async def stage(self, name: str) -> AsyncIterator[dict[str, str]]:
        """Time a stage; the body may set ``outcome["status"]``/``outcome["detail"]``."""
        outcome = {"status": "ok", "detail": ""}
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        with self.tracer.start_as_current_span(f"stage {name}") as span:
            span.set_attribute("stage", name)
            try:
                yield outcome
            except CorrelatorError as exc:
                outcome.update(status="error", detail=str(exc)[:500])
                span.record_exception(exc)
                log.warning("stage %s failed: %s", name, exc)
            span.set_attribute("stage.status", outcome["status"])
        elapsed = time.perf_counter() - t0
        self.metrics.stage_seconds.labels(stage=name, status=outcome["status"]).observe(elapsed)
        timing = StageTiming(
            name=name,
            started_at=started,
            elapsed_ms=round(elapsed * 1000.0, 3),
            status=outcome["status"],
            detail=outcome["detail"],
        )
        self.inv = self.inv.model_copy(update={"stages": [*self.inv.stages, timing]})
        await self.emit("stage", timing.model_dump(mode="json"))
        if self.deps.checkpoint is not None:
            await self.deps.checkpoint(self.inv)


async def investigate(
    inv: Investigation, *, deps: PipelineDeps, settings: Settings, metrics: Metrics
) -> Investigation:
    """Run every configured stage on ``inv``; returns the investigation (status untouched)."""
    run = _Run(inv.model_copy(update={"stages": [], "partial": None, "error": None}), deps, metrics)
    service = alert_service(inv.alert.labels, settings.prometheus.service_labels) or ""
    attrs = alert_attributes(inv.alert.labels, service)
    with (
        investigation_context(inv.id),
        run.tracer.start_as_current_span("investigation", attributes=attrs) as root,
    ):
        root.set_attribute("investigation.id", inv.id)
        await run.emit("started", {"attempt": inv.attempts, **attrs})
        await _alert_stage(run, settings)
        await _analysis_stages(run, emails=settings.llm.redact_emails)
        run.inv = run.inv.model_copy(update={"partial": _partial(run.inv)})
        log.info(
            "pipeline finished",
            extra={"stages": [f"{t.name}:{t.status}" for t in run.inv.stages], **attrs},
        )
    return run.inv


def _partial(inv: Investigation) -> str | None:
    """Why the investigation is incomplete (skipped stages other than the optional LLM)."""
    skipped = [s.name for s in inv.stages if s.status == "skipped" and s.name != "llm"]
    if "evidence" in skipped and "rules" in skipped:
        return "evidence and rules stages not configured"
    return f"stages not run: {', '.join(skipped)}" if skipped else None


async def _alert_stage(run: _Run, settings: Settings) -> None:
    async with run.stage("alert") as outcome:
        alert = run.inv.alert
        expr, source = alert.expr, "generator_url"
        if expr is None and run.deps.rule_expr is not None:
            expr, source = await run.deps.rule_expr.alert_rule_expr(alert.alertname), "rules_api"
        window = TimeWindow(
            start=alert.starts_at
            - timedelta(seconds=settings.prometheus.exemplar_lookback_seconds),
            end=alert.starts_at + timedelta(seconds=settings.prometheus.exemplar_grace_seconds),
        )
        run.inv = run.inv.model_copy(
            update={"expr": expr, "window_start": window.start, "window_end": window.end}
        )
        outcome["detail"] = f"expr from {source}" if expr else "no PromQL expression found"


def redact_evidence(bundle: EvidenceBundle, *, emails: bool = False) -> EvidenceBundle:
    """The bundle with every secret replaced by a placeholder, counts in ``redactions``.

    Evidence is redacted here, once, as it enters: everything after (rules, the stored
    investigation, the UI, notes, prompts, logs) only ever sees the redacted copy (D3/D6).
    """
    redactor = Redactor(emails=emails)
    clean = redact_model(bundle, redactor)
    counts = dict(bundle.redactions)
    for kind, n in redactor.snapshot().items():
        counts[kind] = counts.get(kind, 0) + n
    return clean.model_copy(update={"redactions": dict(sorted(counts.items()))})


_FAILED = frozenset({EvidenceStatus.ERROR, EvidenceStatus.TIMEOUT})
_INTERNAL_SOURCES = frozenset({"correlator", "deploy_api"})  # our own store, not a backend


def evidence_health(bundle: EvidenceBundle) -> tuple[str, str]:
    """The evidence stage's status and detail from the backend queries in ``bundle``:

    ``ok`` (none failed), ``degraded`` (some failed: the rules work with the rest) or ``failed``
    (every backend query failed); the detail names each backend with its failure counts and
    first error, e.g. ``tempo: 3 timeout (not finished before the evidence deadline)``.
    """
    asked = [
        e
        for e in bundle.items
        if e.status != EvidenceStatus.NOT_CONFIGURED and e.source not in _INTERNAL_SOURCES
    ]
    failed = [e for e in asked if e.status in _FAILED]
    if not failed:
        return "ok", ""
    counts: dict[str, Counter[str]] = {}
    first: dict[str, str] = {}
    for e in failed:
        counts.setdefault(e.source, Counter())[str(e.status)] += 1
        first.setdefault(e.source, (e.error or "")[:120])
    reasons = "; ".join(
        f"{src}: {', '.join(f'{n} {st}' for st, n in sorted(c.items()))}"
        + (f" ({first[src]})" if first[src] else "")
        for src, c in sorted(counts.items())
    )
    if len(failed) == len(asked):
        return "failed", f"every backend query failed: {reasons}"
    return "degraded", f"{len(failed)} of {len(asked)} backend queries failed: {reasons}"


async def _analysis_stages(run: _Run, *, emails: bool) -> None:
    deps = run.deps
    bundle: EvidenceBundle | None = None
    if deps.notes is not None:
        async with run.stage("notes_running"):
            await deps.notes.publish(run.inv, phase="running")
    async with run.stage("evidence") as outcome:
        if deps.evidence is None:
            outcome.update(status="skipped", detail="no evidence stage configured")
        else:
            raw = await deps.evidence(run.inv)
            # a few hundred ms on a large bundle: off the event loop
            bundle = await asyncio.to_thread(redact_evidence, raw, emails=emails)
            run.inv = run.inv.model_copy(update={"evidence": bundle})
            status, detail = evidence_health(bundle)
            outcome.update(status=status, detail=detail)
    async with run.stage("rules") as outcome:
        if deps.rules is None or bundle is None:
            outcome.update(status="skipped", detail="no rules stage configured or no evidence")
        else:
            analysis = await deps.rules(run.inv, bundle)
            top = analysis.top
            remediation = top.remediation if top else None
            run.inv = run.inv.model_copy(update={"analysis": analysis, "remediation": remediation})
    _render_note(run, phase="rules")
    if deps.notes is not None:
        async with run.stage("notes"):
            await deps.notes.publish(run.inv, phase="rules")
    async with run.stage("llm") as outcome:
        if deps.llm is None:
            outcome.update(status="skipped", detail="LLM not configured")
        else:
            run.inv = await deps.llm(run.inv)
            _render_note(run, phase="llm")
    if deps.llm is not None and deps.notes is not None:
        async with run.stage("notes_llm"):
            await deps.notes.publish(run.inv, phase="llm")


def _render_note(run: _Run, *, phase: str) -> None:
    """Store the rendered note on the investigation (what the CLI prints and the API shows)."""
    if run.deps.note_text is not None and run.inv.analysis is not None:
        run.inv = run.inv.model_copy(update={"note": run.deps.note_text(run.inv, phase=phase)})
