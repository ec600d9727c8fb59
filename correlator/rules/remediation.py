"""Remediation proposals (never executed): rollback, disable flag, revert config, scale, restart,
or a fix grounded in evidence (e.g. the index a seq-scanning ``db.statement`` lacks)."""

from __future__ import annotations

import re

from correlator.models import Change, FaultType, Remediation, RemediationKind
from correlator.rules.faults import Verdict
from correlator.rules.render import render_command, render_promql
from correlator.rules.ruleset import RuleSet
from correlator.rules.signals.base import Context, statement_of
from correlator.rules.templates import command_values, promql_values

_FROM = re.compile(r"\bfrom\s+([A-Za-z_][\w.]*)", re.I)
_WHERE_COL = re.compile(
    r"\bwhere\s+(?:[A-Za-z_]\w*\.)?([A-Za-z_]\w*)\s*(?:=|<|>|\bin\b|\blike\b)", re.I
)
_SEQ_SCAN = re.compile(r"seq(?:uential)?\s+scan\s+on\s+([A-Za-z_][\w.]*)", re.I)


def index_suggestion(statements: list[str], log_texts: list[str]) -> str | None:
    """``CREATE INDEX`` for the filtered column of the statement that scans a table.

    ``statements`` come most suspect first (slowest spans); a "seq scan on X" log line, when
    present, restricts the choice to statements reading X."""
    scanned = {m.group(1).lower() for t in log_texts for m in _SEQ_SCAN.finditer(t)}
    for stmt in dict.fromkeys(statements):
        table, col = _FROM.search(stmt), _WHERE_COL.search(stmt)
        if not table or not col:
            continue
        name = table.group(1)
        if scanned and name.lower() not in scanned:
            continue
        return f"CREATE INDEX CONCURRENTLY ON {name} ({col.group(1)});"
    return None


def _db_facts(ctx: Context, service: str) -> tuple[list[str], list[str]]:
    """The service's db statements, slowest span first, and the log texts that may name the
    scanned table (mined templates, their samples, and the incident traces' own log lines)."""
    slowest: dict[str, float] = {}
    for te in ctx.incident:
        for span in te.trace.spans:
            stmt = statement_of(span) if span.service == service else ""
            if stmt:
                slowest[stmt] = max(slowest.get(stmt, 0.0), span.duration_ms)
    statements = sorted(slowest, key=lambda st: (-slowest[st], st))
    statements += sorted({st for te in ctx.incident for st in te.analysis.db_statements})
    texts = [
        t for slp in ctx.bundle.log_patterns for p in slp.patterns for t in (p.template, *p.samples)
    ]
    texts += [line.line for tl in ctx.bundle.trace_logs for line in tl.lines]
    return statements, texts


def _verify(rs: RuleSet, ctx: Context, service: str, fault: FaultType) -> str:
    template = rs.remediation.verify.get(fault, rs.remediation.verify_default)
    if not template:
        return ""
    values = promql_values(
        service=service,
        namespace=rs.namespace_of(ctx.bundle.alert),
        alertname=ctx.bundle.alert.alertname,
    )
    return render_promql(
        template,
        values,
        service_label=rs.service_label_for(ctx.bundle.alert),
        namespace_label=rs.settings.namespace_label,
        expr=ctx.bundle.expr or ctx.bundle.alert.expr or "",
    )


def _commands(templates: list[str], values: dict[str, str]) -> list[str]:
    return [render_command(t, values) for t in templates if t]


def _values(rs: RuleSet, ctx: Context, service: str, v: Verdict) -> dict[str, str]:
    c: Change | None = v.change
    return command_values(
        service=service,
        namespace=rs.namespace_of(ctx.bundle.alert),
        version=(c.from_version if c else None) or "",
        commit=(c.from_commit if c else None) or "",
        bad_version=(c.to_version if c else None) or "",
        bad_commit=(c.to_commit if c else None) or "",
        flag=v.flag or "",
    )


