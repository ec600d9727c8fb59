"""Combine the signals with the rules' weights into ranked, cited hypotheses.

``total(s) = sum(weight * score)`` over the signals that apply to the alert, except that change
proximity is multiplied by the service's own anomaly (a deploy on a healthy service accuses
nothing). Ordering is by total descending, then the memory prior (confirmed past causes,
``rules/prior.py``: ties only), then service name: deterministic.
"""

from __future__ import annotations

import math

from correlator.models import (
    Analysis,
    ChangeKind,
    EvidenceBundle,
    FaultType,
    Hypothesis,
    InsufficientEvidence,
    SuspectChange,
)
from correlator.rules.faults import Verdict, verdict
from correlator.rules.insufficient import insufficient, next_queries, primary_missing
from correlator.rules.prior import confirmed_services, memory_citation
from correlator.rules.remediation import propose
from correlator.rules.ruleset import RuleSet
from correlator.rules.schema import SignalName
from correlator.rules.signals import run_signals
from correlator.rules.signals.base import Context, SignalResult, with_utc_times
from correlator.rules.signals.changes import effective_kind

ANOMALY_SIGNALS = {
    SignalName.ERROR_ORIGIN: 1.0,
    SignalName.LATENCY_ORIGIN: 1.0,
    SignalName.RESOURCE: 1.0,
    SignalName.TRAFFIC: 1.0,
}  # logs support a ranking but never accuse (nor unlock a change) on their own


def anomaly(results: dict[SignalName, SignalResult], service: str) -> float:
    """How strongly a signal that can accuse points at ``service`` (0 = accuse nothing)."""
    return max(
        (
            results[s].scores.get(service, 0.0) * f
            for s, f in ANOMALY_SIGNALS.items()
            if s in results and not results[s].degraded
        ),
        default=0.0,
    )


def totals(
    results: dict[SignalName, SignalResult], weights: dict[SignalName, float], min_anomaly: float
) -> dict[str, dict[SignalName, float]]:
    """service -> signal -> weighted contribution (only services with their own anomaly)."""
    services = sorted({s for r in results.values() for s in r.scores})
    out: dict[str, dict[SignalName, float]] = {}
    for service in services:
        own = anomaly(results, service)
        if own <= 0 or own < min_anomaly:
            continue
        parts: dict[SignalName, float] = {}
        for sig, w in weights.items():
            score = results[sig].scores.get(service, 0.0) if sig in results else 0.0
            if sig is SignalName.CHANGE:
                score *= min(1.0, 2.0 * own)
            if score > 0 and w > 0:
                parts[sig] = round(w * score, 6)
        if parts:
            out[service] = parts
    return out


def confidence(total: float, all_totals: list[float], weight_sum: float) -> float:
    """Strength of the evidence times its share among the suspects, recalibrated (square
    root, monotone: ranking unchanged) so that it reads like a probability: on the development
    sets the raw product put right answers at 0.4-0.6 (docs/accuracy.md, calibration)."""
    share = total / sum(all_totals) if all_totals else 0.0
    strength = 1.0 - math.exp(-3.0 * total / max(weight_sum, 1e-9))
    return round(min(0.99, math.sqrt(strength * (0.4 + 0.6 * share))), 3)


def less_likely(service: str, top: str, parts: dict[str, dict[SignalName, float]]) -> str | None:
    """ "less likely than <top> because ...": the signals where the top suspect's weighted
    evidence exceeds this one's the most (missing ones first)."""
    mine, theirs = parts.get(service, {}), parts.get(top, {})
    gaps = sorted(
        ((theirs[s] - mine.get(s, 0.0), s) for s in theirs if theirs[s] > mine.get(s, 0.0)),
        key=lambda x: (-x[0], x[1].value),
    )
    if not gaps:
        return None
    reasons = [
        f"no {s.value} evidence of its own"
        if s not in mine
        else f"weaker {s.value} ({mine[s]:.2f} vs {theirs[s]:.2f})"
        for _, s in gaps[:2]
    ]
    return f"less likely than {top} because: " + "; ".join(reasons)


