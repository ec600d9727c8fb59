"""``POST /api/v1/webhooks/alertmanager``: ack fast, work later.

Every alert of the body is durably stored before the 202 goes out (``grouping: alertmanager``:
one investigation per Alertmanager group, ``correlator.api.group_intake``; ``grouping: alert``:
one per fingerprint + startsAt); workers pick the work up afterwards. Re-sends return the
existing ids. A ``resolved`` alert marks its investigation's alert resolved (creating the
investigation when the firing notification never reached us) and re-publishes the note of a
finished one.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from correlator.api.context import (
    AppContext,
    BodyError,
    app_context,
    body_schema,
    intake_write,
    parse_json,
    read_body,
    require_webhook_token,
    validate,
)
from correlator.api.group_intake import grouped, intake_group
from correlator.llm.redact import Redactor, redact_models
from correlator.models import (
    Alert,
    AlertmanagerWebhook,
    AlertStatus,
    Investigation,
    InvestigationStatus,
)

router = APIRouter(tags=["intake"])
MAX_YEAR = 9000
DEPTH_REFRESH_SECONDS = 0.5
INLINE_REDACT_ALERTS = 4  # ~0.25 ms each; larger bodies are redacted in a thread


class IntakeItem(BaseModel):
    id: str
    fingerprint: str
    status: InvestigationStatus


class IntakeResponse(BaseModel):
    investigations: list[IntakeItem]


@router.post(
    "/api/v1/webhooks/alertmanager",
    status_code=202,
    response_model=IntakeResponse,
    dependencies=[Depends(require_webhook_token)],
    openapi_extra=body_schema(AlertmanagerWebhook),
    responses={
        400: {"description": "malformed JSON"},
        401: {"description": "missing or wrong bearer token"},
        413: {"description": "body over the limit (1 MiB by default)"},
        422: {"description": "not an Alertmanager webhook; detail names the field path"},
        503: {"description": "the store cannot write (e.g. disk full): nothing stored, retry"},
    },
)
async def alertmanager_webhook(
    request: Request, ctx: AppContext = Depends(app_context)
) -> IntakeResponse:
    """Alertmanager webhook receiver (``webhook_configs``, payload version 4)."""
    try:
        hook = validate(
            AlertmanagerWebhook, parse_json(await read_body(request, ctx.settings.body_limit_bytes))
        )
        _check_times(hook)
    except BodyError as exc:
        ctx.metrics.webhooks_total.labels(outcome=exc.outcome).inc()
        raise
    # labels, annotations and URLs redacted as they enter (D6); off the event loop unless the
    # body is small (a thread round trip costs more than redacting a few alerts)
    alerts = hook.to_alerts()
    emails = ctx.settings.llm.redact_emails
    if len(alerts) <= INLINE_REDACT_ALERTS:
        alerts = _redacted(alerts, emails)
    else:
        alerts = await asyncio.to_thread(_redacted, alerts, emails)
    try:
        async with intake_write(ctx):
            if grouped(ctx, hook):
                items = await intake_group(ctx, hook, alerts)
            else:
                items = await _intake(ctx, alerts)
    except BodyError as exc:
        ctx.metrics.webhooks_total.labels(outcome=exc.outcome).inc()
        raise
    ctx.metrics.webhooks_total.labels(outcome="accepted").inc()
    ctx.wake()
    if time.monotonic() - ctx.depth_read_at >= DEPTH_REFRESH_SECONDS:  # a COUNT per webhook
        ctx.depth_read_at = time.monotonic()  # would cost every sender of a storm a query
        depth = await ctx.store.queue_depth()
        ctx.metrics.queue_depth.set(depth)
        ctx.metrics.queue_over_limit.set(1 if depth > ctx.settings.queue_depth_warn else 0)
    return IntakeResponse(
        investigations=[
            IntakeItem(id=i.id, fingerprint=i.fingerprint, status=i.status) for i in items
        ]
    )


def _redacted(alerts: list[Alert], emails: bool) -> list[Alert]:
    return redact_models(alerts, Redactor(emails=emails))


def _check_times(hook: AlertmanagerWebhook) -> None:
    """Reject timestamps no real alert has (they overflow once converted to UTC)."""
    errors: list[dict[str, object]] = []
    for n, alert in enumerate(hook.alerts):
        for field, value, low in (
            ("startsAt", alert.starts_at, 1970),
            ("endsAt", alert.ends_at, 1),
        ):
            if value is None:
                continue
            try:
                year = value.astimezone(UTC).year if value.tzinfo else value.year
            except OverflowError:
                year = 0
            if not low <= year <= MAX_YEAR:
                msg = f"{field} out of range ({low}..{MAX_YEAR})"
                errors.append(
                    {"loc": ["body", "alerts", n, field], "msg": msg, "type": "value_error"}
                )
    if errors:
        raise BodyError(422, errors, "invalid")


async def _intake(ctx: AppContext, alerts: list[Alert]) -> list[Investigation]:
    """Store every alert (firing ones in one transaction); results in the body's order."""
    firing = [n for n, a in enumerate(alerts) if a.status is not AlertStatus.RESOLVED]
    out: dict[int, Investigation] = {}
    stored = await ctx.store.create_or_get_many([alerts[n] for n in firing])
    for n, (inv, created) in zip(firing, stored, strict=True):
        ctx.metrics.alerts_total.labels(result="new" if created else "duplicate").inc()
        out[n] = inv
    for n, alert in enumerate(alerts):
        if n not in out:
            out[n] = await _resolve(ctx, alert)
    return [out[n] for n in range(len(alerts))]


async def _resolve(ctx: AppContext, alert: Alert) -> Investigation:
    ctx.metrics.alerts_total.labels(result="resolved").inc()
    resolved = await ctx.store.mark_resolved(alert.fingerprint, alert.starts_at, alert.ends_at)
    if resolved is None:
        inv, _ = await ctx.store.create_or_get(alert)
        return inv
    ends = alert.ends_at.isoformat() if alert.ends_at else None
    await ctx.events.emit(resolved.id, "alert_resolved", {"ends_at": ends})
    if ctx.note_sink is not None and resolved.status is InvestigationStatus.DONE:
        await ctx.note_sink.publish(resolved, phase="resolved")
    return resolved
