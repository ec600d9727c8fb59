"""Intake of one Alertmanager notification as a group (``grouping: alertmanager``).

Alertmanager already decided which alerts are one problem: those it notifies together under one
``groupKey`` (per receiver). The whole notification goes to ``Store.intake_group`` in one
transaction (committed before the 202), so every alert of the body maps to the group's one
investigation. Then, outside the transaction: progress events, and the group's note, edited in
place, when a finished investigation gained alerts without a re-run (the count changed) or its
last alert resolved.
"""

from __future__ import annotations

from correlator.api.context import AppContext
from correlator.llm.redact import Redactor
from correlator.models import (
    Alert,
    AlertmanagerWebhook,
    AlertStatus,
    Investigation,
    InvestigationStatus,
)
from correlator.ports import GroupIntake


def grouped(ctx: AppContext, hook: AlertmanagerWebhook) -> bool:
    """Whether this notification is taken as a group (a body without ``groupKey``, e.g. an
    old third-party sender, is taken alert by alert)."""
    return ctx.settings.grouping == "alertmanager" and bool(hook.group_key)


async def intake_group(
    ctx: AppContext, hook: AlertmanagerWebhook, alerts: list[Alert]
) -> list[Investigation]:
    """Store the notification; one entry per alert of the body (all the same investigation).

    ``alerts`` are the body's alerts as redacted at intake; the group labels are redacted here
    the same way (they are label values too)."""
    redactor = Redactor(emails=ctx.settings.llm.redact_emails)
    result = await ctx.store.intake_group(
        alerts,
        group_labels={redactor.text(k): redactor.text(v) for k, v in hook.group_labels.items()},
        debounce_seconds=ctx.settings.group_debounce_seconds,
    )
    for outcome in result.outcomes:
        ctx.metrics.alerts_total.labels(result=outcome).inc()
    await _announce(ctx, alerts, result)
    return [result.investigation] * len(alerts)


async def _announce(ctx: AppContext, alerts: list[Alert], result: GroupIntake) -> None:
    inv = result.investigation
    if result.joined:
        payload: dict[str, object] = {"count": result.joined, "rerun": result.rerun}
        await ctx.events.emit(inv.id, "alerts_joined", payload)
    resolved = [a for a in alerts if a.status is AlertStatus.RESOLVED]
    if resolved:
        ends = max((a.ends_at for a in resolved if a.ends_at), default=None)
        await ctx.events.emit(
            inv.id,
            "alert_resolved",
            {
                "fingerprints": [a.fingerprint for a in resolved],
                "ends_at": ends.isoformat() if ends else None,
                "group_resolved": result.resolved_now,
            },
        )
    if ctx.note_sink is None or inv.status is not InvestigationStatus.DONE:
        return
    if result.resolved_now:
        await ctx.note_sink.publish(inv, phase="resolved")
    elif result.joined and not result.rerun:
        await ctx.note_sink.publish(inv, phase=_latest_phase(inv))


def _latest_phase(inv: Investigation) -> str:
    """The phase of the note as last published (the LLM note when that stage ran)."""
    return "llm" if any(s.name == "notes_llm" for s in inv.stages) else "rules"
