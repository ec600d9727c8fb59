"""Metric discovery: which rules templates can answer, from the series Prometheus holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from correlator.errors import BackendTimeout
from correlator.evidence.chain import gather
from correlator.evidence.discovery import answerable, matches, plan
from correlator.evidence.sources import EvidenceSources
from correlator.models import Alert, AlertStatus, EvidenceStatus, MetricQuery, MetricSeries
from correlator.settings import Settings
from correlator.wire.promql import parse_selectors
from tests.support.fake_sources import FakeMetrics, FakeSeries

CPU = MetricQuery(
    name="cpu:cart",
    expr='sum(rate(container_cpu_usage_seconds_total{service="cart"}[2m]))'
    ' or sum(max by (pod) (rate(container_cpu_usage_seconds_total{pod=~"cart-[a-z0-9]+-[a-z0-9]+",'
    ' container!="POD"}[2m])))',
    service="cart",
    signal="cpu",
)
LATENCY = MetricQuery(
    name="latency:cart",
    expr="histogram_quantile(0.95, sum by (le) (rate("
    'http_server_request_duration_seconds_bucket{service="cart"}[5m])))',
    service="cart",
    signal="latency",
)
CADVISOR = {
    "__name__": "container_cpu_usage_seconds_total",
    "namespace": "shop",
    "pod": "cart-5d8f7c9b6-q2w8z",
    "container": "cart",
}


def test_a_template_answers_when_any_of_its_selectors_matches_a_series() -> None:
    p = plan([CPU, LATENCY])
    assert answerable(p, [CADVISOR]) == {"cpu:cart"}  # by pod: cAdvisor has no service label
    assert answerable(p, []) == set()


def test_matchers_follow_prometheus_semantics() -> None:
    sel = parse_selectors('x{pod=~"cart-.*", container!="POD", zone=""}').selectors[0]
    assert matches(sel, {"__name__": "x", "pod": "cart-1", "container": "cart"})
    assert not matches(sel, {"__name__": "x", "pod": "cart-1", "container": "POD"})
    assert not matches(sel, {"__name__": "x", "pod": "my-cart-1"})  # regexes are anchored
    assert not matches(sel, {"__name__": "x", "pod": "cart-1", "zone": "a"})  # absent = ""
    assert not matches(sel, {"__name__": "y", "pod": "cart-1"})


def test_a_template_that_cannot_be_parsed_always_runs() -> None:
    broken = MetricQuery(name="odd:cart", expr="sum(rate(x{service=`cart`}[5m]) $", service="cart")
    assert plan([broken]).selectors == {"odd:cart": None}
    assert answerable(plan([broken]), []) == {"odd:cart"}


def test_selectors_matching_everything_are_not_sent() -> None:
    """Prometheus refuses a match[] whose matchers all match the empty string."""
    q = MetricQuery(name="any:cart", expr='sum(rate({pod=~".*"}[5m]))', service="cart")
    assert plan([q]).match_params() == []


# -- in the chain --------------------------------------------------------------------------------

ONSET = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _alert() -> Alert:
    return Alert(
        fingerprint="d" * 16,
        status=AlertStatus.FIRING,
        labels={"alertname": "HighCPU", "service": "cart"},
        starts_at=ONSET,
    )


def _answer(expr: str) -> list[MetricSeries]:
    return [MetricSeries(evidence_id="?", name="?", query=expr, points=[(1.0, 2.0)])]


async def _run(
    series: FakeSeries | None,
) -> tuple[FakeMetrics, dict[str, EvidenceStatus], dict[str, str]]:
    metrics = FakeMetrics(series=_answer)
    sources = EvidenceSources(metrics=metrics, series=series)
    bundle = await gather(
        _alert(),
        sources=sources,
        settings=Settings(),
        metric_queries=lambda services: [CPU, LATENCY] if "cart" in services else [],
        now=ONSET + timedelta(minutes=5),
    )
    return metrics, {e.id: e.status for e in bundle.items}, {e.id: e.summary for e in bundle.items}


async def test_only_templates_with_series_are_queried() -> None:
    metrics, status, summaries = await _run(FakeSeries(label_sets=[CADVISOR]))
    asked = [c[0] for c in metrics.calls]
    assert CPU.expr in asked
    assert LATENCY.expr not in asked
    assert status["metric:cpu:cart"] == EvidenceStatus.OK
    assert "metric:latency:cart" not in status  # named by the discovery envelope instead
    assert status["discovery:cart"] == EvidenceStatus.OK
    assert (
        summaries["discovery:cart"] == "1 of 2 metric templates have series; none for: latency (1)"
    )


async def test_without_discovery_or_when_it_fails_every_template_runs() -> None:
    for series in (None, FakeSeries(error=BackendTimeout("prometheus", "slow"))):
        metrics, status, _ = await _run(series)
        asked = [c[0] for c in metrics.calls]
        assert CPU.expr in asked
        assert LATENCY.expr in asked
        assert status["metric:latency:cart"] == EvidenceStatus.OK
