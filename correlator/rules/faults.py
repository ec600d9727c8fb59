"""Fault type and culprit change of one accused service.

The fault type is evidence combination defined as data: ``fault_typing`` in ``rules/*.yaml``
(schema ``FaultTyping``) lists which evidence facts support which fault type with what weight;
``combine`` sums them and the highest total wins (docs/rules.md, "Fault typing").
"""

from __future__ import annotations

from dataclasses import dataclass

from correlator.models import Change, FaultType
from correlator.rules.schema import FaultTyping, SignalName
from correlator.rules.signals.base import Context, SignalResult
from correlator.rules.signals.changes import effective_kind, ranked_changes
from correlator.wire.alertexpr import measures_errors, measures_latency


@dataclass(frozen=True)
class Verdict:
    fault: FaultType
    change: Change | None
    tags: frozenset[str]
    flag: str | None
    totals: tuple[tuple[FaultType, float], ...] = ()  # per fault type, highest first


def _tags(service: str, results: dict[SignalName, SignalResult]) -> frozenset[str]:
    out: set[str] = set()
    for res in results.values():
        out |= res.tags.get(service, set())
    return frozenset(out)


def _scores(service: str, results: dict[SignalName, SignalResult]) -> dict[SignalName, float]:
    return {sig: r.scores.get(service, 0.0) for sig, r in results.items()}


def facts(
    tags: frozenset[str],
    scores: dict[SignalName, float],
    change: Change | None,
    context: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """The signals' tags plus the derived facts a fault-typing row may name (schema
    ``DERIVED_FACTS``); ``context`` holds the facts about the alert and the traces
    (``context_facts``)."""
    out = set(tags) | context
    out |= {f"signal:{sig.value}" for sig, sc in scores.items() if sc > 0}
    err = scores.get(SignalName.ERROR_ORIGIN, 0.0)
    lat = scores.get(SignalName.LATENCY_ORIGIN, 0.0)
    res = scores.get(SignalName.RESOURCE, 0.0)
    traffic = scores.get(SignalName.TRAFFIC, 0.0)
    if lat > 0 and lat >= err:
        out.add("latency_dominant")
    if traffic > 0 and traffic >= 0.5 * max(err, lat, res):
        out.add("traffic_dominant")
    if change is not None:
        out |= {"change", f"change:{effective_kind(change).value}"}
    return frozenset(out)


def context_facts(
    ctx: Context, service: str, results: dict[SignalName, SignalResult]
) -> frozenset[str]:
    """What the alert measures (``alert:errors``, ``alert:latency``, from its parsed
    expression); whether the service has spans in the incident's traces (``traced``: with its
    spans in hand, "none of its requests got slower" is evidence, not a gap in the data); and
    whether the failures are already located on another service's spans (``errors_elsewhere``).
    """
    out: set[str] = set()
    origin = results.get(SignalName.ERROR_ORIGIN)
    if origin is not None and any(
        s != service and v > 0 and "own_golden" not in origin.tags.get(s, set())
        for s, v in origin.scores.items()
    ):  # a service's own error ratio moving is the symptom paged on, not a located origin
        out.add("errors_elsewhere")
    if measures_errors(ctx.bundle.expr):
        out.add("alert:errors")
    if measures_latency(ctx.bundle.expr):
        out.add("alert:latency")
    if any(s.service == service for te in ctx.incident for s in te.trace.spans):
        out.add("traced")
    return frozenset(out)


def combine(
    table: FaultTyping | None, held: frozenset[str], scores: dict[SignalName, float]
) -> tuple[FaultType, tuple[tuple[FaultType, float], ...]]:
    """Sum each fault type's holding rows; highest total wins, ties to the fault whose first
    holding row comes earlier in the table; nothing holds: the table's default."""
    if table is None:
        return FaultTyping.model_fields["default"].default, ()
    total: dict[FaultType, float] = {}
    first: dict[FaultType, int] = {}
    for i, row in enumerate(table.evidence):
        if not held.issuperset(row.when) or held.intersection(row.unless):
            continue
        w = row.weight * (scores.get(row.scale, 0.0) if row.scale is not None else 1.0)
        if w <= 0:
            continue
        total[row.fault] = total.get(row.fault, 0.0) + w
        first.setdefault(row.fault, i)
    ranked = sorted(total.items(), key=lambda kv: (-kv[1], first[kv[0]]))
    out = tuple((f, round(t, 6)) for f, t in ranked)
    return (ranked[0][0] if ranked else table.default), out


def _flag_key(tags: frozenset[str], change: Change | None) -> str | None:
    if change is not None and change.flag_key:
        return change.flag_key
    keys = sorted(t.split("=", 1)[1] for t in tags if t.startswith("flag="))
    return keys[0] if keys else None


def verdict(
    ctx: Context,
    service: str,
    results: dict[SignalName, SignalResult],
    table: FaultTyping | None,
) -> Verdict:
    """The service's fault type by the rules' ``fault_typing`` table, and its suspect change."""
    tags = _tags(service, results)
    ranked = [(sc, c) for sc, c in ranked_changes(ctx, service) if sc >= ctx.t.min_change_score]
    change = ranked[0][1] if ranked else None
    scores = _scores(service, results)
    held = facts(tags, scores, change, context_facts(ctx, service, results))
    fault, totals = combine(table, held, scores)
    return Verdict(
        fault=fault, change=change, tags=tags, flag=_flag_key(tags, change), totals=totals
    )
