"""PromQL string literals, selector parsing on real expressions, safe templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from correlator.errors import ConfigError
from correlator.models import AlertmanagerWebhook
from correlator.wire import promql

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

label_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200
) | st.sampled_from(['"', "\\", "}", '"}', '\\"', "\n", 'a"} or vector(1) or {b="', "\x00"])


@given(label_values)
def test_quote_round_trips(value: str) -> None:
    literal = promql.quote(value)
    assert promql.unquote(literal) == value


@given(label_values)
def test_quoted_value_cannot_break_out_of_a_selector(value: str) -> None:
    selector = promql.Selector("up", (promql.Matcher("job", "=", value),)).render()
    parsed = promql.parse_selectors(f"sum(rate({selector}[5m])) > 0")
    assert parsed.selectors == [promql.Selector("up", (promql.Matcher("job", "=", value),))]


@given(label_values)
def test_escaped_literal_has_no_raw_quote_newline_or_lone_backslash(value: str) -> None:
    body = promql.escape_string(value)
    assert "\n" not in body
    i = 0
    while i < len(body):
        if body[i] == "\\":
            assert body[i + 1] in '\\"nrtx', body
            i += 2
            continue
        assert body[i] != '"'
        i += 1


def test_unquote_rejects_bad_literals() -> None:
    for bad in ['"abc', '"a"b"', '"\\q"', "'a\nb'", '"\\x1"']:
        with pytest.raises(ValueError):
            promql.unquote(bad)
    assert promql.unquote("`raw\\n`") == "raw\\n"
    assert promql.unquote("'it\\'s'") == "it's"
    assert promql.unquote('"\\u00e9\\101"') == "éA"


def _rules_exprs() -> dict[str, str]:
    doc = json.loads((FIXTURES / "evidence" / "prometheus_api_v1_rules.json").read_text())
    return {r["name"]: r["query"] for g in doc["data"]["groups"] for r in g["rules"]}


def test_selectors_of_captured_rules() -> None:
    exprs = _rules_exprs()
    slow = promql.parse_selectors(exprs["DemoSlowCheckout"])
    assert slow.selectors == [promql.Selector("demo_request_duration_seconds_bucket")]
    assert slow.grouping_labels == {"le", "route"}
    backlog = promql.parse_selectors(exprs["DemoQueueBacklog"])
    assert backlog.selectors == [promql.Selector("demo_queue_depth")]
    assert backlog.grouping_labels == set()


def test_selector_of_otel_demo_alert_rule() -> None:
    doc = yaml.safe_load((FIXTURES / "evidence" / "grafana-alerting-cart-service.yml").read_text())
    expr = doc["groups"][0]["rules"][0]["data"][0]["model"]["expr"]
    parsed = promql.parse_selectors(expr)
    assert len(parsed.selectors) == 1
    sel = parsed.selectors[0]
    assert sel.metric == "http_server_request_duration_seconds_bucket"
    assert {(m.name, m.value) for m in sel.matchers} == {
        ("deployment_environment_name", ""),
        ("service_namespace", "opentelemetry-demo"),
        ("service_name", "cart"),
        ("http_request_method", "POST"),
        ("http_route", "/oteldemo.CartService/AddItem"),
    }
    assert {"service_name", "http_route", "le"} <= parsed.grouping_labels


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'sum(rate(http_requests_total{status=~"5..", job="api"}[5m])) by (service)'
            " / sum(rate(http_requests_total[5m])) by (service) > 0.05",
            ['http_requests_total{status=~"5..",job="api"}', "http_requests_total"],
        ),
        ('label_replace(up{job="a"}, "dst", "$1", "src", "(.*)") offset 5m', ['up{job="a"}']),
        (
            "max_over_time(rate(x_total[5m:1m] @ start())[10m:]) and on(instance) y",
            ["x_total", "y"],
        ),
        ('{__name__="my_metric", a="b"} > bool 1', ['my_metric{a="b"}']),
        ('{"my.metric", a="b"}', ['{__name__="my.metric",a="b"}']),
        ("topk(5, sum without (pod) (z))", ["z"]),
        ("vector(1) + scalar(absent(nan_metric)) # comment up{x}", ["nan_metric"]),
        ("a * on(instance) group_left(version) build_info", ["a", "build_info"]),
    ],
)
def test_selector_parsing(expr: str, expected: list[str]) -> None:
    assert [s.render() for s in promql.parse_selectors(expr).selectors] == expected


def test_unparseable_expression_raises_and_exemplar_query_falls_back() -> None:
    with pytest.raises(ValueError):
        promql.parse_selectors('up{job="x"')
    assert promql.exemplar_query('up{job="x"', {}, []) == 'up{job="x"'


def test_exemplar_query_strips_external_labels_and_narrows_by_grouping() -> None:
    hook = AlertmanagerWebhook.model_validate_json(
        (FIXTURES / "alertmanager" / "alertmanager_webhook_02_firing.json").read_text()
    )
    alert = hook.to_alerts()[0]
    assert alert.labels["env"] == "lab"  # the external label the series do not have
    assert alert.expr is not None
    query = promql.exemplar_query(alert.expr, alert.labels, ["env"])
    assert query == 'demo_request_duration_seconds_bucket{route="/checkout"}'
    # without stripping, env would only be added if grouped by; severity never is
    assert "severity" not in query


def test_exemplar_query_escapes_hostile_label_values() -> None:
    labels = {"route": '"} or vector(1) or up{a="', "env": "lab"}
    query = promql.exemplar_query("sum by (route) (rate(x_bucket[1m]))", labels, ["env"])
    parsed = promql.parse_selectors(query)
    assert len(parsed.selectors) == 1
    assert parsed.selectors[0].matchers == (promql.Matcher("route", "=", labels["route"]),)


def test_without_aggregation_does_not_narrow() -> None:
    query = promql.exemplar_query("sum without (pod) (rate(x[1m]))", {"pod": "p", "job": "j"}, [])
    assert query == "x"


def test_fill_template_escapes_values_and_rejects_unknown_placeholders() -> None:
    out = promql.service_query('rate(http_requests_total{{service="{service}"}}[5m])', 'a"b\\')
    assert out == 'rate(http_requests_total{service="a\\"b\\\\"}[5m])'
    assert promql.parse_selectors(out).selectors[0].matchers[0].value == 'a"b\\'
    with pytest.raises(ConfigError):
        promql.fill_template('x{{a="{nope}"}}', service="s")


def test_series_labels_drops_external_and_alert_only_labels() -> None:
    labels = {"alertname": "A", "env": "lab", "job": "j", "bad-name": "x"}
    assert promql.series_labels(labels, ["env"]) == {"job": "j"}


@given(st.text(max_size=300), st.dictionaries(st.text(max_size=20), st.text(max_size=40)))
def test_exemplar_query_never_raises_on_arbitrary_input(expr: str, labels: dict[str, str]) -> None:
    assert isinstance(promql.exemplar_query(expr, labels, ["env"]), str)


@given(
    st.sampled_from(["up", "x_bucket", "a:b:c", "http_requests_total"]),
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
            st.sampled_from(["=", "!=", "=~", "!~"]),
            label_values,
        ),
        max_size=4,
    ),
)
def test_rendered_selectors_parse_back(metric: str, matchers: list[tuple[str, str, str]]) -> None:
    sel = promql.Selector(metric, tuple(promql.Matcher(*m) for m in matchers))
    expr = f"sum by (job) (rate({sel.render()}[5m] offset 1h)) > bool 0.5"
    assert promql.parse_selectors(expr).selectors == [sel]
