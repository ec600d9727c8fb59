"""RuleSet: which signals apply to an alert, and the per-service PromQL it asks for."""

from __future__ import annotations

import shutil
from pathlib import Path

from correlator.rules import RuleSet, load_ruleset
from correlator.rules.schema import SignalName
from tests.unit.rules.conftest import RULES_DIR
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


def test_shipped_rules_have_no_catch_all_so_signals_lists_select(tmp_path: Path) -> None:
    """A rule's ``signals`` is what an alert it matches gets: dropping a signal from the shipped
    errors rule drops it for error alerts; an alert no rule matches still gets every signal."""
    shipped = load_ruleset(RULES_DIR)
    assert set(shipped.weights_for(alert("CheckoutErrorRate"))) == set(SignalName)
    assert set(shipped.weights_for(alert("KubePodNotReady"))) == set(SignalName)
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    default = rules / "default.yaml"
    text = default.read_text()
    old = "signals: [error_origin, latency_origin, topology, logs, change, resource, traffic]"
    assert old in text
    default.write_text(text.replace(old, "signals: [error_origin, topology, logs, change]", 1))
    edited = load_ruleset(rules)
    got = set(edited.weights_for(alert("CheckoutErrorRate")))
    assert got == {
        SignalName.ERROR_ORIGIN,
        SignalName.TOPOLOGY,
        SignalName.LOGS,
        SignalName.CHANGE,
    }
    assert set(edited.weights_for(alert("KubePodNotReady"))) == set(SignalName)
    queries = edited.metric_queries(alert("CheckoutErrorRate"), ["checkout"])
    assert not {q.signal for q in queries} & {"cpu", "memory", "request_rate", "latency"}