def _statement(service: str, v: Verdict, results: dict[SignalName, SignalResult]) -> str:
    reasons = [r.reasons[service] for r in results.values() if service in r.reasons]
    head = f"{service}: {v.fault.value.replace('_', ' ')}"
    if v.change is not None:
        c = v.change
        what = c.to_version or c.to_commit or c.flag_key or v.flag or ""
        head += f" after {effective_kind(c).value.replace('_', ' ')} {what}"
    return (head.rstrip() + (" — " + "; ".join(reasons[:3]) if reasons else ""))[:500]


def _suspect(ctx: Context, v: Verdict) -> SuspectChange | None:
    c = v.change
    if c is None:
        return None
    diff = ctx.diff_for(c)
    kind = effective_kind(c)
    flag = c.flag_key or (v.flag if kind is ChangeKind.FEATURE_FLAG else None)
    what = c.to_version or c.to_commit or flag or c.description or ""
    return SuspectChange(
        evidence_id=c.evidence_id,
        kind=kind.value,
        service=c.service,
        summary=f"{kind.value} of {c.service} {what} at {c.time.isoformat()}".replace("  ", " "),
        version=c.to_version or flag,
        commit=c.to_commit,
        diff_id=diff.evidence_id if diff else None,
        hunk=(diff.quote() or None) if diff and not diff.docs_or_tests_only else None,
        compare_url=diff.url if diff else None,
    )


def _cited(
    ctx: Context, service: str, results: dict[SignalName, SignalResult], v: Verdict
) -> list[str]:
    ids: list[str] = []
    for sig in sorted(results):
        ids.extend(results[sig].evidence.get(service, []))
    if v.change is not None:
        ids.append(v.change.evidence_id)
        diff = ctx.diff_for(v.change)
        if diff is not None:
            ids.append(diff.evidence_id)
    seen: dict[str, None] = {}
    for i in ids:
        if i in ctx.valid_ids:
            seen.setdefault(i, None)
    return list(seen)


def rank(bundle: EvidenceBundle, ruleset: RuleSet) -> Analysis:
    """Ranked hypotheses for one bundle (pure, deterministic, cheap)."""
    bundle = with_utc_times(bundle)
    ctx = Context(bundle, ruleset.thresholds)
    weights = ruleset.weights_for(bundle.alert)
    results = run_signals(ctx)
    parts = totals(results, weights, ruleset.thresholds.min_anomaly)
    votes = confirmed_services(bundle)  # a prior: orders equal totals only
    scored = sorted(
        ((sum(p.values()), s) for s, p in parts.items()),
        key=lambda x: (-x[0], -votes.get(x[1], 0), x[1]),
    )
    scored = [(t, s) for t, s in scored if t >= ruleset.thresholds.min_score]
    applied = [r.name for r in ruleset.rules_for(bundle.alert)]
    if not scored:
        missing = primary_missing(ctx) or (not ctx.incident and bool(bundle.missing()))
        if missing:
            gap = insufficient(ruleset, ctx)
            return Analysis(insufficient=gap, rules_applied=applied)
        return Analysis(
            no_fault=True, rules_applied=applied, insufficient=insufficient(ruleset, ctx)
        )
    all_totals = [t for t, _ in scored]
    weight_sum = sum(weights.values())
    hyps: list[Hypothesis] = []
    for total, service in scored[: ruleset.thresholds.max_hypotheses]:
        v = verdict(ctx, service, results, ruleset.fault_typing)
        hyps.append(
            Hypothesis(
                service=service,
                fault_type=v.fault,
                statement=_statement(service, v, results),
                confidence=confidence(total, all_totals, weight_sum),
                scores={k.value: p for k, p in sorted(parts[service].items())},
                evidence_ids=_cited(ctx, service, results, v)
                + memory_citation(bundle, service, votes),
                suspect_change=_suspect(ctx, v),
                remediation=propose(ruleset, ctx, service, v),
                less_likely=less_likely(service, scored[0][1], parts) if hyps else None,
            )
        )
    gap = insufficient(ruleset, ctx)
    weak = hyps[0].confidence < ruleset.thresholds.inconclusive_below
    if weak and gap is None:
        gap = InsufficientEvidence(
            missing=[f"no strong suspect (top confidence {hyps[0].confidence:.2f})"],
            next_queries=next_queries(ruleset, ctx, {"traces", "logs", "metrics"}),
        )
    return Analysis(hypotheses=hyps, insufficient=gap, inconclusive=weak, rules_applied=applied)


__all__ = ["FaultType", "rank"]
