"""Pure view helpers for the investigation page: trace waterfall and metric timeline geometry.

Everything returns plain data (numbers, strings) that the autoescaped HTML templates draw; no
HTML is built here. Untrusted strings stay strings and are escaped by Jinja2.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from correlator.models import ChangeKind, Investigation, Span, TraceEvidence

MAX_SPANS = 300
SVG_W, SVG_H, PAD = 640.0, 140.0, 8.0


def exemplar_trace(inv: Investigation) -> TraceEvidence | None:
    """The trace to draw: one the top hypothesis cites, preferring one with an erroring root.

    Order: cited with a root-most error span, any exemplar trace with one, cited, exemplar.
    """
    traces = [t for t in (inv.evidence.traces if inv.evidence else []) if t.trace.spans]
    traces = [t for t in traces if not t.baseline]
    if not traces:
        return None
    top = inv.analysis.top if inv.analysis else None
    cited = top.evidence_ids if top else []

    def rank(t: TraceEvidence) -> tuple[int, int, int]:
        pos = cited.index(t.evidence_id) if t.evidence_id in cited else len(cited)
        return (0 if t.analysis.root_error_span_id else 1, 0 if t.from_exemplar else 1, pos)

    return min(traces, key=rank)


def _depths(spans: list[Span]) -> dict[str, int]:
    parent = {s.span_id: s.parent_span_id for s in spans}
    depth: dict[str, int] = {}
    for s in spans:
        d, cur, seen = 0, s.parent_span_id, {s.span_id}
        while cur and cur in parent and cur not in seen:
            seen.add(cur)
            d += 1
            cur = parent[cur]
        depth[s.span_id] = d
    return depth


def _preorder(spans: list[Span]) -> list[Span]:
    """Parents before children, siblings by start time (orphans are roots)."""
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for s in spans:
        key = s.parent_span_id if s.parent_span_id in ids else None
        children.setdefault(key, []).append(s)
    for lst in children.values():
        lst.sort(key=lambda s: (s.start, s.span_id))
    out: list[Span] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        s = stack.pop()
        out.append(s)
        stack.extend(reversed(children.get(s.span_id, [])))
    return out


def waterfall(te: TraceEvidence) -> dict[str, Any]:
    """Rows with offset/width in percent of the trace duration; root-most error highlighted."""
    spans = _preorder(te.trace.spans)[:MAX_SPANS]
    t0 = min(s.start for s in spans)
    t1 = max(s.end for s in spans)
    total = max((t1 - t0).total_seconds(), 1e-6)
    depth = _depths(spans)
    root_err = te.analysis.root_error_span_id
    rows = []
    for s in spans:
        left = (s.start - t0).total_seconds() / total * 100.0
        width = max((s.end - s.start).total_seconds() / total * 100.0, 0.3)
        rows.append(
            {
                "span_id": s.span_id,
                "name": s.name,
                "service": s.service,
                "depth": min(depth.get(s.span_id, 0), 20),
                "left": round(left, 2),
                "width": round(min(width, 100.0 - left), 2),
                "duration_ms": round(s.duration_ms, 1),
                "error": s.is_error,
                "root_error": s.span_id == root_err,
                "status_message": s.status_message,
            }
        )
    return {
        "trace_id": te.trace.trace_id,
        "evidence_id": te.evidence_id,
        "duration_ms": round(total * 1000.0, 1),
        "rows": rows,
        "truncated": len(te.trace.spans) > MAX_SPANS,
        "root_error_service": te.analysis.root_error_service,
    }


def trace_logs(inv: Investigation, trace_id: str, limit: int = 200) -> list[dict[str, Any]]:
    bundle = inv.evidence
    if bundle is None:
        return []
    out = []
    for tl in bundle.trace_logs:
        if tl.trace_id != trace_id:
            continue
        for ln in tl.lines[:limit]:
            out.append(
                {
                    "time": ln.timestamp.strftime("%H:%M:%S.%f")[:-3],
                    "level": ln.level or "",
                    "service": ln.service or "",
                    "span_id": ln.span_id or "",
                    "line": ln.line[:2000],
                }
            )
    return out


def _x(t: float, t0: float, t1: float) -> float:
    return PAD + (t - t0) / max(t1 - t0, 1e-9) * (SVG_W - 2 * PAD)


def metric_timeline(inv: Investigation) -> dict[str, Any] | None:
    """The first metric series as an SVG polyline, with deploy/change markers and the onset."""
    bundle = inv.evidence
    if bundle is None:
        return None
    series = next((m for m in bundle.metrics if len(_finite(m.points)) >= 2), None)
    if series is None:
        return None
    pts = _finite(series.points)
    t0 = min(bundle.window.start.timestamp(), pts[0][0])
    t1 = max(bundle.window.end.timestamp(), pts[-1][0])
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span = hi - lo or 1.0

    def y(v: float) -> float:
        return SVG_H - PAD - (v - lo) / span * (SVG_H - 2 * PAD)

    line = " ".join(f"{_x(t, t0, t1):.1f},{y(v):.1f}" for t, v in pts)
    markers: list[dict[str, Any]] = []
    for ch in sorted(bundle.changes, key=lambda c: c.time):
        ts = ch.time.timestamp()
        if not t0 <= ts <= t1:
            continue
        label = f"{ch.service} {ch.to_version or ch.to_commit or ch.flag_key or ch.kind}"
        x = round(_x(ts, t0, t1), 1)
        # the same change seen by several sources (deploy API, Grafana, traces) is drawn once
        if any(m["label"] == label and abs(m["x"] - x) < 12 for m in markers):
            continue
        markers.append(
            {
                "x": x,
                "label": label,
                "kind": "deploy" if ch.kind is ChangeKind.DEPLOY else str(ch.kind),
                "time": _hhmm(ch.time),
                "label_y": 12 + 12 * (len(markers) % 4),
            }
        )
    return {
        "name": series.name,
        "query": series.query,
        "width": SVG_W,
        "height": SVG_H,
        "points": line,
        "markers": markers,
        "onset_x": round(_x(bundle.onset.timestamp(), t0, t1), 1),
        "min": f"{lo:.4g}",
        "max": f"{hi:.4g}",
        "start": _hhmm(datetime.fromtimestamp(t0, tz=bundle.window.start.tzinfo)),
        "end": _hhmm(datetime.fromtimestamp(t1, tz=bundle.window.start.tzinfo)),
    }


def _hhmm(t: datetime) -> str:
    return t.strftime("%H:%M:%S")


def _finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return sorted((t, v) for t, v in points if math.isfinite(v) and math.isfinite(t))