def propose(rs: RuleSet, ctx: Context, service: str, v: Verdict) -> Remediation:
    vals = _values(rs, ctx, service, v)
    tmpl = rs.remediation
    verify = _verify(rs, ctx, service, v.fault)
    risk = tmpl.risk
    if v.fault is FaultType.DEPLOY_REGRESSION and v.change is not None:
        c = v.change
        target = c.from_version or c.from_commit or "the previous version"
        rollback = [tmpl.rollback.kubectl, tmpl.rollback.helm, tmpl.rollback.argocd]
        cmds = _commands(rollback, vals)
        bad = c.to_version or c.to_commit or "the new version"
        summary = f"Roll back {service} from {bad} to {target}"
        if v.flag and "flag_new" in v.tags:
            cmds += _commands(tmpl.disable_flag, vals)
            summary += f", or disable feature flag {v.flag}"
        fix = _fix_text(ctx, service, v)
        if fix:
            summary += f"; then fix: {fix}"
        return Remediation(
            kind=RemediationKind.ROLLBACK,
            summary=summary,
            commands=cmds,
            target_version=c.from_version,
            target_commit=c.from_commit,
            compare_url=c.url or (d.url if (d := ctx.diff_for(c)) is not None else None),
            risk=risk.get("rollback", ""),
            verify=verify,
        )
    if v.fault is FaultType.FEATURE_FLAG and v.flag:
        return Remediation(
            kind=RemediationKind.DISABLE_FLAG,
            summary=f"Disable feature flag {v.flag}",
            commands=_commands(tmpl.disable_flag, vals),
            risk=risk.get("disable_flag", ""),
            verify=verify,
        )
    if v.fault is FaultType.CONFIG_CHANGE:
        what = (
            v.change.description if v.change and v.change.description else "the last config change"
        )
        return Remediation(
            kind=RemediationKind.REVERT_CONFIG,
            summary=f"Revert {what} of {service}",
            commands=_commands(tmpl.revert_config, vals),
            risk=risk.get("revert_config", ""),
            verify=verify,
        )
    return _operational(rs, ctx, service, v, vals, verify)


def _operational(
    rs: RuleSet, ctx: Context, service: str, v: Verdict, vals: dict[str, str], verify: str
) -> Remediation:
    tmpl, risk = rs.remediation, rs.remediation.risk
    if v.fault in (FaultType.RESOURCE_CPU, FaultType.TRAFFIC_SURGE):
        return Remediation(
            kind=RemediationKind.SCALE,
            summary=f"Scale out {service}",
            commands=_commands(tmpl.scale, vals),
            risk=risk.get("scale", ""),
            verify=verify,
        )
    if v.fault in (FaultType.RESOURCE_MEMORY, FaultType.DEPENDENCY_DOWN):
        what = (
            "memory grows until restart"
            if v.fault is FaultType.RESOURCE_MEMORY
            else "it is unreachable"
        )
        return Remediation(
            kind=RemediationKind.RESTART,
            summary=f"Restart {service} ({what})",
            commands=_commands(tmpl.restart, vals),
            risk=risk.get("restart", ""),
            verify=verify,
        )
    fix = _fix_text(ctx, service, v)
    if fix:
        return Remediation(
            kind=RemediationKind.FIX, summary=fix, risk=risk.get("fix", ""), verify=verify
        )
    return Remediation(
        kind=RemediationKind.INVESTIGATE,
        summary=f"Investigate {service}: {v.fault.value.replace('_', ' ')}",
        risk=risk.get("investigate", ""),
        verify=verify,
    )


def _fix_text(ctx: Context, service: str, v: Verdict) -> str | None:
    if "db" not in v.tags and v.fault is not FaultType.DATABASE_SLOW:
        return None
    statements, texts = _db_facts(ctx, service)
    index = index_suggestion(statements, texts)
    if index:
        return f"add the missing index: {index}"
    return None
