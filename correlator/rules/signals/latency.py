"""Latency origin: where the extra time is spent on the critical path, vs baseline traces.

Exclusive (self) time is computed per span: its duration minus the union of its children. The
self time of a client span whose server child lives in another service is network time and is
charged to the callee as ``network`` (a delayed link); a client span carrying ``db.*`` is charged
to its service and tagged ``db``. With baseline traces the excess over the baseline median
counts; without them a service's share of the critical path counts (weaker).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from correlator.models import Span, TraceEvidence
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import (
    CALL_KINDS,
    Context,
    SignalResult,
    children_of,
    host_of,
    is_db,
    median,
    peer_of,
    statement_of,
)

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


def trace_breakdown(te: TraceEvidence, backends: set[str]) -> dict[Key, float]:
    """Exclusive ms per key: ("svc", service), ("net", callee), ("db", service) and
    ("call", "caller|backend|statement") for calls into uninstrumented backends."""
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
        peer = peer_of(span)
        host = host_of(peer) if peer else ""
        if span.kind in CALL_KINDS and remote:
            out[("net", remote[0].service)] += ex
        elif span.kind in CALL_KINDS and not children and host in backends:
            what = statement_of(span) or span.name
            out[("call", f"{span.service}|{host}|{what}")] += ex
            if is_db(span):
                out[("db", span.service)] += ex
        else:
            out[("svc", span.service)] += ex
            if is_db(span):
                out[("db", span.service)] += ex
    return dict(out)


def _rows(traces: list[TraceEvidence], backends: set[str]) -> list[dict[Key, float]]:
    return [trace_breakdown(te, backends) for te in traces]


def _medians(rows: list[dict[Key, float]]) -> dict[Key, float]:
    keys = {k for r in rows for k in r}
    return {k: median([r.get(k, 0.0) for r in rows]) for k in keys}


def _dispersion(rows: list[dict[Key, float]], key: Key) -> float:
    """Coefficient of variation of one key across traces: retransmissions after packet loss
    come in discrete large steps (high), a delayed link shifts every call alike (low)."""
    values = [r.get(key, 0.0) for r in rows]
    if len(values) < 3:
        return 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return (var**0.5) / mean if mean > 0 else 0.0


def _excess(ctx: Context, now: dict[Key, float], base: dict[Key, float]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for key, value in now.items():
        b = base.get(key, 0.0)
        if ctx.baseline and value < ctx.t.latency_ratio * b:
            continue
        if value - b >= ctx.t.latency_min_excess_ms:
            out[key] = value - b
    return out


def _place_backend_calls(
    ctx: Context,
    excess: dict[Key, float],
    now: dict[Key, float],
    base: dict[Key, float],
    res: SignalResult,
) -> dict[Key, float]:
    """Slow calls into a backend: the backend's fault when its existing calls got slower across
    the board or it just changed (a migration); the caller's when only its own (new or changed)
    query is slow."""
    changed = {c.service for c in ctx.bundle.changes if _recent(ctx, c.time)}
    out = {k: v for k, v in excess.items() if k[0] != "call"}
    by_host: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for (kind, name), ex in sorted(excess.items()):
        if kind == "call":
            caller, host, _ = name.split("|", 2)
            by_host[host].append((caller, name, ex))
    for host, slow in sorted(by_host.items()):
        names = {n for _, n, _ in slow}
        existing = [n for n in names if ("call", n) in base]
        unchanged = [
            n for (kind, n) in now if kind == "call" and n.split("|")[1] == host and n not in names
        ]
        if len(existing) >= 2 or (existing and not unchanged) or (existing and host in changed):
            key: Key = ("svc", host)
            out[key] = out.get(key, 0.0) + sum(ex for _, _, ex in slow)
            res.tag(host, "db", "backend")
            continue
        for caller, name, ex in slow:
            key = ("svc", caller)
            out[key] = out.get(key, 0.0) + ex
            res.tag(caller, "db", "caller_query" if ("call", name) in base else "new_query")
    return out


def edge_gaps(traces: list[TraceEvidence]) -> dict[tuple[str, str], float]:
    """Median network-or-queueing time per (caller, callee): a CLIENT span's duration minus its
    remote SERVER child's, over every call in ``traces`` (not only the critical path)."""
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for te in traces:
        kids = children_of(te.trace.spans)
        for span in te.trace.spans:
            remote = [c for c in kids.get(span.span_id, []) if c.service != span.service]
            if span.kind in CALL_KINDS and remote:
                gap = span.duration_ms - max(c.duration_ms for c in remote)
                gaps[(span.service, remote[0].service)].append(max(0.0, gap))
    return {k: median(v) for k, v in sorted(gaps.items())}


