"""The note's view model: what a note says, computed once from an ``Investigation``.

Templates (``correlator/notes/templates``) only format this mapping; every decision (which
hypothesis leads, which evidence is cited, what could not be checked) is made here so the
Markdown, Slack and PagerDuty renderings always agree. Values are raw (untrusted) strings:
each template escapes them for its own target format.
"""

from __future__ import annotations

from typing import Any

from correlator.models import (
    AlertStatus,
    Evidence,
    EvidenceStatus,
    Hypothesis,
    Investigation,
)
from correlator.models.alert import alert_service
from correlator.notes.feedback import learning_view
from correlator.settings import SERVICE_LABELS

PHASES = ("rules", "llm", "resolved")
_UNCHECKED = {EvidenceStatus.ERROR, EvidenceStatus.TIMEOUT, EvidenceStatus.NOT_CONFIGURED}
_SAFE_SCHEMES = ("http://", "https://")


def investigation_url(public_url: str, investigation_id: str) -> str:
    return f"{public_url.rstrip('/')}/ui/investigations/{investigation_id}"


def safe_link(url: str | None) -> str | None:
    """Only absolute http(s) links without whitespace; anything else is dropped (never fetched)."""
    if not url or not url.startswith(_SAFE_SCHEMES):
        return None
    if any(c.isspace() for c in url):
        return None
    return url


def _pct(x: float) -> int:
    return round(x * 100)


def _evidence_view(ev: Evidence) -> dict[str, Any]:
    return {
        "id": ev.id,
        "kind": str(ev.kind),
        "source": ev.source,
        "status": str(ev.status),
        "summary": ev.summary or ev.query or ev.id,
        "link": safe_link(ev.link),
        "error": ev.error or "",
        "elapsed_ms": round(ev.elapsed_ms),
    }


def _hypothesis_view(h: Hypothesis, by_id: dict[str, Evidence]) -> dict[str, Any]:
    cited = [_evidence_view(by_id[i]) for i in h.evidence_ids if i in by_id]
    change = h.suspect_change
    return {
        "service": h.service,
        "fault_type": str(h.fault_type),
        "statement": h.statement,
        "confidence": _pct(h.confidence),
        "source": h.source,
        "evidence": cited,
        "suspect_change": change.summary if change else "",
        "suspect_hunk": (change.hunk or "") if change else "",
        "compare_url": safe_link(change.compare_url) if change else None,
    }


def _remediation_view(inv: Investigation) -> dict[str, Any] | None:
    top = inv.analysis.top if inv.analysis else None
    rem = inv.remediation or (top.remediation if top else None)
    if rem is None or str(rem.kind) == "none":
        return None
    return {
        "kind": str(rem.kind),
        "summary": rem.summary,
        "commands": list(rem.commands),
        "risk": rem.risk,
        "verify": rem.verify,
        "source": rem.source,
    }


def _unchecked(inv: Investigation, *, llm_on: bool) -> list[str]:
    out: list[str] = []
    items = inv.evidence.items if inv.evidence else []
    for ev in items:
        if ev.status in _UNCHECKED:
            what = ev.summary or ev.query or ev.id
            why = str(ev.status).replace("_", " ")
            detail = f": {ev.error}" if ev.error else ""
            out.append(f"{ev.source} {ev.kind} ({what}) {why}{detail}")
    llm = inv.llm
    if not llm_on:
        out.append("LLM analysis skipped: no model configured (rules only)")
    elif llm.degraded:
        reason = llm.reason or "LLM analysis failed: unknown reason"
        prefixed = reason.startswith("LLM analysis")
        out.append(reason if prefixed else f"LLM analysis failed: {reason}")
    for st in llm.stages:
        if st.status not in ("ok", "cached"):
            out.append(f"LLM stage {st.stage} {st.status}" + (f": {st.error}" if st.error else ""))
    if inv.partial:
        out.append(f"investigation partial: {inv.partial}")
    if inv.error:
        out.append(f"investigation error: {inv.error}")
    return out


def _fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{round(ms)} ms"


def _footer(inv: Investigation) -> dict[str, Any]:
    stages = [
        {"name": s.name, "time": _fmt_ms(s.elapsed_ms), "status": s.status} for s in inv.stages
    ]
    tokens_in = sum(s.tokens_in for s in inv.llm.stages)
    tokens_out = sum(s.tokens_out for s in inv.llm.stages)
    models = sorted({s.model for s in inv.llm.stages if s.model})
    total = ""
    if inv.started_at and inv.finished_at:
        total = _fmt_ms((inv.finished_at - inv.started_at).total_seconds() * 1000)
    return {
        "stages": stages,
        "total": total,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "models": models,
    }


def build_view(
    inv: Investigation, *, phase: str, public_url: str, llm_configured: bool = False
) -> dict[str, Any]:
    """The complete, format-neutral content of the note for ``inv`` at ``phase``.

    ``llm_configured``: an LLM is set up (the ``rules`` note is published before the LLM stage
    fills ``inv.llm``, so the note says "LLM analysis in progress", not "skipped").
    """
    llm_on = inv.llm.enabled or llm_configured
    alert = inv.alert
    items = inv.evidence.items if inv.evidence else []
    by_id = {e.id: e for e in items}
    hyps = inv.analysis.hypotheses if inv.analysis else []
    resolved = inv.alert_status is AlertStatus.RESOLVED or phase == "resolved"
    found = inv.evidence.alert_service if inv.evidence else None
    service = found or alert_service(alert.labels, SERVICE_LABELS) or ""
    return {
        "phase": phase,
        "id": inv.id,
        "url": investigation_url(public_url, inv.id),
        "alertname": alert.alertname,
        "severity": alert.severity or "none",
        "alert_status": "resolved" if resolved else "firing",
        "status": str(inv.status),
        "service": service or "",
        "summary": alert.annotations.get("summary", alert.annotations.get("description", "")),
        "starts_at": alert.starts_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "llm_pending": phase == "rules" and llm_on,
        "no_fault": bool(inv.analysis and inv.analysis.no_fault),
        "top": _hypothesis_view(hyps[0], by_id) if hyps else None,
        "others": [_hypothesis_view(h, by_id) for h in hyps[1:4]],
        "remediation": _remediation_view(inv),
        "unchecked": _unchecked(inv, llm_on=llm_on),
        "insufficient": list(inv.analysis.insufficient.missing)
        if inv.analysis and inv.analysis.insufficient
        else [],
        "evidence": [_evidence_view(e) for e in items],
        "footer": _footer(inv),
        **learning_view(inv),
    }
