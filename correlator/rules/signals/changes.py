"""Change proximity: deploys, version, config and flag changes of a service shortly before onset.

A change scores by how close before onset it landed (within ``change_lookback_minutes``, or up to
``change_grace_minutes`` after, since alerts fire late) and more when incident spans of that
service carry its new version/commit. Its diff, when a Git provider is configured, moves the
score: touching the failing code path multiplies it by ``diff_touch_factor``, touching only docs
and tests by ``diff_docs_only_factor``. The score alone never accuses: ``scoring`` gates it by the
service's own anomaly, so a decoy deploy on a healthy service cannot win.
"""

from __future__ import annotations

import re
from datetime import timedelta

from correlator.models import Change, ChangeKind, TraceEvidence
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult

VERSIONED = {ChangeKind.DEPLOY, ChangeKind.VERSION_CHANGE}
KIND_TAG = {
    ChangeKind.DEPLOY: "change_deploy",
    ChangeKind.VERSION_CHANGE: "change_deploy",
    ChangeKind.CONFIG: "change_config",
    ChangeKind.FEATURE_FLAG: "change_flag",
}


def _versions(traces: list[TraceEvidence], service: str, *, healthy_only: bool) -> set[str]:
    out: set[str] = set()
    for te in traces:
        if healthy_only and te.analysis.root_error_service == service:
            continue
        for mapping in (te.analysis.versions, te.analysis.commits):
            if service in mapping:
                out.add(mapping[service])
        for s in te.trace.spans:
            if s.service == service and not (healthy_only and s.is_error):
                out.update(v for v in (s.resource.version, s.resource.commit) if v)
    return out


def incident_versions(ctx: Context, service: str) -> set[str]:
    return _versions(ctx.incident, service, healthy_only=False)


def _matches(new: set[str], have: set[str]) -> bool:
    return bool(new & have) or any(
        h.startswith(n) or n.startswith(h) for n in new for h in have if min(len(h), len(n)) >= 7
    )


def carries_change(ctx: Context, c: Change) -> bool:
    """Incident spans of the changed service run the change's new version or commit."""
    new = {v for v in (c.to_version, c.to_commit) if v}
    return _matches(new, incident_versions(ctx, c.service))


def ran_fine_before(ctx: Context, c: Change) -> bool:
    """Healthy pre-onset (baseline) traces already ran the new version: it was not the trigger."""
    new = {v for v in (c.to_version, c.to_commit) if v}
    return bool(new) and _matches(new, _versions(ctx.baseline, c.service, healthy_only=True))


def change_score(ctx: Context, c: Change) -> float:
    """Recency (half-life decay before onset) x whether incident spans carry it, damped when
    healthy baseline traces already ran the new version."""
    onset = ctx.bundle.onset
    lookback = timedelta(minutes=ctx.t.change_lookback_minutes)
    grace = timedelta(minutes=ctx.t.change_grace_minutes)
    if c.time > onset + grace or c.time < onset - lookback:
        return 0.0
    before_min = max(0.0, (onset - c.time).total_seconds()) / 60.0
    recency: float = 0.5 ** (before_min / ctx.t.change_half_life_minutes)
    match = 1.0 if carries_change(ctx, c) else 0.0
    score = recency * (0.6 + 0.4 * match)
    if c.kind in VERSIONED and ran_fine_before(ctx, c):
        score *= 0.2
    diff = ctx.diff_for(c)
    if diff is not None and diff.docs_or_tests_only:
        score *= ctx.t.diff_docs_only_factor
    elif diff is not None and diff.touches_failing_path:
        score = min(1.0, score * ctx.t.diff_touch_factor)
    return score


_FLAG_WORDS = re.compile(r"\b(feature[ _-]?)?flags?\b|\btoggle", re.IGNORECASE)
_CONFIG_WORDS = re.compile(r"\bconfig(uration|map)?\b|\bsettings?\b|\benv(ironment)? var", re.I)


