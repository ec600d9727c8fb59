"""LogQL builders: escaping, service labels, trace-to-logs templates."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from correlator.errors import ConfigError
from correlator.settings import LokiSettings
from correlator.wire import logql, promql

TRACE = "0af7651916cd43dd8448eb211c80319c"
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=100)

_SELECTOR = re.compile(
    r'^\{(?P<name>[a-z_]+)(?P<op>=~?)(?P<lit>"(?:[^"\\\n]|\\.)*")\}(?P<rest>.*)$'
)


@given(values)
def test_error_query_keeps_any_service_inside_one_literal(service: str) -> None:
    query = logql.error_lines_query(LokiSettings(), service)
    m = _SELECTOR.match(query)
    assert m is not None, query
    assert m["name"] == "service_name"
    assert promql.unquote(m["lit"]) == service
    assert m["rest"] == ' |~ "(?i)(error|exception|fatal|panic|fail)"'


@given(st.lists(values.filter(bool), min_size=2, max_size=4, unique=True))
def test_several_services_become_an_anchored_literal_regex(services: list[str]) -> None:
    m = _SELECTOR.match(logql.trace_logs_query(LokiSettings(), TRACE, services))
    assert m is not None
    assert m["op"] == "=~"
    pattern = promql.unquote(m["lit"])
    for s in services:  # Python re agrees with RE2 on backslash-escaped punctuation
        assert re.fullmatch(pattern, s)
    assert not re.fullmatch(pattern, "".join(services) + "x")


def test_trace_logs_default_template_uses_structured_metadata_filter() -> None:
    q = logql.trace_logs_query(LokiSettings(), TRACE, ["cart"])
    assert q == f'{{service_name="cart"}} | trace_id="{TRACE}"'


def test_trace_logs_template_with_line_filter_and_app_label() -> None:
    loki = LokiSettings(
        service_labels=["app"], trace_logs_template='{{{selector}}} |= "{trace_id}"'
    )
    assert logql.trace_logs_query(loki, TRACE, []) == f'{{app=~".+"}} |= "{TRACE}"'
    assert logql.trace_logs_query(loki, TRACE, ["a.b", "c"]) == (
        f'{{app=~"a\\\\.b|c"}} |= "{TRACE}"'
    )


def test_trace_id_must_be_hex() -> None:
    with pytest.raises(ValueError):
        logql.trace_logs_query(LokiSettings(), '"} |= "x', ["a"])


def test_bad_label_names_are_rejected_not_escaped() -> None:
    with pytest.raises(ConfigError):
        logql.service_label(LokiSettings(service_labels=['svc"}']))
    with pytest.raises(ValueError):
        logql.matcher("a-b", "x")
    with pytest.raises(ConfigError):
        logql.trace_logs_query(LokiSettings(trace_logs_template="{{{selector}}} {oops}"), TRACE, [])
