"""Metric discovery: which of the rules' metric templates can answer for these workloads.

The rules' templates (``rules/resources.yaml``) try every well-known family in turn with ``or``
(cAdvisor by pod, OTel, Micrometer, Istio, ...). Most families do not exist on a given stack, and
a template none of whose families exists costs a range query that returns nothing. Before the
per-service range queries, the chain asks Prometheus what exists for the implicated workloads in
the window (``/api/v1/series`` with the templates' own selectors as ``match[]``) and runs only
the templates with at least one selector that matches a series. The rest are not queried and
not recorded one by one (a line per absent family would crowd the LLM's evidence catalog); the
discovery envelope's summary names them.

The selectors are parsed from the rendered PromQL (``wire.promql.parse_selectors``) and matched
locally against the returned label sets (``=``, ``!=``, ``=~``, ``!~``; regexes are anchored like
Prometheus'). A template whose expression cannot be parsed, or that has no selector, always runs;
so does everything when discovery fails: discovery only ever saves queries, it never hides data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from correlator.models import MetricQuery
from correlator.wire.promql import Matcher, Selector, parse_selectors

MAX_SELECTORS = 1000  # per discovery (SERIES_CHUNK per request); more and every template runs


@dataclass(frozen=True)
class Plan:
    """Per query name, the selectors whose series would let it answer (``None``: always run)."""

    selectors: dict[str, tuple[Selector, ...] | None]

    def match_params(self) -> list[str]:
        """The distinct selectors to send as ``match[]``, in a stable order."""
        seen: dict[str, None] = {}
        for sels in self.selectors.values():
            for sel in sels or ():
                seen.setdefault(sel.render(), None)
        return list(seen)


def plan(queries: Sequence[MetricQuery]) -> Plan:
    out: dict[str, tuple[Selector, ...] | None] = {}
    for q in queries:
        try:
            sels = tuple(s for s in parse_selectors(q.expr).selectors if _usable(s))
        except ValueError:
            sels = ()
        out[q.name] = sels or None
    return Plan(out)


def answerable(plan_: Plan, found: Iterable[Mapping[str, str]]) -> set[str]:
    """Names of the queries that can answer: unparsed ones, and those with a selector that
    matches at least one discovered series."""
    series = list(found)
    ok: set[str] = set()
    for name, sels in plan_.selectors.items():
        if sels is None or any(matches(sel, s) for sel in sels for s in series):
            ok.add(name)
    return ok


def summary(queries: Sequence[MetricQuery], ok: set[str]) -> str:
    """``7 of 9 metric templates have series; none for: cpu_throttling (2), latency (1)``."""
    absent: dict[str, int] = {}
    for q in queries:
        if q.name not in ok:
            base = q.name.split(":", 1)[0]
            absent[base] = absent.get(base, 0) + 1
    head = f"{len(queries) - sum(absent.values())} of {len(queries)} metric templates have series"
    if not absent:
        return head
    return head + "; none for: " + ", ".join(f"{k} ({n})" for k, n in sorted(absent.items()))


def matches(sel: Selector, labels: Mapping[str, str]) -> bool:
    """Does a series with ``labels`` satisfy the selector (Prometheus semantics: an absent label
    is the empty string)?"""
    if sel.metric is not None and labels.get("__name__") != sel.metric:
        return False
    return all(_matcher(m, labels.get(m.name, "")) for m in sel.matchers)


def _matcher(m: Matcher, value: str) -> bool:
    if m.op == "=":
        return value == m.value
    if m.op == "!=":
        return value != m.value
    rx = _regex(m.value)
    if rx is None:
        return True  # a regex Python cannot read: assume it may match (never hide data)
    hit = rx.fullmatch(value) is not None
    return hit if m.op == "=~" else not hit


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _usable(sel: Selector) -> bool:
    """Prometheus refuses a ``match[]`` whose matchers all match the empty string: such a
    selector (and one with no metric name and no positive matcher) is not sent."""
    if sel.metric is not None:
        return True
    return any(m.op in ("=", "=~") and not _matcher(m, "") for m in sel.matchers)