def _slow_edges(ctx: Context) -> set[tuple[str, str]]:
    now = edge_gaps(ctx.incident)
    base = edge_gaps(ctx.baseline) if ctx.baseline else {}
    out: set[tuple[str, str]] = set()
    for edge, gap in now.items():
        b = base.get(edge, 0.0)
        if ctx.baseline and edge in base and gap < ctx.t.latency_ratio * b:
            continue
        if gap - b >= ctx.t.latency_min_excess_ms:
            out.add(edge)
    return out


def _common_caller(
    ctx: Context, excess: dict[Key, float], slow: set[tuple[str, str]], res: SignalResult
) -> dict[Key, float]:
    """Network time on the calls of ONE caller to most of its callees is the caller's: a caller
    starved of CPU (or whose own link is delayed) reads every response late, so all its callees
    look slow; a slow or delayed callee shows on its own edge(s) only. A callee keeps its network
    time when another caller also waits on it (then the callee is the common endpoint)."""
    slow_callees = {callee for _, callee in slow}
    # network time summed over many normal calls is not a slow link: a callee is charged only
    # when its calls themselves are slow (vs baseline, or absolutely when there is none)
    out = {k: v for k, v in excess.items() if k[0] != "net" or k[1] in slow_callees}
    callers_of: dict[str, set[str]] = defaultdict(set)
    callees_of: dict[str, set[str]] = defaultdict(set)
    for caller, callee in slow:
        callers_of[callee].add(caller)
        callees_of[caller].add(callee)
    for caller, callees in sorted(callees_of.items()):
        known = len(ctx.graph.get(caller, set()) | callees)
        if len(callees) < max(2, math.ceil(0.5 * known)):
            continue  # a minority of its calls is slow: those callees, not the caller
        moved = [c for c in sorted(callees) if callers_of[c] == {caller} and ("net", c) in out]
        if not moved:
            continue
        total = sum(out.pop(("net", c)) for c in moved)
        out[("waits", caller)] = out.get(("waits", caller), 0.0) + total
        res.tag(caller, "waits_on_all_callees")
    return out


def _recent(ctx: Context, when: datetime) -> bool:
    onset = ctx.bundle.onset
    return (
        onset - timedelta(minutes=ctx.t.change_half_life_minutes)
        <= when
        <= onset + timedelta(minutes=ctx.t.change_grace_minutes)
    )


def latency_origin(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.LATENCY_ORIGIN)
    if not ctx.incident:
        return res
    backends = ctx.backends
    rows = _rows(ctx.incident, backends)
    now = _medians(rows)
    base = _medians(_rows(ctx.baseline, backends)) if ctx.baseline else {}
    raw = _excess(ctx, {k: v for k, v in now.items() if k[0] != "db"}, base)
    placed = _place_backend_calls(ctx, raw, now, base, res)
    excess = _common_caller(ctx, placed, _slow_edges(ctx), res)
    if not excess:
        return res
    top = max(excess.values())
    factor = 1.0 if ctx.baseline else 0.6
    ids = ctx.cite(*(te.evidence_id for te in ctx.incident))
    for (kind, service), ex in sorted(excess.items()):
        what = {"net": "network time to", "waits": "late responses to all callees of"}.get(
            kind, "extra self time in"
        )
        res.add(service, factor * ex / top, ids, f"{what} {service}: +{ex:.0f} ms vs baseline")
        if kind in {"net", "waits"}:
            lossy = _dispersion(rows, (kind, service)) > ctx.t.loss_dispersion
            res.tag(service, "network_loss" if lossy else "network_delay")
        elif now.get(("db", service), 0.0) - base.get(("db", service), 0.0) >= 0.5 * ex:
            res.tag(service, "db")
        elif kind == "svc":
            res.tag(service, "self_time")  # its own code (not calls, not queries) got slower
    return res
