"""Memory of past incidents as evidence: the signature of a bundle and the ``memory`` envelope.

The signature says what "the same problem" means (docs/feedback.md): the same alert rule and
service, then the failing operation (service and span name of the root-most error span of an
exemplar trace), the kind of change before the onset and the error log templates (hashed, so
the memory table holds no log text). ``attach`` turns what ``IncidentRecall.recall`` found into
an evidence item ("3 similar incidents in 30 days; 2 confirmed: ...") that rules may cite as a
prior and the LLM rank stage reads like any other evidence (redacted with the bundle).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import datetime

from correlator.models import (
    Evidence,
    EvidenceBundle,
    EvidenceKind,
    EvidenceStatus,
    IncidentMemory,
    IncidentSignature,
    Verdict,
)
from correlator.ports import IncidentRecall

MAX_TEMPLATES = 10
_ERROR_LEVELS = {"error", "err", "fatal", "critical", "panic", "exception"}


def _template_hash(template: str) -> str:
    return hashlib.sha256(" ".join(template.split()).encode()).hexdigest()[:16]


def _operation(bundle: EvidenceBundle) -> str:
    for te in bundle.traces:
        if te.baseline or not te.analysis.root_error_span_id:
            continue
        span = next(
            (s for s in te.trace.spans if s.span_id == te.analysis.root_error_span_id), None
        )
        if span is not None:
            return f"{span.service} {span.name}"[:512]
    return ""


def _change_kind(bundle: EvidenceBundle) -> str:
    before = [c for c in bundle.changes if c.time <= bundle.onset]
    return str(max(before, key=lambda c: c.time).kind) if before else ""


def signature(bundle: EvidenceBundle, *, service: str) -> IncidentSignature:
    """The evidence signature of ``bundle`` (pure; same bundle, same signature)."""
    counts: Counter[str] = Counter()
    for sp in bundle.log_patterns:
        for p in sp.patterns:
            if p.is_new or (p.level or "").lower() in _ERROR_LEVELS:
                counts[_template_hash(p.template)] += p.count
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TEMPLATES]
    return IncidentSignature(
        alertname=bundle.alert.alertname,
        service=service,
        operation=_operation(bundle),
        change_kind=_change_kind(bundle),
        templates=sorted(h for h, _ in top),
    )


def summary(memory: IncidentMemory) -> str:
    """ "3 similar incidents in 30 days; 2 confirmed: X, fixed by Y" (the first confirmed)."""
    n = memory.similar_count
    head = f"{n} similar incident{'s' if n != 1 else ''} in {memory.window_days} days"
    confirmed = [p for p in memory.similar if p.cause and p.verdict is not Verdict.WRONG]
    wrong = [p for p in memory.similar if p.verdict is Verdict.WRONG]
    if confirmed:
        first = confirmed[0]
        head += f"; {len(confirmed)} confirmed: {first.cause}"
        if first.fix:
            head += f", fixed by {first.fix}"
    elif wrong:
        head += f"; {len(wrong)} marked wrong"
    return head[:500]


def attach(bundle: EvidenceBundle, memory: IncidentMemory, elapsed_ms: float) -> EvidenceBundle:
    """``bundle`` with the memory and, when similar incidents exist, its evidence item. With
    nothing remembered (no similar incident, no verdict yet) the bundle is left as it was."""
    if not (memory.similar_count or memory.alert_record.total or memory.fault_records):
        return bundle
    items = list(bundle.items)
    if memory.similar_count:
        items.append(
            Evidence(
                id=memory.evidence_id,
                kind=EvidenceKind.MEMORY,
                status=EvidenceStatus.OK,
                source="correlator",
                query=f"same alert rule and service, similar evidence, last {memory.window_days}d",
                elapsed_ms=round(elapsed_ms, 3),
                summary=summary(memory),
                service=bundle.alert_service,
            )
        )
    return bundle.model_copy(update={"memory": memory, "items": items})


async def with_memory(
    bundle: EvidenceBundle,
    recall: IncidentRecall,
    *,
    investigation_id: str,
    service: str,
    at: datetime,
    window_days: int = 30,
) -> EvidenceBundle:
    """Remember this incident's signature (at ``at``, the alert's start) and attach what is
    recalled of similar incidents in the ``window_days`` before it."""
    sig = signature(bundle, service=service)
    t0 = time.perf_counter()
    memory = await recall.recall(sig, exclude_id=investigation_id, at=at, window_days=window_days)
    elapsed = (time.perf_counter() - t0) * 1000.0
    await recall.remember(sig, investigation_id, at)
    return attach(bundle, memory, elapsed)


def memory_failed(bundle: EvidenceBundle, error: str) -> EvidenceBundle:
    """``bundle`` with an ``error`` envelope saying the memory lookup failed (never raises)."""
    item = Evidence(
        id="memory:similar",
        kind=EvidenceKind.MEMORY,
        status=EvidenceStatus.ERROR,
        source="correlator",
        query="similar past incidents",
        error=error,
        summary="memory of past incidents",
    )
    return bundle.model_copy(update={"items": [*bundle.items, item]})
