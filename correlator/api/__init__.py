"""The HTTP API: ``create_app(settings, deps=None)``.

The lifespan owns the runtime (store, per-backend HTTP clients) and the service parts (worker
pool, scheduler), all built by ``correlator.wiring``; this module only adds the routes.
Routers are listed in ``ROUTERS``: a new area adds its module to the import line and one entry
to that list.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from correlator import __version__
from correlator.api import (
    deploys,
    feedback,
    health,
    investigations,
    slack_interactions,
    ui,
    webhooks,
)
from correlator.api.context import AppContext
from correlator.api.readtimeout import BodyReadTimeout
from correlator.api.security import SecurityMiddleware
from correlator.metrics import Metrics
from correlator.models import AlertmanagerWebhook, Deploy, FeedbackIn
from correlator.ports import SlackActions, Store
from correlator.settings import Settings
from correlator.wiring import Runtime, Service, assemble_service, open_runtime
from correlator.worker import host_prefix

log = logging.getLogger(__name__)

ROUTERS: list[APIRouter] = [
    webhooks.router,
    investigations.router,
    deploys.router,
    health.router,
    ui.router,
    feedback.router,
    slack_interactions.router,
]

# request bodies parsed by hand (size limit, 400 vs 422): their schemas go into components
BODY_MODELS: list[type[BaseModel]] = [AlertmanagerWebhook, Deploy, FeedbackIn]


@dataclass
class AppDeps:
    """Overrides for tests and embedding; defaults build everything from settings."""

    store: Store | None = None
    metrics: Metrics | None = None
    run_workers: bool = True
    run_scheduler: bool = True
    shutdown_grace_seconds: float = 10.0
    worker_poll_seconds: float = 2.0
    slack_actions: SlackActions | None = None  # e.g. the Slack connector on a test transport


def create_app(settings: Settings, deps: AppDeps | None = None) -> FastAPI:
    deps = deps or AppDeps()
    metrics = deps.metrics or Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reclaim = deps.run_workers  # like investigations: what this host's last process held
        async with open_runtime(
            settings, metrics=metrics, store=deps.store, reclaim_notes=reclaim
        ) as rt:
            svc = _assemble(app, rt, settings, deps)
            pool, scheduler = svc.pool, svc.scheduler
            if settings.webhook_token is None:
                log.warning("CORRELATOR_WEBHOOK_TOKEN is unset: webhook and deploy intake is open")
            if deps.run_workers:
                requeued = await rt.store.requeue_running_on_start(host_prefix())
                if requeued:
                    log.warning("re-queued %d investigation(s) interrupted by a crash", requeued)
                pool.start()
            if deps.run_scheduler:
                scheduler.start()
            try:
                yield
            finally:
                if scheduler.running:
                    scheduler.shutdown(wait=False)
                await pool.stop(deps.shutdown_grace_seconds)

    app = FastAPI(
        title="correlator",
        version=__version__,
        description="Alertmanager receiver that turns alerts into ranked, cited root causes.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load swagger/redoc JS from a CDN on our origin (D13)
        redoc_url=None,
    )
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    async def docs() -> HTMLResponse:
        return HTMLResponse(_docs_html(_openapi(app)))

    app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_api_route("/redoc", docs, include_in_schema=False)
    app.add_middleware(BodyReadTimeout, seconds=settings.request_read_timeout_seconds)
    app.add_middleware(SecurityMiddleware, settings=settings)
    return app


def _docs_html(schema: dict[str, Any]) -> str:
    """A script-free API index (paths, methods, summaries) and a link to /openapi.json."""
    rows = []
    for path, ops in sorted(schema.get("paths", {}).items()):
        for method, op in ops.items():
            summary = html.escape(str(op.get("summary", "")))
            rows.append(
                f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{summary}</td></tr>"
            )
    title = html.escape(str(schema.get("info", {}).get("title", "API")))
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title} API</title>"
        "<link rel='stylesheet' href='/ui/static/ui.css'></head><body><main>"
        f"<h1>{title} API</h1><p><a href='/openapi.json'>openapi.json</a></p>"
        "<table class='list'><thead><tr><th>Method</th><th>Path</th><th>Summary</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></main></body></html>"
    )


def _assemble(app: FastAPI, rt: Runtime, settings: Settings, deps: AppDeps) -> Service:
    """The service parts (``correlator.wiring.assemble_service``) and the routes' context."""
    svc = assemble_service(rt, worker_poll_seconds=deps.worker_poll_seconds)
    app.state.ctx = AppContext(
        settings=settings,
        store=rt.store,
        metrics=rt.metrics,
        events=svc.events,
        wake=svc.pool.wake,
        note_sink=rt.note_sink,
        feedback=rt.feedback,
        slack=deps.slack_actions or rt.slack_actions,
    )
    app.state.workers = svc.pool
    app.state.jobs = svc.jobs
    return svc


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in BODY_MODELS:
        body = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
    app.openapi_schema = schema
    return schema


__all__ = ["ROUTERS", "AppDeps", "create_app"]
