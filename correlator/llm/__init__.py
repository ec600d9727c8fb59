"""Optional staged LLM refinement: digest (map) -> rank (reduce, cited) -> remediate (proposed).

The only package that uses litellm, and only lazily inside calls (``correlator --help`` never
imports it). Entry points:

- ``refine(bundle, analysis, settings=, metrics=, mode=, emit=, runtime=)`` -> ``LLMOutcome``:
  the final ``Analysis`` (LLM-ranked with ``source="llm"`` or the rules' ranking kept), the
  ``Remediation`` and the ``LLMReport`` (per-stage stats, degraded + reason, redaction counts).
- ``naive(bundle, analysis, ...)``: the benchmark baseline, all evidence in one prompt, one call.

Pass one ``LLMRuntime`` per process (breakers, rate limits and the stage cache live there);
without one, each call gets a fresh runtime (no cache or breaker memory across investigations).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from correlator.errors import LLMError
from correlator.llm.cache import MemoryCache, StageCache
from correlator.llm.client import LLMCallError, LLMRuntime
from correlator.llm.commands import CommandPolicy, default_policy
from correlator.llm.importer import warm_litellm
from correlator.llm.redact import Redactor
from correlator.llm.remediate import remediate
from correlator.llm.runner import Emit, Mode, Run
from correlator.llm.stages import chunks_for, digest, known_ids, ordered_ids, rank
from correlator.metrics import Metrics
from correlator.models import Analysis, EvidenceBundle, Investigation, LLMReport, Remediation
from correlator.ports import EventSink
from correlator.settings import LLMSettings

log = logging.getLogger(__name__)

__all__ = [
    "InvestigationRefiner",
    "LLMCallError",
    "LLMOutcome",
    "LLMRuntime",
    "MemoryCache",
    "StageCache",
    "failed",
    "naive",
    "redact_bundle",
    "refine",
    "start_run",
    "totals",
    "warm_litellm",
]


@dataclass(frozen=True)
class LLMOutcome:
    analysis: Analysis
    remediation: Remediation | None
    report: LLMReport


def redact_bundle(bundle: EvidenceBundle, redactor: Redactor) -> EvidenceBundle:
    """A copy of the bundle with every string (log lines, attributes, statements, labels...)
    redacted. Everything the prompts see comes from this copy."""
    data = redactor.tree(bundle.model_dump(mode="python"))
    return EvidenceBundle.model_validate(data)


def _rules_remediation(analysis: Analysis) -> Remediation | None:
    top = analysis.top
    return top.remediation if top is not None else None


def start_run(
    bundle: EvidenceBundle,
    analysis: Analysis,
    settings: LLMSettings,
    metrics: Metrics,
    mode: Mode,
    emit: Emit | None,
    runtime: LLMRuntime | None,
    prompts_dir: Path | None,
    commands: CommandPolicy | None = None,
) -> Run:
    redactor = Redactor(emails=settings.redact_emails)
    clean = redact_bundle(bundle, redactor)
    return Run(
        bundle=clean,
        analysis=analysis,
        settings=settings,
        metrics=metrics,
        runtime=runtime or LLMRuntime(),
        mode=mode,
        redactor=redactor,
        emit=emit,
        prompts_dir=prompts_dir,
        commands=commands or default_policy(),
        known_ids=known_ids(clean),
        id_map={
            r: o for r, o in zip(ordered_ids(clean), ordered_ids(bundle), strict=True) if r != o
        },
    )


def failed(why: str) -> str:
    """The one wording of an LLM failure in the report and the note (D1)."""
    return f"LLM analysis failed: {why}; rules result kept"


def _mark_running(run: Run, status: str) -> None:
    for st in run.report.stages:
        if st.status == "running":
            st.status = status


def _finish(run: Run, final: Analysis, rem: Remediation | None, reason: str | None) -> LLMOutcome:
    report = run.report
    counts = dict(run.bundle.redactions)  # redacted where the evidence entered (pipeline)
    for kind, n in run.redactor.snapshot().items():  # caught again here (safety net)
        counts[kind] = counts.get(kind, 0) + n
    report.redactions = dict(sorted(counts.items()))
    bad = [s for s in report.stages if s.status not in ("ok", "skipped")]
    if reason is None and bad:
        why = "; ".join(f"{s.stage}: {s.status} ({s.error or 'see stats'})" for s in bad)
        ranked = any(s.stage in ("rank", "naive") and s.status == "ok" for s in report.stages)
        reason = f"LLM analysis partial: {why}" if ranked else failed(why)
    report.degraded = reason is not None
    report.reason = reason
    return LLMOutcome(analysis=final, remediation=rem, report=report)


async def refine(
    bundle: EvidenceBundle,
    analysis: Analysis,
    *,
    settings: LLMSettings,
    metrics: Metrics,
    mode: Mode,
    emit: Emit | None = None,
    runtime: LLMRuntime | None = None,
    prompts_dir: Path | None = None,
    commands: CommandPolicy | None = None,
) -> LLMOutcome:
    """Refine the rules' analysis with the staged LLM; never raises for LLM trouble."""
    if not settings.enabled:
        return LLMOutcome(analysis, _rules_remediation(analysis), LLMReport(enabled=False))
    # Redacting a large bundle takes a few hundred ms: keep it off the event loop.
    try:
        run = await asyncio.to_thread(
            start_run,
            bundle,
            analysis,
            settings,
            metrics,
            mode,
            emit,
            runtime,
            prompts_dir,
            commands,
        )
    except Exception as e:  # boundary: an LLM problem never costs the rules answer
        log.exception("LLM preparation failed; rules result kept")
        report = LLMReport(enabled=True, degraded=True, reason=failed(f"{type(e).__name__}: {e}"))
        return LLMOutcome(analysis, _rules_remediation(analysis), report)
    final, rem = analysis, _rules_remediation(analysis)
    reason: str | None = None
    try:
        async with asyncio.timeout(settings.deadline_seconds):
            chunks = chunks_for(run)
            facts = await digest(run, chunks)
            ranked = await rank(run, chunks, facts)
            if ranked is not None:
                final = ranked
                rem = final.top.remediation if final.top else None
            llm_rem = await remediate(run, final)
            if llm_rem is not None:
                rem = llm_rem
    except TimeoutError:
        reason = failed(f"deadline of {settings.deadline_seconds:g}s exceeded")
        _mark_running(run, "timeout")
    except LLMError as e:
        reason = failed(f"LLM unavailable ({e}); what it finished before is kept")
    except Exception as e:  # boundary: an LLM problem never costs the rules answer
        log.exception("LLM refinement failed; rules result kept")
        reason = failed(f"{type(e).__name__}: {str(e)[:300]}")
        _mark_running(run, "error")
        final, rem = analysis, _rules_remediation(analysis)
    outcome = _finish(run, final, rem, reason)
    await run.event(
        "llm.done", {"degraded": outcome.report.degraded, "reason": outcome.report.reason}
    )
    return outcome


