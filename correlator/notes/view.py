"""The note's view model: what a note says, computed once from an ``Investigation``.

Templates (``correlator/notes/templates``) only format this mapping; every decision (which
hypothesis leads, which evidence is cited, what could not be checked) is made here so the
Markdown, Slack and PagerDuty renderings always agree. Values are raw (untrusted) strings:
each template escapes them for its own target format.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from correlator.models import (
    AlertStatus,
    Evidence,
    EvidenceStatus,
    Hypothesis,
    Investigation,
    InvestigationStatus,
)
from correlator.models.alert import alert_service
from correlator.notes.feedback import learning_view
from correlator.notes.verdict import (
    build_verdict,
    change_view,
    fmt_ms,
    less_likely,
    merged_changes,
)
from correlator.settings import SERVICE_LABELS

PHASES = ("running", "rules", "llm", "resolved")
_UNCHECKED = {EvidenceStatus.ERROR, EvidenceStatus.TIMEOUT, EvidenceStatus.NOT_CONFIGURED}
_SAFE_SCHEMES = ("http://", "https://")
_SPACE = re.compile(r"\s")  # the same characters as str.isspace (checked over all code points)
_BACKENDS = {
    "prometheus": "Prometheus",
    "tempo": "Tempo",
    "loki": "Loki",
    "grafana": "Grafana",
    "correlator": "Deploy API",
}
RUNNERS_UP = 2
TRACE_LINKS = 3  # the span quote links its own trace; the rest are on the investigation page
Redact = Callable[[str], str]


def _no_redaction(text: str) -> str:
    return text


def investigation_url(public_url: str, investigation_id: str) -> str:
    return f"{public_url.rstrip('/')}/ui/investigations/{investigation_id}"


def safe_link(url: str | None) -> str | None:
    """Only absolute http(s) links without whitespace; anything else is dropped (never fetched)."""
    if not url or not url.startswith(_SAFE_SCHEMES):
        return None
    if _SPACE.search(url) is not None:  # one C scan; links carry whole PromQL expressions
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


def _why(h: Hypothesis, by_id: dict[str, Evidence]) -> list[dict[str, Any]]:
    """The top hypothesis' cited evidence, compact: changes are in the verdict's change line,
    traces collapse into one line (count, duration range, errors) with a link per trace."""
    cited = [by_id[i] for i in h.evidence_ids if i in by_id]
    traces = [e for e in cited if str(e.kind) == "trace"]
    out: list[dict[str, Any]] = [
        {
            "source": e.source,
            "summary": e.summary or e.query or e.id,
            "link": safe_link(e.link),
            "links": [],
        }
        for e in cited
        if str(e.kind) not in ("trace", "change")
    ]
    if traces:
        links = [link for e in traces if (link := safe_link(e.link))][:TRACE_LINKS]
        n = len(traces)
        text = f"{n} incident trace{'s' if n != 1 else ''} cited"
        text += f" (links to {len(links)})" if 0 < len(links) < n else ""
        out.insert(0, {"source": "tempo", "summary": text, "link": None, "links": links})
    return out


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


def _backend_name(source: str) -> str:
    return _BACKENDS.get(source, source)


def _unchecked(inv: Investigation, *, llm_on: bool) -> list[tuple[str, str]]:
    """What could not be checked as (short, full) lines: one per backend and failure, not one
    per query ("Loki: not configured" once, "(12 queries)" in the full line)."""
    items = inv.evidence.items if inv.evidence else []
    groups: dict[tuple[str, str], list[Evidence]] = {}
    for ev in items:
        if ev.status in _UNCHECKED:
            groups.setdefault((ev.source, str(ev.status)), []).append(ev)
    out: list[tuple[str, str]] = []
    for (source, status), evs in groups.items():
        short = f"{_backend_name(source)}: {status.replace('_', ' ')}"
        # "not configured" says it all; errors and timeouts say what went wrong
        errors = Counter(e.error for e in evs if e.error and status != "not_configured")
        detail = f": {min(errors, key=lambda e: (-errors[e], e))[:160]}" if errors else ""
        count = f" ({len(evs)} queries)" if len(evs) > 1 else ""
        out.append((short, f"{short}{detail}{count}"))
    llm = inv.llm
    if not llm_on:
        out.append(("LLM: skipped", "LLM: skipped, no model configured (rules only)"))
    elif llm.degraded:
        # harden's wording ("LLM analysis failed: <reason>"), grouped like the backends
        reason = llm.reason or "LLM analysis failed: unknown reason"
        full = reason if reason.startswith("LLM analysis") else f"LLM analysis failed: {reason}"
        out.append(("LLM: failed", full))
    for st in llm.stages:
        if st.status not in ("ok", "cached"):
            line = f"LLM stage {st.stage}: {st.status}"
            out.append((line, line + (f": {st.error}" if st.error else "")))
    if inv.partial:
        out.append(("investigation partial", f"investigation partial: {inv.partial}"))
    if inv.error:
        out.append(("investigation error", f"investigation error: {inv.error}"))
    return out


def _footer(inv: Investigation) -> dict[str, Any]:
    stages = [  # publishing notes is bookkeeping, not a stage of the analysis
        {"name": s.name, "time": fmt_ms(s.elapsed_ms), "status": s.status}
        for s in inv.stages
        if not s.name.startswith("notes")
    ]
    totals = inv.llm.totals()
    models = sorted({s.model for s in inv.llm.stages if s.model})
    total = ""
    if inv.started_at and inv.finished_at:
        total = fmt_ms((inv.finished_at - inv.started_at).total_seconds() * 1000)
    priced = any(s.cost_usd is not None for s in inv.llm.stages)
    return {
        "stages": stages,
        "total": total,
        "llm_calls": int(totals["calls"]),
        "tokens_in": int(totals["tokens_in"]),
        "tokens_out": int(totals["tokens_out"]),
        "cost": f"${totals['cost_usd']:.4f}" if priced else "",
        "models": models,
    }


def _inconclusive(inv: Investigation, hyps: list[Hypothesis]) -> dict[str, Any] | None:
    """No hypothesis and no "no fault" finding, or suspects that are all weak
    (``Analysis.inconclusive``): say so, what is missing and what to run next."""
    analysis = inv.analysis
    if analysis is not None and analysis.inconclusive and hyps:
        insufficient = analysis.insufficient
        return {
            "reason": f"no suspect is strong (the best has {_pct(hyps[0].confidence)}% "
            "confidence): treat the verdict as a lead",
            "missing": _missing(inv),
            "next_queries": list(insufficient.next_queries)[:5] if insufficient else [],
        }
    if inv.analysis is None and inv.status in (
        InvestigationStatus.QUEUED,
        InvestigationStatus.RUNNING,
    ):
        return None  # still running: not inconclusive yet
    if hyps or (analysis is not None and analysis.no_fault):
        return None
    insufficient = analysis.insufficient if analysis else None
    items = inv.evidence.items if inv.evidence else []
    if analysis is None:
        reason = "the investigation has not ranked hypotheses yet"
    elif items and not any(e.status is EvidenceStatus.OK for e in items):
        reason = "no evidence could be gathered: no backend query returned data"
    else:
        reason = "no hypothesis met the rules' evidence threshold"
    return {
        "reason": reason,
        "missing": _missing(inv),
        "next_queries": list(insufficient.next_queries)[:5] if insufficient else [],
    }


def _missing(inv: Investigation) -> list[str]:
    """What the rules found missing, less the failed queries "could not be checked" already
    names per backend (rules/insufficient.py words them "<kind> from <source> <status>")."""
    analysis = inv.analysis
    if analysis is None or analysis.insufficient is None:
        return []
    items = inv.evidence.items if inv.evidence else []
    failed = {f" from {e.source} {e.status}" for e in items if e.status in _UNCHECKED}
    return [m for m in analysis.insufficient.missing if not any(f in m for f in failed)]


def _action(inv: Investigation) -> str:
    rem = _remediation_view(inv)
    return str(rem["summary"]) if rem else ""


def _findings(inv: Investigation, redact: Redact) -> dict[str, Any]:
    """The hypothesis part of the view: verdict, its evidence, runners-up, other changes."""
    items = inv.evidence.items if inv.evidence else []
    by_id = {e.id: e for e in items}
    hyps = inv.analysis.hypotheses if inv.analysis else []
    merged = merged_changes(inv)
    onset = inv.evidence.onset if inv.evidence else None
    verdict = None
    if hyps:
        verdict = build_verdict(
            inv, hyps[0], merged, redact=redact, safe=safe_link, action=_action(inv)
        )
    culprit_ids = set(verdict["change"]["evidence_ids"]) if verdict and verdict["change"] else set()
    return {
        "top": _hypothesis_view(hyps[0], by_id) if hyps else None,
        "verdict": verdict,
        "why": _why(hyps[0], by_id) if hyps else [],
        "others": [_hypothesis_view(h, by_id) for h in hyps[1:4]],
        "runners_up": [
            {**_hypothesis_view(h, by_id), "less_likely": h.less_likely or less_likely(hyps[0], h)}
            for h in hyps[1 : 1 + RUNNERS_UP]
        ],
        "changes": [
            change_view(m, onset, safe_link)
            for m in merged
            if not culprit_ids.intersection(m.evidence_ids)
        ][:5],
        "inconclusive": _inconclusive(inv, hyps),
    }


def build_view(
    inv: Investigation,
    *,
    phase: str,
    public_url: str,
    llm_configured: bool = False,
    redact: Redact | None = None,
) -> dict[str, Any]:
    """The complete, format-neutral content of the note for ``inv`` at ``phase``.

    ``llm_configured``: an LLM is set up (the ``rules`` note is published before the LLM stage
    fills ``inv.llm``, so the note says "LLM analysis in progress", not "skipped").
    ``redact``: applied to quoted free text (log lines, statements); the composition root passes
    the LLM redactor so a note never shows what a prompt would not.
    """
    llm_on = inv.llm.enabled or llm_configured
    alert = inv.alert
    items = inv.evidence.items if inv.evidence else []
    resolved = inv.alert_status is AlertStatus.RESOLVED or phase == "resolved"
    found = inv.evidence.alert_service if inv.evidence else None
    service = found or alert_service(alert.labels, SERVICE_LABELS) or ""
    unchecked = _unchecked(inv, llm_on=llm_on)
    insufficient = inv.analysis.insufficient if inv.analysis else None
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
        **_findings(inv, redact or _no_redaction),
        "next_queries": list(insufficient.next_queries)[:5] if insufficient else [],
        "remediation": _remediation_view(inv),
        "unchecked": [full for _, full in unchecked],
        "unchecked_short": list(dict.fromkeys(short for short, _ in unchecked)),
        "insufficient": _missing(inv),
        "evidence": [_evidence_view(e) for e in items],
        # the thread lists what a reader follows up on; metric series and (merged) changes are
        # summarised above and all of them are on the investigation page
        "details": [_evidence_view(e) for e in items if str(e.kind) not in ("metric", "change")],
        "footer": _footer(inv),
        # learn: the track record beside the confidence and the human verdict in force; the
        # key is ``feedback`` because ``verdict`` is the note's own (the quoted finding)
        **_learning(inv),
    }


def _learning(inv: Investigation) -> dict[str, Any]:
    learned = learning_view(inv)
    return {"track_record": learned["track_record"], "feedback": learned["verdict"]}
