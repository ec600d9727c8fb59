"""What was missing, and the next query a human should run (rendered from ``next_queries``)."""

from __future__ import annotations

from correlator.models import EvidenceKind, EvidenceStatus, InsufficientEvidence
from correlator.models.alert import alert_service
from correlator.rules.render import render_promql
from correlator.rules.ruleset import RuleSet
from correlator.rules.signals.base import Context
from correlator.rules.templates import promql_values

_KIND_QUERY = {
    EvidenceKind.EXEMPLARS: "exemplars",
    EvidenceKind.TRACE: "traces",
    EvidenceKind.TRACE_SEARCH: "traces",
    EvidenceKind.TRACE_LOGS: "logs",
    EvidenceKind.LOG_PATTERNS: "logs",
    EvidenceKind.DEPLOYS: "deploys",
    EvidenceKind.CHANGE: "deploys",
    EvidenceKind.METRIC: "metrics",
}


def missing_evidence(ctx: Context) -> tuple[list[str], set[str]]:
    """(human-readable lines, query keys) for failed envelopes (grouped: one line per backend,
    kind and error, with a count and an example id) and for absent traces."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    keys: set[str] = set()
    for e in sorted(ctx.bundle.missing(), key=lambda e: e.id):
        groups.setdefault((e.kind.value, e.source, e.status.value, e.error or ""), []).append(e.id)
        if e.kind in _KIND_QUERY:
            keys.add(_KIND_QUERY[e.kind])
    lines = []
    for (kind, source, status, error), ids in groups.items():
        count = f"{len(ids)} x " if len(ids) > 1 else ""
        detail = f": {error}" if error else ""
        lines.append(f"{count}{kind} from {source} {status}{detail} (e.g. {ids[0]})")
    if not ctx.incident:
        exemplar_items = [e for e in ctx.bundle.items if e.kind is EvidenceKind.EXEMPLARS]
        if exemplar_items and all(e.status is EvidenceStatus.NO_DATA for e in exemplar_items):
            lines.append("no exemplars for the alert expression")
            keys.add("exemplars")
        lines.append("no incident traces")
        keys.add("traces")
    return lines, keys


def primary_missing(ctx: Context) -> bool:
    """Neither traces nor log patterns could be read: silence is not evidence of health."""
    return not ctx.incident and not ctx.bundle.log_patterns and not ctx.bundle.metrics


def next_queries(rs: RuleSet, ctx: Context, keys: set[str]) -> list[str]:
    alert = ctx.bundle.alert
    fallback = alert_service(alert.labels, rs.settings.alert_service_labels)
    service = ctx.bundle.alert_service or fallback or ""
    values = promql_values(
        service=service, namespace=rs.namespace_of(alert), alertname=alert.alertname
    )
    out: list[str] = []
    for key in sorted(keys):
        template = getattr(rs.next_queries, key, "")
        if not template:
            continue
        out.append(
            render_promql(
                template,
                values,
                service_label=rs.service_label_for(ctx.bundle.alert),
                namespace_label=rs.settings.namespace_label,
                expr=ctx.bundle.expr or alert.expr or "",
            )
        )
    return out


def insufficient(rs: RuleSet, ctx: Context) -> InsufficientEvidence | None:
    lines, keys = missing_evidence(ctx)
    if not lines:
        return None
    return InsufficientEvidence(missing=lines, next_queries=next_queries(rs, ctx, keys))
