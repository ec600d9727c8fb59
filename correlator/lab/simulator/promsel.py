"""Vector selectors of a PromQL expression, for serving ``query_exemplars`` (test double).

Prometheus answers ``query_exemplars`` with the exemplars of every series selected by any vector
selector of the expression; this extracts those selectors (grouping label lists, function
names, keywords, durations and numbers are skipped) and matches exemplar series against them.
"""

from __future__ import annotations

import re
from typing import Any

from correlator.wire.openmetrics import OMExemplar
from correlator.wire.promql import unquote

_TOK = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<range>\[[^\]]*\])'
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<brace>\{)|(?P<lp>\()|(?P<rp>\))"
    r"|(?P<other>[^\sA-Za-z_:{()\[]+))"
)
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"} | _GROUPING
_AGGREGATORS = {
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "limitk",
    "limit_ratio",
}

Matcher = tuple[str, str, str]


class SelectorError(ValueError):
    pass


def _unquote(s: str) -> str:
    """The product's PromQL string codec (``correlator.wire.promql``), so escapes round-trip."""
    try:
        return unquote(s)
    except ValueError as exc:
        raise SelectorError(str(exc)) from exc


def _braces(expr: str, pos: int) -> tuple[list[Matcher], int]:
    end = pos + 1
    out: list[Matcher] = []
    while end < len(expr) and expr[end] != "}":
        if expr[end].isspace() or expr[end] == ",":
            end += 1
            continue
        m = _MATCHER.match(expr, end)
        if not m:
            raise SelectorError(f"bad label matcher at {end}")
        out.append((m.group(1), m.group(2), _unquote(m.group(3))))
        end = m.end()
    return out, end + 1


def selectors(expr: str) -> list[list[Matcher]]:
    """Each vector selector as a list of (label, op, value), ``__name__`` included."""
    out: list[list[Matcher]] = []
    pos, skip_group = 0, False
    while pos < len(expr):
        m = _TOK.match(expr, pos)
        if not m or m.end() == pos:
            if expr[pos:].strip():
                raise SelectorError(f"cannot parse PromQL at {pos}")
            break
        kind, pos = m.lastgroup, m.end()
        if kind == "name":
            name = m.group("name")
            rest = expr[pos:].lstrip()
            if name in _GROUPING:
                skip_group = True
            elif (
                rest.startswith("(")
                or name.lower() in _KEYWORDS
                or (name in _AGGREGATORS and rest.startswith(("by", "without")))
            ):
                continue
            else:
                matchers: list[Matcher] = [("__name__", "=", name)]
                if rest.startswith("{"):
                    extra, pos = _braces(expr, expr.index("{", pos))
                    matchers += extra
                out.append(matchers)
        elif kind == "lp" and skip_group:
            pos = expr.index(")", pos) + 1
            skip_group = False
        elif kind == "brace":
            extra, pos = _braces(expr, m.start("brace"))
            out.append(extra)
    if not out:
        raise SelectorError("expression has no vector selector")
    return out


def _matches(series: dict[str, str], matchers: list[Matcher]) -> bool:
    for label, op, value in matchers:
        have = series.get(label, "")
        if op == "=" and have != value:
            return False
        if op == "!=" and have == value:
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, have) is not None) != (op == "=~"):
            return False
    return True


def query_exemplars(
    exemplars: list[OMExemplar], expr: str, start: float, end: float
) -> list[dict[str, Any]]:
    """Prometheus ``query_exemplars`` ``data``: one entry per series, exemplars in time order."""
    sels = selectors(expr)
    grouped: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for ex in sorted(exemplars, key=lambda e: e.timestamp):
        if not (start <= ex.timestamp <= end):
            continue
        if not any(_matches(ex.series, sel) for sel in sels):
            continue
        key = tuple(sorted(ex.series.items()))
        grouped.setdefault(key, []).append(
            {"labels": dict(ex.labels), "value": ex.value, "timestamp": round(ex.timestamp, 3)}
        )
    return [{"seriesLabels": dict(k), "exemplars": v} for k, v in sorted(grouped.items())]
