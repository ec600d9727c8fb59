"""Topology: push blame to the deepest anomalous dependency along the call graph.

A service is anomalous when an origin signal (errors, latency, resources) or a strong log signal
points at it. Among anomalous services, those with no anomalous service downstream (transitively)
score 1: the errors and slowness of their callers are explained by them.
"""

from __future__ import annotations

from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult

ORIGIN_FLOOR = {
    SignalName.ERROR_ORIGIN: 0.2,
    SignalName.LATENCY_ORIGIN: 0.3,
    SignalName.RESOURCE: 0.3,
    SignalName.LOGS: 0.5,
}


def anomalous(prior: list[SignalResult]) -> dict[str, list[str]]:
    """service -> evidence ids, for services an origin signal points at."""
    out: dict[str, list[str]] = {}
    for res in prior:
        floor = ORIGIN_FLOOR.get(res.name)
        if floor is None or res.degraded:
            continue
        for service, score in res.scores.items():
            if score >= floor:
                out.setdefault(service, []).extend(res.evidence.get(service, []))
    return out


def _downstream(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = sorted(graph.get(start, set()))
    while stack:
        cur = stack.pop()
        if cur in seen or cur == start:
            continue
        seen.add(cur)
        stack.extend(sorted(graph.get(cur, set())))
    return seen


def topology(ctx: Context, prior: list[SignalResult]) -> SignalResult:
    res = SignalResult(SignalName.TOPOLOGY)
    bad = anomalous(prior)
    graph = ctx.graph
    for service in sorted(bad):
        below = _downstream(graph, service) & set(bad)
        if below:
            continue
        ids = sorted(set(bad[service]))
        callers = sorted(c for c, callees in graph.items() if service in callees and c in bad)
        reason = "deepest anomalous service" + (
            f" (callers: {', '.join(callers)})" if callers else ""
        )
        res.add(service, 1.0 if callers else 0.5, ctx.cite(*ids), reason)
    return res
