"""Latency origin: where the extra time is spent on the critical path, vs baseline traces.

Exclusive (self) time is computed per span: its duration minus the union of its children. The
self time of a client span whose server child lives in another service is network time and is
charged to the callee as ``network`` (a delayed link); a client span carrying ``db.*`` is charged
to its service and tagged ``db``. With baseline traces the excess over the baseline median
counts; without them a service's share of the critical path counts (weaker).
"""

from __future__ import annotations

from collections import defaultdict

from correlator.models import Span, SpanKind, TraceEvidence
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult, children_of, median

Key = tuple[str, str]  # ("svc" | "net" | "db", service)


def _exclusive_ms(span: Span, kids: list[Span]) -> float:
    start, end = span.start, span.end
    intervals = sorted((max(k.start, start), min(k.end, end)) for k in kids if k.end > start)
    covered, cur_s, cur_e = 0.0, None, None
    for s, e in intervals:
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                covered += (cur_e - cur_s).total_seconds()
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e is not None and cur_s is not None:
        covered += (cur_e - cur_s).total_seconds()
    return max(0.0, span.duration_ms - covered * 1000.0)


def trace_breakdown(te: TraceEvidence) -> dict[Key, float]:
    spans = te.trace.spans
    kids = children_of(spans)
    on_path = set(te.analysis.critical_path)
    out: dict[Key, float] = defaultdict(float)
    for span in spans:
        if on_path and span.span_id not in on_path:
            continue
        children = kids.get(span.span_id, [])
        ex = _exclusive_ms(span, children)
        remote = [c for c in children if c.service != span.service]
        if span.kind is SpanKind.CLIENT and remote:
            out[("net", remote[0].service)] += ex
        else:
            out[("svc", span.service)] += ex
            if "db.system" in span.attributes or "db.statement" in span.attributes:
                out[("db", span.service)] += ex
    return dict(out)


def _medians(traces: list[TraceEvidence]) -> dict[Key, float]:
    per: dict[Key, list[float]] = defaultdict(list)
    rows = [trace_breakdown(te) for te in traces]
    keys = {k for r in rows for k in r}
    for k in keys:
        per[k] = [r.get(k, 0.0) for r in rows]
    return {k: median(v) for k, v in per.items()}


def latency_origin(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.LATENCY_ORIGIN)
    if not ctx.incident:
        return res
    now = _medians(ctx.incident)
    base = _medians(ctx.baseline) if ctx.baseline else {}
    excess: dict[Key, float] = {}
    for key, value in now.items():
        if key[0] == "db":
            continue
        b = base.get(key, 0.0)
        if ctx.baseline and value < ctx.t.latency_ratio * b:
            continue
        if value - b >= ctx.t.latency_min_excess_ms:
            excess[key] = value - b
    if not excess:
        return res
    top = max(excess.values())
    factor = 1.0 if ctx.baseline else 0.6
    ids = ctx.cite(*(te.evidence_id for te in ctx.incident))
    for (kind, service), ex in sorted(excess.items()):
        score = factor * ex / top
        b = base.get((kind, service), 0.0)
        what = "network time to" if kind == "net" else "self time in"
        res.add(
            service, score, ids, f"{what} {service}: {now[(kind, service)]:.0f} ms vs {b:.0f} ms"
        )
        if kind == "net":
            res.tag(service, "network_delay")
        else:
            db_now = now.get(("db", service), 0.0) - base.get(("db", service), 0.0)
            if db_now >= 0.5 * ex:
                res.tag(service, "db")
    return res
