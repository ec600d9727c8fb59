"""Verdict feedback and the track record over HTTP.

``POST /api/v1/investigations/{id}/feedback`` stores a verdict (``correct``, ``partly``,
``wrong``, optionally the real cause). Accepted credentials: ``CORRELATOR_FEEDBACK_TOKEN`` as a
bearer token (for scripts and chat-ops bots), or whatever the read API accepts (the UI token as
bearer or the ``correlator_ui`` cookie; loopback when no UI token is set). The body must be JSON
(``Content-Type: application/json``), which a cross-site HTML form cannot send. ``GET
/api/v1/accuracy`` is the track record; ``refresh_accuracy_metrics`` puts it on ``/metrics``.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from correlator.api.context import (
    AppContext,
    body_schema,
    get_context,
    parse_json,
    read_body,
    require_read_token,
    validate,
)
from correlator.metrics import Metrics
from correlator.models import AccuracyTable, Feedback, FeedbackIn, parse_duration
from correlator.ports import FeedbackStore

router = APIRouter(tags=["feedback"])


def feedback_store(ctx: AppContext) -> FeedbackStore:
    if ctx.feedback is None:
        raise HTTPException(status_code=501, detail="feedback needs the SQL store")
    return ctx.feedback


def require_feedback_token(request: Request) -> None:
    """``CORRELATOR_FEEDBACK_TOKEN`` as a bearer token, else the read API's rule."""
    ctx = get_context(request)
    token = ctx.settings.feedback_token
    if token is not None:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected):
            return
    require_read_token(request)


def _require_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise HTTPException(status_code=415, detail="send the verdict as application/json")


@router.post(
    "/api/v1/investigations/{investigation_id}/feedback",
    status_code=201,
    response_model=Feedback,
    dependencies=[Depends(require_feedback_token)],
    openapi_extra=body_schema(FeedbackIn),
    responses={
        400: {"description": "malformed JSON"},
        404: {"description": "no such investigation"},
        415: {"description": "not JSON"},
    },
)
async def post_feedback(
    investigation_id: str, request: Request, ctx: AppContext = Depends(get_context)
) -> Feedback:
    """Record a verdict on the investigation's top hypothesis (the latest verdict wins)."""
    _require_json(request)
    body = validate(FeedbackIn, parse_json(await read_body(request, 64 * 1024)))
    ui = request.headers.get("x-correlator-client") == "ui" or request.cookies.get("correlator_ui")
    source = "ui" if ui else "api"  # a label for the metric and the record, not a credential
    return await record(ctx, investigation_id, body, source=source)


async def record(
    ctx: AppContext, investigation_id: str, body: FeedbackIn, *, source: str
) -> Feedback:
    """Store a verdict and count it (API, UI and Slack share this)."""
    fb = await feedback_store(ctx).add_feedback(investigation_id, body, source=source)
    if fb is None:
        raise HTTPException(status_code=404, detail="no such investigation")
    ctx.metrics.feedback_total.labels(verdict=fb.verdict.value, source=source).inc()
    return fb


def since_time(since: str | None) -> datetime | None:
    if not since:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration(since))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get(
    "/api/v1/accuracy",
    response_model=AccuracyTable,
    dependencies=[Depends(require_read_token)],
)
async def accuracy(
    ctx: AppContext = Depends(get_context),
    since: str | None = Query(default=None, max_length=16, description="e.g. 30d, 12h, 2w"),
) -> AccuracyTable:
    """Per alert rule and per predicted fault type: verdicts in force, share confirmed."""
    return await feedback_store(ctx).accuracy(since=since_time(since))


def set_accuracy_metrics(metrics: Metrics, table: AccuracyTable) -> None:
    """Replace the track-record gauges with ``table`` (rows that vanished are dropped)."""
    metrics.verdicts.clear()
    metrics.verdicts_confirmed_ratio.clear()
    for by, rows in (("alertname", table.by_alertname), ("fault_type", table.by_fault_type)):
        for row in rows:
            counts = {"correct": row.confirmed, "partly": row.partly, "wrong": row.wrong}
            for verdict, n in counts.items():
                metrics.verdicts.labels(by=by, key=row.key, verdict=verdict).set(n)
            if row.ratio is not None:
                metrics.verdicts_confirmed_ratio.labels(by=by, key=row.key).set(row.ratio)


async def refresh_accuracy_metrics(ctx: AppContext) -> None:
    """At scrape time, so every replica serves the shared database's figures."""
    if ctx.feedback is not None:
        set_accuracy_metrics(ctx.metrics, await ctx.feedback.accuracy())