def effective_kind(c: Change) -> ChangeKind:
    """A marker recorded as a plain deploy without any version or commit, whose text says it
    flipped a flag or pushed config, is that kind of change."""
    if c.kind is not ChangeKind.DEPLOY or c.to_version or c.to_commit:
        return c.kind
    text = c.description or ""
    if c.flag_key or _FLAG_WORDS.search(text):
        return ChangeKind.FEATURE_FLAG
    if _CONFIG_WORDS.search(text):
        return ChangeKind.CONFIG
    return c.kind


INFERRED_SOURCES = {"trace", "metric"}


def _same_release(a: Change, b: Change) -> bool:
    return a.service == b.service and bool(
        (a.to_version and a.to_version == b.to_version)
        or (a.to_commit and b.to_commit and (a.to_commit.startswith(b.to_commit[:7])))
    )


def _fill_from(c: Change, inferred: list[Change]) -> Change:
    """Take the previous version/commit from a matching inferred change when the record lacks it
    (the first deploy seen in the window has no predecessor; baseline traces know it)."""
    if c.from_version and c.from_commit:
        return c
    for other in sorted(inferred, key=lambda o: o.evidence_id):
        if _same_release(other, c):
            return c.model_copy(
                update={
                    "from_version": c.from_version or other.from_version,
                    "from_commit": c.from_commit or other.from_commit,
                }
            )
    return c


def ranked_changes(ctx: Context, service: str) -> list[tuple[float, Change]]:
    """Changes of ``service`` in the window, best first (stable tie-break on time then id).

    A change inferred from traces/metrics that repeats a recorded deploy (same version or
    commit) is folded into it: the recorded one carries the URL, author and previous version.
    """
    mine = [c for c in ctx.bundle.changes if c.service == service]
    inferred = [c for c in mine if c.source in INFERRED_SOURCES]
    recorded = [_fill_from(c, inferred) for c in mine if c.source not in INFERRED_SOURCES]
    kept = recorded + [c for c in inferred if not any(_same_release(c, r) for r in recorded)]
    scored = [(change_score(ctx, c), c) for c in kept]
    scored = [(s, c) for s, c in scored if s > 0]
    return sorted(scored, key=lambda sc: (-sc[0], -sc[1].time.timestamp(), sc[1].evidence_id))


def change_proximity(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.CHANGE)
    for service in sorted({c.service for c in ctx.bundle.changes}):
        ranked = ranked_changes(ctx, service)
        if not ranked:
            continue
        score, best = ranked[0]
        when = (ctx.bundle.onset - best.time).total_seconds() / 60.0
        version = best.to_version or best.to_commit or best.flag_key or ""
        diffs = [d for _, c in ranked if (d := ctx.diff_for(c)) is not None]
        res.add(
            service,
            score,
            ctx.cite(*(c.evidence_id for _, c in ranked), *(d.evidence_id for d in diffs)),
            f"{effective_kind(best).value} {version} {when:.0f} min before onset".replace(
                "  ", " "
            ),
        )
        res.tag(service, *(KIND_TAG[c.kind] for _, c in ranked))
        if carries_change(ctx, best):
            res.tag(service, "new_version_on_incident_spans")
        best_diff = ctx.diff_for(best)
        if best_diff is not None and best_diff.touches_failing_path:
            res.tag(service, "diff_touches_failing_path")
        elif best_diff is not None and best_diff.docs_or_tests_only:
            res.tag(service, "diff_docs_or_tests_only")
    _flag_facts(ctx, res)
    return res


OFF_VARIANTS = {"", "off", "false", "disabled", "0", "control", "default", "none"}


def _flag_facts(ctx: Context, res: SignalResult) -> None:
    """Flags evaluated ON in incident traces that baseline traces did not evaluate that way."""
    before = {(f.service, f.key, f.variant) for te in ctx.baseline for f in te.analysis.flags}
    for te in ctx.incident:
        failing = bool(te.analysis.error_span_ids) or te.analysis.root_error_service is not None
        for f in sorted(te.analysis.flags, key=lambda f: (f.service, f.key)):
            if (f.service, f.key, f.variant) in before:
                continue
            if (f.variant or "").strip().lower() in OFF_VARIANTS:
                continue
            res.tag(f.service, "flag_new", f"flag={f.key}")
            if failing:
                res.tag(f.service, "flag_on_failing")
