"""What an alert expression measures, read from its parsed selectors (issue #20, item 10)."""

from __future__ import annotations

import pytest

from correlator.wire.alertexpr import measures_errors, measures_latency


@pytest.mark.parametrize(
    "expr",
    [
        'sum(rate(http_requests_total{code=~"5.."}[5m]))'
        " / sum(rate(http_requests_total[5m])) > 0.02",
        'sum(rate(http_server_requests_seconds_count{outcome="SERVER_ERROR"}[5m])) > 1',
        'sum(rate(grpc_server_handled_total{grpc_code!~"OK"}[5m])) > 0',
        'sum(rate(requests_total{status_code!~"2.."}[1m])) > 3',
        "sum(rate(payment_errors_total[1m])) > 0",
        'rate(spans_total{error="true"}[5m]) > 0',
    ],
)
def test_error_expressions(expr: str) -> None:
    assert measures_errors(expr)


@pytest.mark.parametrize(
    "expr",
    [
        # a threshold is a number, not a status code
        "histogram_quantile(0.99, sum by (le) (rate(rpc_latency_bucket[5m]))) * 1000 > 550",
        'rate(x_total{route="/a"}[5m]) > 503',
        # a status label that selects successes only
        'sum(rate(http_requests_total{code="200"}[5m])) < 10',
        "avg(rate(container_cpu_usage_seconds_total[5m])) > 0.9",
    ],
)
def test_not_error_expressions(expr: str) -> None:
    assert not measures_errors(expr)


def test_latency_expressions() -> None:
    assert measures_latency("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5")
    assert measures_latency("avg(http_server_duration_milliseconds_sum) > 300")
    assert not measures_latency("avg(rate(container_cpu_usage_seconds_total[5m])) > 0.9")
    assert not measures_latency('sum(rate(http_requests_total{code=~"5.."}[5m])) > 1')


def test_an_unparsable_expression_falls_back_to_its_names_and_strings() -> None:
    """LogQL is not PromQL: its line filters still say errors."""
    logql = 'sum(count_over_time({app="cart"} |= "ERROR" [5m])) > 10'
    assert measures_errors(logql)
    assert not measures_errors(None)
    assert not measures_latency("")
