"""The verdict block of a note: culprit change, decisive span, decisive log line, action.

Built once per note from the investigation (``build_verdict``) as plain, untrusted strings;
templates escape them per target. Links come only from ``Evidence.link`` (built from configured
Grafana/Prometheus base URLs by the evidence chain) or a change's compare URL (configured
template): never from a URL found in a payload.

``diff`` is the culprit change's top hunk (issue [diff]): ``{"quote": str, "path": str,
"hunk": str, "link": str | None}``: ``quote`` is the one-line "Changed:" quote
(``SuspectChange.hunk``, e.g. ``7a3f9c2 orders/history.go +12: SELECT ...``), ``hunk`` the hunk's
lines when the evidence kept them, ``link`` the compare view; every template shows it after the
change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from correlator.models import ChangeDiff, Evidence, Hypothesis, Investigation
from correlator.notes.changes import MergedChange, find_merged, merge_changes
from correlator.notes.quotes import (
    FlagQuote,
    LogQuote,
    SpanQuote,
    decisive_log,
    decisive_span,
    flags_in_play,
)

Redact = Callable[[str], str]
SafeLink = Callable[[str | None], str | None]
_VERSIONED = frozenset({"deploy", "version_change"})
_KIND_NAMES = {"config": "config change", "feature_flag": "flag change"}
_CHANGE_FAULTS = frozenset({"deploy_regression", "config_change", "feature_flag"})
# "less likely because ..." per rules signal: (the runner-up has none, it has less)
_WEAKER = {
    "change": ("no change of its own shortly before onset", "its change is further from onset"),
    "error_origin": ("its traces show no root-most errors", "fewer root-most errors in its spans"),
    "latency_origin": ("no extra self time in its spans", "less extra self time in its spans"),
    "logs": ("no new error log pattern", "fewer new error log lines"),
    "topology": ("it is not upstream of the failing calls", "it is less central to the failures"),
    "resource": ("no resource saturation", "weaker resource saturation"),
    "traffic": ("no traffic change", "a smaller traffic change"),
}


def fmt_ms(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{round(ms)} ms"


def fmt_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _relative(t: datetime, onset: datetime | None) -> str:
    if onset is None:
        return ""
    minutes = round((onset - t).total_seconds() / 60)
    if minutes == 0:
        return "at onset"
    side = "before" if minutes > 0 else "after"
    return f"{abs(minutes)} min {side} onset"


def change_view(m: MergedChange, onset: datetime | None, safe: SafeLink) -> dict[str, Any]:
    """One rollout as one line's parts; no unknown value is shown as ``?``."""
    if m.to_version and m.from_version and m.from_version != m.to_version:
        versions = f"{m.from_version} -> {m.to_version}"
    elif m.to_version and m.kind in _VERSIONED:
        versions = f"{m.to_version} (previous version not recorded)"
    elif m.to_version:
        versions = m.to_version
    else:
        versions = ""
    to_c, from_c = (m.to_commit or "")[:12], (m.from_commit or "")[:12]
    commits = f"{from_c} -> {to_c}" if to_c and from_c and from_c != to_c else to_c
    return {
        "service": m.service,
        "kind": _KIND_NAMES.get(m.kind, m.kind.replace("_", " ")),
        "versions": versions,
        "commit": to_c,
        "commits": commits,
        "flag_key": m.flag_key or "",
        "time": fmt_time(m.time),
        "relative": _relative(m.time, onset),
        "sources": list(m.sources),
        "description": (m.description or "")[:200],
        "link": safe(m.url),
        "evidence_ids": list(m.evidence_ids),
    }


def _suspect_view(hyp: Hypothesis) -> dict[str, Any] | None:
    """The hypothesis' own suspect change when no gathered change matches it (an LLM may name
    one from a description): what it says, nothing invented."""
    sc = hyp.suspect_change
    if sc is None:
        return None
    return {
        "service": sc.service,
        "kind": sc.kind.replace("_", " "),
        "versions": f"{sc.version} (previous version not recorded)" if sc.version else "",
        "commit": (sc.commit or "")[:12],
        "commits": (sc.commit or "")[:12],
        "flag_key": "",
        "time": "",
        "relative": "",
        "sources": [],
        "description": sc.summary[:200],
        "link": None,
        "evidence_ids": [sc.evidence_id],
    }


def _flag_view(f: FlagQuote) -> dict[str, Any]:
    return {"key": f.key, "variant": f.variant or "", "baseline_variant": f.baseline_variant or ""}


