"""RuleSet: which signals apply to an alert, and the per-service PromQL it asks for."""

from __future__ import annotations

from correlator.rules import RuleSet
from correlator.rules.schema import SignalName
from tests.unit.rules.factories import alert


def test_metric_queries_use_the_alerts_service_label_and_escape_values(ruleset: RuleSet) -> None:
    a = alert("HighErrorRate", service_name="checkout")
    queries = ruleset.metric_queries(a, ['check"out', "cart"])
    cpu = next(q for q in queries if q.name == 'cpu:check"out')
    assert cpu.signal == "cpu"
    assert cpu.service == 'check"out'
    assert 'service_name="check\\"out"' in cpu.expr
    assert {q.signal for q in queries} >= {"cpu", "memory", "restarts", "disk", "request_rate"}


def test_first_matching_rule_sets_a_signals_weight(ruleset: RuleSet) -> None:
    latency = ruleset.weights_for(alert("CheckoutLatencyHigh"))
    errors = ruleset.weights_for(alert("CheckoutErrorRate"))
    assert latency[SignalName.ERROR_ORIGIN] < errors[SignalName.ERROR_ORIGIN]
    assert set(latency) == set(SignalName)


def test_metric_queries_follow_the_signals_that_apply() -> None:
    from correlator.rules.schema import Matcher, MetricSignal, MetricTemplate, Rule

    rs = RuleSet(
        rules=[
            Rule(
                name="only-traffic", match=Matcher(alertname="Surge"), signals=[SignalName.TRAFFIC]
            )
        ],
        metrics=[
            MetricTemplate(name="cpu", signal=MetricSignal.CPU, expr='cpu{s="{{ service }}"}'),
            MetricTemplate(
                name="rps", signal=MetricSignal.REQUEST_RATE, expr='r{s="{{ service }}"}'
            ),
        ],
    )
    assert [q.name for q in rs.metric_queries(alert("Surge"), ["a"])] == ["rps:a"]
