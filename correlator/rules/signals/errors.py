"""Error origin: the root-most erroring span of each incident trace votes for its service.

A client span that errors with no server span underneath is resolved by where it was calling:
- a peer the same caller reached fine in baseline traces, or a known service -> that dependency
  is down (blame moves to it, tag ``unreachable``);
- a config push on the caller just before, a peer name that does not resolve (DNS), or an
  error naming another host:port than the peer -> the caller's problem (tag ``bad_target``);
- an unknown peer that refuses or times out -> that host is down (``unreachable``).
A client span that errors although the callee's server span under it succeeded got a bad answer
(wrong return value): the callee gets the vote, the caller a small share (tag ``bad_response``).
"""

from __future__ import annotations

import re
from datetime import timedelta

from correlator.models import ChangeKind, Span, TraceEvidence
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import (
    CALL_KINDS,
    Context,
    SignalResult,
    children_of,
    host_of,
    is_db,
    norm,
    peer_of,
)

DNS_FAILURE = re.compile(
    r"no such host|name resolution|unknown host|nodename nor servname|could not resolve|"
    r"name or service not known|NXDOMAIN|getaddrinfo|resolver error|zero addresses",
    re.IGNORECASE,
)
# host:port where the host is a name (not an IP): the address the caller actually dialled
NAMED_ADDRESS = re.compile(r"\b([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*):(\d{2,5})\b")
NETWORKISH = re.compile(
    r"timeout|timed out|deadline|connection (refused|reset)|unavailable|unreachable|"
    r"no route|broken pipe|eof|dns|name resolution|no such host|econn",
    re.IGNORECASE,
)


def _root_error_span(te: TraceEvidence) -> Span | None:
    """The trace's error origin as the evidence stage computed it (``evidence.traces``)."""
    rid = te.analysis.root_error_span_id
    return next((s for s in te.trace.spans if s.span_id == rid), None) if rid else None


def _messages(span: Span) -> str:
    parts = [span.status_message]
    for ev in span.events:
        for key in ("exception.message", "exception.type"):
            v = ev.attributes.get(key)
            if isinstance(v, str):
                parts.append(v)
    return " ".join(parts)


Vote = tuple[str, float, frozenset[str]]


def _client_blame(ctx: Context, span: Span, te: TraceEvidence, tags: set[str]) -> list[Vote]:
    """A client span is the root-most error: who is at fault depends on what is under it."""
    kids = [
        c for c in children_of(te.trace.spans).get(span.span_id, []) if c.service != span.service
    ]
    if kids:
        # the callee answered without error, yet the caller failed on the answer: a wrong value
        if "network_error" not in tags:
            t = frozenset(tags | {"bad_response"})
            return [(kids[0].service, 1.0, t), (span.service, 0.3, t)]
        return [(span.service, 1.0, frozenset(tags))]
    peer = peer_of(span)
    if not peer:
        return [(span.service, 1.0, frozenset(tags | {"client_error"}))]
    target = ctx.resolve(peer)
    if _config_changed(ctx, span.service):
        # a config push on the caller just before its calls fail: its new setting is the suspect
        return [(span.service, 1.0, frozenset(tags | {"bad_target"}))]
    if DNS_FAILURE.search(_messages(span)) or _dialled_elsewhere(ctx, span, peer):
        # the name does not resolve, or the error names another address: misconfigured caller
        return [(span.service, 1.0, frozenset(tags | {"bad_target"}))]
    if target is not None and target != span.service:
        return [(target, 1.0, frozenset(tags | {"unreachable"}))]
    host = host_of(peer) or span.service
    if (span.service, norm(peer)) in ctx.baseline_peers:
        return [(host, 1.0, frozenset(tags | {"unreachable", "backend"}))]
    if "network_error" in tags:
        # resolves but refuses / times out: the dependency is down
        return [(host, 1.0, frozenset(tags | {"unreachable"}))]
    return [(span.service, 1.0, frozenset(tags | {"client_error"}))]


_SCHEMES = {"tcp", "udp", "http", "https", "dial", "grpc"}


def _dialled_elsewhere(ctx: Context, span: Span, peer: str) -> bool:
    """The error text names a host:port that is neither the peer (maybe qualified, as
    ``redis-master.cache`` for ``redis``) nor any known service."""
    mine = norm(peer)
    for m in NAMED_ADDRESS.finditer(_messages(span)):
        host = m.group(1)
        other = norm(host)
        if host.lower() in _SCHEMES or other.startswith(mine) or mine.startswith(other):
            continue
        if ctx.resolve(host) is None:
            return True
    return False


def _config_changed(ctx: Context, service: str) -> bool:
    onset = ctx.bundle.onset
    lookback = timedelta(minutes=ctx.t.change_half_life_minutes)
    grace = timedelta(minutes=ctx.t.change_grace_minutes)
    return any(
        c.service == service
        and c.kind is ChangeKind.CONFIG
        and onset - lookback <= c.time <= onset + grace
        for c in ctx.bundle.changes
    )


def blame(ctx: Context, te: TraceEvidence) -> list[Vote]:
    """(service, vote weight, fact tags) for one trace; empty if it has no error."""
    span = _root_error_span(te)
    if span is None:
        return []
    tags: set[str] = set()
    if any(ev.name == "exception" for ev in span.events):
        tags.add("exception")
    if NETWORKISH.search(_messages(span)):
        tags.add("network_error")
    if is_db(span):
        tags.add("db")
    if span.kind in CALL_KINDS:
        return _client_blame(ctx, span, te, tags)
    return [(span.service, 1.0, frozenset(tags))]


def error_origin(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.ERROR_ORIGIN)
    votes: dict[str, float] = {}
    cites: dict[str, list[str]] = {}
    erroring = 0
    for te in ctx.incident:
        got = blame(ctx, te)
        if got:
            erroring += 1
        for service, weight, tags in got:
            votes[service] = votes.get(service, 0.0) + weight
            cites.setdefault(service, []).append(te.evidence_id)
            res.tag(service, *tags)
    if not erroring:
        return res
    base_rate = _baseline_error_share(ctx)
    coverage = erroring / max(1, len(ctx.incident))
    for service, n in sorted(votes.items()):
        # errors at the same rate before onset are background noise, not the incident
        damp = max(0.0, 1.0 - base_rate.get(service, 0.0) / max(coverage, 1e-9))
        res.add(
            service,
            n / erroring * damp,
            ctx.cite(*cites[service]),
            f"root-most error in {n:g}/{erroring} incident traces",
        )
    return res


def _baseline_error_share(ctx: Context) -> dict[str, float]:
    if not ctx.baseline:
        return {}
    counts: dict[str, float] = {}
    for te in ctx.baseline:
        for service, weight, _ in blame(ctx, te):
            counts[service] = counts.get(service, 0.0) + weight
    return {s: n / len(ctx.baseline) for s, n in counts.items()}