def _span_view(s: SpanQuote, link: str | None) -> dict[str, Any]:
    if s.baseline_ms is not None:
        baseline = f"baseline {fmt_ms(s.baseline_ms)}"
    elif s.baseline_traces:
        n = s.baseline_traces
        baseline = f"absent from the {n} baseline trace{'s' if n != 1 else ''}"
    else:
        baseline = "no baseline trace to compare"
    return {
        "service": s.service,
        "name": s.name,
        "statement": s.statement or "",
        "peer": s.peer or "",
        "duration": fmt_ms(s.duration_ms),
        "baseline": baseline,
        "seen": f"{s.count}/{s.of} incident traces",
        "reason": s.reason,
        "status_message": s.status_message or "",
        "attributes": [f"{k}={v}" for k, v in s.attributes],
        "trace_id": s.trace_id,
        "link": link,
    }


def _log_view(q: LogQuote, link: str | None) -> dict[str, Any]:
    where = "on this span" if q.on_span else ("in this trace" if q.trace_id else "new pattern")
    return {
        "line": q.line,
        "service": q.service or "",
        "level": q.level or "",
        "trace_id": q.trace_id or "",
        "where": where,
        "link": link,
    }


def _culprit(
    hyp: Hypothesis, merged: Sequence[MergedChange], onset: datetime | None
) -> MergedChange | None:
    if hyp.suspect_change is not None:
        found = find_merged(merged, hyp.suspect_change.evidence_id)
        if found is not None:
            return found
    if str(hyp.fault_type) not in _CHANGE_FAULTS:
        return None
    before = [m for m in merged if m.service == hyp.service and (onset is None or m.time <= onset)]
    return before[0] if before else None


HUNK_LINES = 12  # the thread quotes the top hunk's first lines; the compare view has the rest


def _diff_view(
    hyp: Hypothesis, diffs: Sequence[ChangeDiff], redact: Redact, safe: SafeLink
) -> dict[str, Any] | None:
    """The suspect change's top hunk: the one-line quote and, when kept, the hunk itself."""
    sc = hyp.suspect_change
    if sc is None or not (sc.hunk or sc.compare_url):
        return None
    found = next((d for d in diffs if sc.diff_id and d.evidence_id == sc.diff_id), None)
    top = found.top if found else None
    hunk = "\n".join([top.header, *top.lines[:HUNK_LINES]]) if top else ""
    return {
        "quote": redact(sc.hunk or ""),
        "path": top.path if top else "",
        "hunk": redact(hunk),
        "link": safe(sc.compare_url or (found.url if found else None)),
    }


def build_verdict(
    inv: Investigation,
    hyp: Hypothesis,
    merged: Sequence[MergedChange],
    *,
    redact: Redact,
    safe: SafeLink,
    action: str,
) -> dict[str, Any]:
    """The verdict of ``hyp``: what changed, what the traces and logs show, what to do."""
    bundle = inv.evidence
    onset = bundle.onset if bundle else None
    change = _culprit(hyp, merged, onset)
    span = log = None
    flags: list[FlagQuote] = []
    links: dict[str, str | None] = {}
    if bundle is not None:
        links = evidence_links(bundle.items, safe)
        span = decisive_span(bundle, hyp, redact)
        log = decisive_log(bundle, hyp, span, redact)
        flags = flags_in_play(bundle, hyp, change.service if change else hyp.service)
    return {
        "confidence": round(hyp.confidence * 100),
        "fault": str(hyp.fault_type).replace("_", " "),
        "service": hyp.service,
        "statement": hyp.statement,
        "source": hyp.source,
        "change": change_view(change, onset, safe) if change else _suspect_view(hyp),
        "flags": [_flag_view(f) for f in flags],
        "span": _span_view(span, links.get(span.evidence_id)) if span else None,
        "log": _log_view(log, links.get(log.evidence_id)) if log else None,
        "diff": _diff_view(hyp, bundle.diffs if bundle else [], redact, safe),
        "action": action,
    }


def less_likely(top: Hypothesis, other: Hypothesis) -> str:
    """Why ``other`` ranks below ``top``: the two signals where it trails the most."""
    gaps = []
    for signal, score in top.scores.items():
        gap = score - other.scores.get(signal, 0.0)
        if gap > 0:
            gaps.append((-gap, signal))
    reasons = []
    for _, signal in sorted(gaps)[:2]:
        none, weaker = _WEAKER.get(signal, (f"no {signal} signal", f"a weaker {signal} signal"))
        reasons.append(none if other.scores.get(signal, 0.0) <= 0 else weaker)
    if not reasons:
        return f"lower overall confidence ({round(other.confidence * 100)}%)"
    return "; ".join(reasons)


def merged_changes(inv: Investigation) -> list[MergedChange]:
    return merge_changes(inv.evidence.changes) if inv.evidence else []


def evidence_links(items: Sequence[Evidence], safe: SafeLink) -> dict[str, str | None]:
    return {e.id: safe(e.link) for e in items}
