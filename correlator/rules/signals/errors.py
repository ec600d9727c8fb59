"""Error origin: the root-most erroring span of each incident trace votes for its service.

A client span that errors with no server span underneath is resolved by where it was calling:
- a peer the same caller reached fine in baseline traces, or a known service -> that dependency
  is down (blame moves to it, tag ``unreachable``);
- a peer never seen before (e.g. a bad address after a config push) -> the caller's problem
  (tag ``bad_target``).
"""

from __future__ import annotations

import re
from collections import Counter

from correlator.models import Span, SpanKind, TraceEvidence
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult, children_of, norm, peer_of

NETWORKISH = re.compile(
    r"timeout|timed out|deadline|connection (refused|reset)|unavailable|unreachable|"
    r"no route|broken pipe|eof|dns|name resolution|no such host|econn",
    re.IGNORECASE,
)


def _root_error_span(te: TraceEvidence) -> Span | None:
    spans = te.trace.spans
    by_id = {s.span_id: s for s in spans}
    rid = te.analysis.root_error_span_id
    if rid and rid in by_id:
        return by_id[rid]
    kids = children_of(spans)
    errs = [s for s in spans if s.is_error]
    leaves = [s for s in errs if not any(c.is_error for c in kids.get(s.span_id, []))]
    if not leaves:
        return None
    # deepest first; stable by start time then id
    depth = {s.span_id: _depth(s, by_id) for s in leaves}
    return sorted(leaves, key=lambda s: (-depth[s.span_id], s.start, s.span_id))[0]


def _depth(span: Span, by_id: dict[str, Span]) -> int:
    d, cur, seen = 0, span, set()
    while cur.parent_span_id and cur.parent_span_id in by_id and cur.span_id not in seen:
        seen.add(cur.span_id)
        cur = by_id[cur.parent_span_id]
        d += 1
    return d


def _messages(span: Span) -> str:
    parts = [span.status_message]
    for ev in span.events:
        for key in ("exception.message", "exception.type"):
            v = ev.attributes.get(key)
            if isinstance(v, str):
                parts.append(v)
    return " ".join(parts)


def blame(ctx: Context, te: TraceEvidence) -> tuple[str, set[str]] | None:
    """(service to blame, fact tags) for one incident trace, or None if it has no error."""
    span = _root_error_span(te)
    if span is None:
        return None
    tags: set[str] = set()
    text = _messages(span)
    if any(ev.name == "exception" for ev in span.events):
        tags.add("exception")
    if NETWORKISH.search(text):
        tags.add("network_error")
    has_server_child = bool(children_of(te.trace.spans).get(span.span_id))
    is_client = span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
    peer = peer_of(span)
    if is_client and not has_server_child and peer:
        target = ctx.resolve(peer)
        seen_before = (span.service, norm(peer)) in ctx.baseline_peers
        if target is not None and target != span.service:
            return target, tags | {"unreachable"}
        if seen_before:
            return norm(peer) or span.service, tags | {"unreachable"}
        if ctx.baseline:
            return span.service, tags | {"bad_target"}
        return span.service, tags | {"client_error"}
    if "db.system" in span.attributes or "db.statement" in span.attributes:
        tags.add("db")
    return span.service, tags


def error_origin(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.ERROR_ORIGIN)
    votes: Counter[str] = Counter()
    cites: dict[str, list[str]] = {}
    erroring = 0
    for te in ctx.incident:
        got = blame(ctx, te)
        if got is None:
            continue
        erroring += 1
        service, tags = got
        votes[service] += 1
        cites.setdefault(service, []).append(te.evidence_id)
        res.tag(service, *tags)
    if not erroring:
        return res
    base_rate = _baseline_error_share(ctx)
    for service, n in sorted(votes.items()):
        share = n / erroring
        # errors at the same rate before onset are background noise, not the incident
        coverage = erroring / max(1, len(ctx.incident))
        damp = max(0.0, 1.0 - base_rate.get(service, 0.0) / max(coverage, 1e-9))
        res.add(
            service,
            share * damp,
            ctx.cite(*cites[service]),
            f"root-most error in {n}/{erroring} incident traces",
        )
    return res


def _baseline_error_share(ctx: Context) -> dict[str, float]:
    if not ctx.baseline:
        return {}
    counts: Counter[str] = Counter()
    for te in ctx.baseline:
        got = blame(ctx, te)
        if got is not None:
            counts[got[0]] += 1
    return {s: n / len(ctx.baseline) for s, n in counts.items()}
