"""``/healthz`` (process up), ``/readyz`` (database reachable and, after an intake write
failed, writable again), ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from correlator.api.context import AppContext, get_context
from correlator.api.feedback import refresh_accuracy_metrics
from correlator.worker import ProcessWorkers

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "database unreachable or unable to write"}})
async def readyz(request: Request, ctx: AppContext = Depends(get_context)) -> JSONResponse:
    if not await ctx.store.ping():
        return JSONResponse({"status": "not ready", "database": "unreachable"}, status_code=503)
    if ctx.store_write_error is not None:  # an intake write failed: ready again once one works
        if not await ctx.store.can_write():
            body = {"status": "not ready", "database": "cannot write"}
            return JSONResponse({**body, "error": ctx.store_write_error}, status_code=503)
        ctx.store_write_error = None
    ready: dict[str, object] = {"status": "ready", "database": "ok"}
    pool = getattr(request.app.state, "workers", None)
    if isinstance(pool, ProcessWorkers):  # informative: intake works before they are up
        ready["worker_processes_ready"] = pool.ready
    return JSONResponse(ready)


@router.get("/metrics", response_class=Response)
async def metrics(ctx: AppContext = Depends(get_context)) -> Response:
    """Intake counts, queue depth, stage latency histograms, backend and LLM instruments."""
    depth = await ctx.store.queue_depth()
    ctx.metrics.queue_depth.set(depth)
    ctx.metrics.queue_over_limit.set(1 if depth > ctx.settings.queue_depth_warn else 0)
    await refresh_accuracy_metrics(ctx)
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