async def naive(
    bundle: EvidenceBundle,
    analysis: Analysis,
    *,
    settings: LLMSettings,
    metrics: Metrics,
    runtime: LLMRuntime | None = None,
    prompts_dir: Path | None = None,
) -> LLMOutcome:
    """Benchmark baseline: all (redacted) evidence in one prompt, one non-streaming call."""
    if not settings.enabled:
        return LLMOutcome(analysis, _rules_remediation(analysis), LLMReport(enabled=False))
    run = await asyncio.to_thread(
        start_run, bundle, analysis, settings, metrics, "batch", None, runtime, prompts_dir
    )
    final, reason = analysis, None
    try:
        async with asyncio.timeout(settings.deadline_seconds):
            ranked = await rank(run, [], None, stage="naive")
        if ranked is not None:
            final = ranked
    except TimeoutError:
        reason = failed(f"deadline of {settings.deadline_seconds:g}s exceeded")
    except LLMError as e:
        reason = failed(f"LLM unavailable ({e})")
    return _finish(run, final, _rules_remediation(final), reason)


@dataclass
class InvestigationRefiner:
    """The pipeline's ``LLMStage``: refines an investigation that has evidence and an analysis.

    Progress goes to ``events`` (SSE); build one per process with a shared ``runtime``.
    """

    settings: LLMSettings
    metrics: Metrics
    runtime: LLMRuntime
    mode: Mode = "stream"
    events: EventSink | None = None
    prompts_dir: Path | None = None
    commands: CommandPolicy | None = None  # from rules/remediation.yaml (wiring)

    async def __call__(self, inv: Investigation) -> Investigation:
        if inv.evidence is None or inv.analysis is None:
            return inv
        emit: Emit | None = None
        if self.events is not None:
            sink = self.events

            async def emit(kind: str, payload: dict[str, object]) -> None:
                await sink.emit(inv.id, kind, payload)

        out = await refine(
            inv.evidence,
            inv.analysis,
            settings=self.settings,
            metrics=self.metrics,
            mode=self.mode,
            emit=emit,
            runtime=self.runtime,
            prompts_dir=self.prompts_dir,
            commands=self.commands,
        )
        return inv.model_copy(
            update={"analysis": out.analysis, "remediation": out.remediation, "llm": out.report}
        )


def totals(report: LLMReport) -> dict[str, float]:
    """Per-investigation LLM cost (see ``LLMReport.totals``)."""
    return report.totals()
