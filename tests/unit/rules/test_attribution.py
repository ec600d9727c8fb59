"""Latency attribution on real-shaped traces: a starved caller vs a slow callee, INTERNAL-only
traces (no CLIENT spans: missing instrumentation, no network time to charge).

Trace shapes follow what gRPC/OTel agents record for an entry service fanning out to several
callees (Online Boutique's frontend: CLIENT span per call, the callee's SERVER span under it).
"""

from __future__ import annotations

from correlator.models import SpanKind
from correlator.rules.schema import Thresholds
from correlator.rules.signals import Context, latency_origin
from correlator.rules.signals.latency import edge_gaps
from tests.unit.rules.factories import bundle, call, span, trace

CALLEES = ("ads", "cart", "currency", "catalog", "shipping")


def fan_out(gaps: dict[str, float], *, baseline: bool = False) -> object:
    """frontend calls every callee concurrently; ``gaps`` ms of network/queue time before and
    after each callee's server span (1 ms when absent)."""
    root = span("frontend", ms=15 + 2 * max([1.0, *gaps.values()]))
    spans = [root]
    for callee in CALLEES:
        spans += call(root, callee, ms=10, gap_ms=gaps.get(callee, 1.0))
    return trace(spans, baseline=baseline)


def ctx_of(incident: list[object], base: list[object]) -> Context:
    return Context(bundle(traces=[*incident, *base]), Thresholds())  # type: ignore[list-item]


def test_a_caller_waiting_on_all_its_callees_is_the_culprit() -> None:
    starved = dict.fromkeys(CALLEES, 90.0)  # CFS throttling: every response read ~100 ms late
    ctx = ctx_of([fan_out(starved) for _ in range(3)], [fan_out({}, baseline=True)])
    res = latency_origin(ctx)
    assert max(res.scores, key=res.scores.__getitem__) == "frontend"
    assert "waits_on_all_callees" in res.tags["frontend"]
    assert not set(CALLEES) & set(res.scores)


def test_one_delayed_callee_keeps_the_blame() -> None:
    delayed = {"cart": 250.0, "currency": 30.0}  # 2 of 5 edges slow: not the caller
    ctx = ctx_of([fan_out(delayed) for _ in range(3)], [fan_out({}, baseline=True)])
    res = latency_origin(ctx)
    assert max(res.scores, key=res.scores.__getitem__) == "cart"
    assert "frontend" not in res.scores
    assert "network_delay" in res.tags["cart"]


def test_edge_gaps_are_client_minus_server_per_edge() -> None:
    gaps = edge_gaps([fan_out({"cart": 50.0})])  # type: ignore[list-item]
    assert gaps[("frontend", "cart")] == 100.0  # the gap before and after the server span
    assert gaps[("frontend", "ads")] == 2.0


def test_internal_only_traces_charge_no_network_time() -> None:
    """A trace whose spans are all INTERNAL (an SDK without RPC instrumentation): nothing is a
    call, so no network time and no caller/callee edge is invented; self time still counts."""

    def internal_trace(ms: float, *, baseline: bool = False) -> object:
        root = span("worker", ms=ms + 5, kind=SpanKind.INTERNAL)
        child = span("worker", parent=root, ms=ms, kind=SpanKind.INTERNAL)
        return trace([root, child], baseline=baseline)

    ctx = ctx_of([internal_trace(400.0) for _ in range(3)], [internal_trace(20.0, baseline=True)])
    assert edge_gaps(ctx.incident) == {}
    res = latency_origin(ctx)
    assert set(res.scores) == {"worker"}
    assert "network_delay" not in res.tags.get("worker", set())
