"""A three-service shop (frontend -> checkout -> payment) in a few shapes."""

from __future__ import annotations

from correlator.models import SpanKind, TraceEvidence
from tests.unit.rules.factories import call, span, trace

DNS_ERROR = "dial tcp: lookup badAddress on 10.96.0.10:53: no such host"


def healthy(*, baseline: bool = True, pay_ms: float = 10.0, version: str = "1.0") -> TraceEvidence:
    root = span("frontend", ms=60)
    c1, checkout = call(root, "checkout", ms=40)
    c2, payment = call(checkout, "payment", ms=pay_ms, version=version)
    return trace([root, c1, checkout, c2, payment], baseline=baseline)


def payment_fails(version: str = "1.0") -> TraceEvidence:
    root = span("frontend", ms=60, error=True)
    c1, checkout = call(root, "checkout", ms=40, error=True)
    c2, payment = call(
        checkout, "payment", ms=10, error=True, exception="ValueError", version=version
    )
    return trace([root, c1, checkout, c2, payment])


def checkout_dials(peer: str, message: str = "connection refused") -> TraceEvidence:
    """checkout's client span errors with no server span under it."""
    root = span("frontend", ms=60, error=True)
    c1, checkout = call(root, "checkout", ms=40, error=True)
    dial = span(
        "checkout",
        parent=checkout,
        kind=SpanKind.CLIENT,
        ms=5,
        error=True,
        attrs={"server.address": peer},
        message=message,
    )
    return trace([root, c1, checkout, dial])


def payment_slow(pay_ms: float = 800.0) -> TraceEvidence:
    return healthy(baseline=False, pay_ms=pay_ms)


def slow_network_to_payment(gap_ms: float) -> TraceEvidence:
    root = span("frontend", ms=60 + 2 * gap_ms)
    c1, checkout = call(root, "checkout", ms=40 + 2 * gap_ms)
    c2, payment = call(checkout, "payment", ms=10, gap_ms=gap_ms)
    return trace([root, c1, checkout, c2, payment])


def db_calls(queries: dict[str, float], *, baseline: bool) -> TraceEvidence:
    """checkout -> db-primary (uninstrumented postgres), one client span per query."""
    root = span("checkout", ms=20 + sum(queries.values()))
    spans = [root]
    offset = 1.0
    for q, ms in queries.items():
        spans.append(
            span(
                "checkout",
                parent=root,
                kind=SpanKind.CLIENT,
                ms=ms,
                offset_ms=offset,
                attrs={
                    "db.system.name": "postgresql",
                    "db.query.text": q,
                    "server.address": "db-primary",
                },
            )
        )
        offset += ms
    return trace(spans, baseline=baseline)
