"""The simulator's LogQL parser accepts what real Loki accepts in stream selectors (D14)."""

from __future__ import annotations

import pytest

from correlator.lab.simulator.logql import Entry, LogQLError, parse
from correlator.wire.logql import matcher, stream_selector

HOSTILE = [
    'inventory"} or vector(1) or {x="',
    "a}b",
    "comma, and } brace",
    'back\\slash "quoted"',
    "tab\tand\x01control",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_escaped_selector_values_select_their_stream(value: str) -> None:
    """D14: selectors with ``\\"``, ``}`` or escapes inside a value, as correlator writes them and
    Loki parses them, select the stream with exactly that label value (they got 400)."""
    entries = [
        Entry(1, "hit", {"service_name": value, "level": "error"}),
        Entry(2, "miss", {"service_name": "inventory", "level": "error"}),
    ]
    query = stream_selector(matcher("service_name", value), matcher("level", "error"))
    assert [s.entry.ts for s in parse(f'{query} |= "hit"').select(entries)] == [1]
    assert [s.entry.ts for s in parse(query).select(entries)] == [1]


@pytest.mark.parametrize(
    "query",
    ['{a="x"', '{a="x} |= "y"', '{a="\\q"}', "{}", '{a="x" |= "y"'],
)
def test_malformed_selectors_are_parse_errors(query: str) -> None:
    """D14: unterminated selectors and strings and invalid escapes stay 400s (LogQLError)."""
    with pytest.raises(LogQLError):
        parse(query)
