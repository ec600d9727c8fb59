"""Read investigations: paged list, full JSON, and progress as server-sent events.

The event stream reads the store's events table (not process memory), so any replica can serve
it. It ends once the investigation is done or failed and every event has been sent; a client
resumes with the standard ``Last-Event-ID`` header (or ``?after=``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from correlator.api.context import AppContext, get_context, require_read_token
from correlator.models import AlertStatus, Investigation, InvestigationStatus
from correlator.models.alert import alert_service
from correlator.ports import StoredEvent

router = APIRouter(tags=["investigations"], dependencies=[Depends(require_read_token)])

FINISHED = (InvestigationStatus.DONE, InvestigationStatus.FAILED)
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0


class InvestigationSummary(BaseModel):
    id: str
    fingerprint: str
    alertname: str
    service: str
    severity: str
    status: InvestigationStatus
    alert_status: AlertStatus
    starts_at: datetime
    created_at: datetime
    updated_at: datetime
    partial: str | None = None
    error: str | None = None
    top_hypothesis: str | None = None
    group_key: str | None = Field(default=None, description="Alertmanager group, when grouped")
    alerts: int = Field(default=1, description="alerts of the investigation (its group's)")
    alerts_firing: int = Field(default=1, description="of which still firing")

    @classmethod
    def of(cls, inv: Investigation, service_labels: Sequence[str]) -> InvestigationSummary:
        top = inv.analysis.top if inv.analysis else None
        return cls(
            id=inv.id,
            fingerprint=inv.fingerprint,
            alertname=inv.alert.alertname,
            service=alert_service(inv.alert.labels, service_labels) or "",
            severity=inv.alert.severity,
            status=inv.status,
            alert_status=inv.alert_status,
            starts_at=inv.alert.starts_at,
            created_at=inv.created_at,
            updated_at=inv.updated_at,
            partial=inv.partial,
            error=inv.error,
            top_hypothesis=top.statement if top else None,
            group_key=inv.group.group_key if inv.group else None,
            alerts=len(inv.group.alerts) if inv.group else 1,
            alerts_firing=inv.group.firing
            if inv.group
            else int(inv.alert_status.value == "firing"),
        )


class InvestigationPage(BaseModel):
    items: list[InvestigationSummary]
    total: int
    limit: int
    offset: int


@router.get("/api/v1/investigations", response_model=InvestigationPage)
async def list_investigations(
    ctx: AppContext = Depends(get_context),
    status: InvestigationStatus | None = None,
    alertname: str | None = Query(default=None, max_length=256),
    service: str | None = Query(default=None, max_length=256),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),  # 2^63 overflowed SQLite (D10)
) -> InvestigationPage:
    """Newest first; filter by status, alertname, service."""
    items = await ctx.store.list(
        status=status, alertname=alertname, service=service, limit=limit, offset=offset
    )
    total = await ctx.store.count(status=status, alertname=alertname, service=service)
    labels = ctx.settings.prometheus.service_labels
    return InvestigationPage(
        items=[InvestigationSummary.of(i, labels) for i in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/api/v1/investigations/{investigation_id}", response_model=Investigation)
async def get_investigation(
    investigation_id: str, ctx: AppContext = Depends(get_context)
) -> Investigation:
    inv = await ctx.store.get(investigation_id)
    if inv is None:
        raise HTTPException(status_code=404, detail="no such investigation")
    if ctx.note_sink is not None:  # delivery state lives with the note sink (the outbox)
        states = await ctx.note_sink.delivery_states(inv.id)
        inv = inv.model_copy(update={"notifications": states})
    return inv


def _sse(event: StoredEvent) -> str:
    data = json.dumps(event.payload, default=str, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


async def _stream(
    ctx: AppContext, request: Request, investigation_id: str, after: int
) -> AsyncIterator[str]:
    last = after
    idle = 0.0
    while True:
        batch = await ctx.store.events_after(investigation_id, last)
        for event in batch:
            yield _sse(event)
            last = event.id
        if batch:
            idle = 0.0
            continue
        inv = await ctx.store.get(investigation_id)
        if inv is None or inv.status in FINISHED:
            for event in await ctx.store.events_after(investigation_id, last):
                yield _sse(event)
            return
        if await request.is_disconnected():
            return
        if idle >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            idle = 0.0
        # woken by any replica's event (PostgreSQL LISTEN/NOTIFY); else polls the shared store
        await ctx.store.wait_events(investigation_id, POLL_SECONDS)
        idle += POLL_SECONDS


@router.get(
    "/api/v1/investigations/{investigation_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def investigation_events(
    investigation_id: str,
    request: Request,
    ctx: AppContext = Depends(get_context),
    after: int = Query(default=0, ge=0, description="resume after this event id"),
) -> StreamingResponse:
    """Progress events (``started``, ``stage``, ``alert_resolved``, ``finished``...) as SSE."""
    if await ctx.store.get(investigation_id) is None:
        raise HTTPException(status_code=404, detail="no such investigation")
    last_event_id = request.headers.get("last-event-id", "")
    if last_event_id.isdigit():
        after = max(after, int(last_event_id))
    return StreamingResponse(
        _stream(ctx, request, investigation_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
