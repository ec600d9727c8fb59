"""Exemplar selection on the captured Prometheus responses, and the alert's service."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from correlator.evidence import exemplars as ex
from correlator.models import Exemplar
from correlator.models.alert import alert_service
from correlator.settings import Settings
from correlator.wire.alertexpr import measures_errors, measures_latency
from tests.support.fake_sources import exemplars_from_prometheus

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "evidence"
SLOW_EXPR = (
    "histogram_quantile(0.9, sum by (le, route) "
    "(rate(demo_request_duration_seconds_bucket[30s]))) > 0.5"
)


def _app_durations() -> dict[str, float]:
    return {tid: secs for _, tid, secs in json.loads((FIX / "demo_app_trace_ids.json").read_text())}


def test_latency_alert_picks_the_slowest_real_exemplars() -> None:
    raw = exemplars_from_prometheus(FIX / "prometheus_query_exemplars.json")
    settings = Settings(prometheus={"external_labels": ["env"]})
    labels = {"alertname": "DemoSlowCheckout", "env": "lab", "route": "/checkout"}
    picked = ex.select_exemplars(raw, expr=SLOW_EXPR, alert_labels=labels, settings=settings)
    assert len(picked) == 5
    durations = _app_durations()
    # every pick is one of the app's 1.7 s requests, cross-checked against the app's own log
    assert {durations[e.trace_id] for e in picked} == {1.7}
    assert [e.timestamp for e in picked] == sorted((e.timestamp for e in picked), reverse=True)


def test_cap_and_dedupe() -> None:
    raw = exemplars_from_prometheus(FIX / "prometheus_query_exemplars.json")
    settings = Settings(prometheus={"max_exemplars": 2})
    picked = ex.select_exemplars(raw + raw, expr=SLOW_EXPR, alert_labels={}, settings=settings)
    assert len(picked) == 2
    assert len({e.trace_id for e in picked}) == 2


def test_alert_labels_exclude_other_series_but_not_labels_the_series_lack() -> None:
    raw = exemplars_from_prometheus(FIX / "prometheus_query_exemplars.json")
    s = Settings(prometheus={"external_labels": ["env"]})
    other_route = {"alertname": "A", "route": "/cart"}
    assert ex.select_exemplars(raw, expr=SLOW_EXPR, alert_labels=other_route, settings=s) == []
    # rule labels (severity) and external labels (env) are not on the series: no contradiction
    mine = {"alertname": "A", "route": "/checkout", "env": "lab", "severity": "warning"}
    assert len(ex.select_exemplars(raw, expr=SLOW_EXPR, alert_labels=mine, settings=s)) == 5
    # an external label whose name the series does carry is ignored once configured
    clash = {"alertname": "A", "route": "/checkout", "job": "federated"}
    assert ex.select_exemplars(raw, expr=SLOW_EXPR, alert_labels=clash, settings=s) == []
    s2 = Settings(prometheus={"external_labels": ["job"]})
    assert len(ex.select_exemplars(raw, expr=SLOW_EXPR, alert_labels=clash, settings=s2)) == 5


def _ex(tid: str, value: float, second: int, **series: str) -> Exemplar:
    return Exemplar(
        trace_id=tid,
        value=value,
        timestamp=datetime(2026, 11, 21, 16, 0, second, tzinfo=UTC),
        series_labels={"__name__": "http_requests_total", **series},
    )


def test_error_alert_prefers_5xx_series() -> None:
    raw = [
        _ex("a" * 32, 1, 1, status="200"),
        _ex("b" * 32, 1, 2, status="503"),
        _ex("c" * 32, 1, 3, status="200"),
        _ex("d" * 32, 1, 4, code="500"),
        _ex("e" * 32, 1, 5, grpc_code="UNAVAILABLE"),
    ]
    expr = 'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
    picked = ex.select_exemplars(raw, expr=expr, alert_labels={}, settings=Settings())
    assert [e.trace_id[0] for e in picked] == ["e", "d", "b"]


def test_error_alert_without_error_series_falls_back_to_latest() -> None:
    raw = [_ex("a" * 32, 1, 1, status="200"), _ex("b" * 32, 1, 2, status="200")]
    picked = ex.select_exemplars(
        raw,
        expr="rate(http_requests_total{code=~'5..'}[1m]) > 1",
        alert_labels={},
        settings=Settings(),
    )
    assert [e.trace_id[0] for e in picked] == ["b", "a"]


def test_trace_ids_normalised_and_invalid_dropped() -> None:
    raw = [
        _ex("ABCDEF0123456789ABCDEF0123456789", 1, 1),
        _ex("1f", 2, 2),
        _ex("not-hex", 3, 3),
        _ex("0" * 32, 4, 4),
        _ex("", 5, 5),
        Exemplar(
            trace_id="ab" * 16, value=float("nan"), timestamp=datetime(2026, 1, 1, tzinfo=UTC)
        ),
    ]
    picked = ex.select_exemplars(raw, expr="up", alert_labels={}, settings=Settings())
    assert [e.trace_id for e in picked] == ["0" * 30 + "1f", "abcdef0123456789abcdef0123456789"]


def test_alert_service_from_configured_labels() -> None:
    names = Settings().prometheus.service_labels
    assert alert_service({"job": "demo-app", "service": "checkout"}, names) == "checkout"
    assert alert_service({"job": "demo-app"}, names) == "demo-app"
    assert alert_service({"k8s_deployment_name": "cart", "job": "j"}, names) == "cart"
    assert alert_service({"alertname": "X"}, names) is None
    custom = Settings(prometheus={"service_labels": ["team_service"]})
    assert (
        alert_service({"service": "a", "team_service": "b"}, custom.prometheus.service_labels)
        == "b"
    )


def test_classification() -> None:
    assert measures_latency(SLOW_EXPR)
    assert not measures_latency("demo_queue_depth > 5")
    assert ex.is_error_series({"__name__": "demo_errors_total"})
    assert ex.is_error_series({"status_code": "502"})
    assert not ex.is_error_series({"status_code": "404", "__name__": "http_requests_total"})


def test_error_alert_is_read_by_token_not_by_numbers() -> None:
    """A threshold of 550 (ms) is not an HTTP 5xx; a 5xx matcher or an error metric is."""
    slow = "histogram_quantile(0.99, sum by (le) (rate(rpc_latency_bucket[5m]))) * 1000 > 550"
    assert not measures_errors(slow)
    assert not measures_errors('rate(x_total{route="/a"}[5m]) > 503')
    assert measures_errors('sum(rate(http_requests_total{code=~"5.."}[5m])) > 550')
    assert measures_errors('sum(rate(requests_total{status="503"}[1m])) > 1')
    assert measures_errors("sum(rate(payment_errors_total[1m])) > 0")
