"""Web UI: investigation list and detail pages (server-rendered, autoescaped, no CDN).

Access is the read API's rule (``correlator.api.context.require_ui_access``): open on loopback
without ``CORRELATOR_UI_TOKEN``, else the token as a bearer token or in the ``correlator_ui``
cookie (set by the login form, ``POST /ui/login``; a token in the URL is refused so it never
lands in browser history or proxy logs); off loopback without a token the UI refuses (403)
rather than being world-readable. Failed logins count towards the per-client ``AuthThrottle``.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2.sandbox import SandboxedEnvironment

from correlator.api.context import UI_COOKIE, AppContext, get_context, read_body, require_ui_access
from correlator.api.ui import view
from correlator.models import FaultType, Investigation, InvestigationStatus, NotificationState
from correlator.models.alert import alert_service
from correlator.notify.delivery import note_renderer
from correlator.templating import make_environment

UI_ROOT = Path(view.__file__).resolve().parent
STATIC = {"ui.css": "text/css", "ui.js": "text/javascript", "feedback.js": "text/javascript"}
PAGE = 50


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return make_environment(UI_ROOT / "templates", html=True)


router = APIRouter(tags=["ui"], include_in_schema=False)
guarded = [Depends(require_ui_access)]


def _page(name: str, **ctx: Any) -> HTMLResponse:
    html = _env().get_template(name).render(**ctx)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/ui/login")
async def login_form(request: Request) -> Response:
    """The login form; a ``?token=`` in the URL is refused (it would end up in history/logs)."""
    if "token" in request.query_params:
        raise HTTPException(400, "send the token with the login form (POST), not in the URL")
    return _page("login.html")


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Exchange the form's ``token`` for an HttpOnly cookie, then go to the list."""
    ctx = get_context(request)
    ctx.throttle.check(request)
    body = await read_body(request, 8192)
    token = parse_qs(body.decode("utf-8", "replace")).get("token", [""])[0]
    expected = ctx.settings.ui_token
    if expected is None or not hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        ctx.throttle.failed(request)
        raise HTTPException(401, "wrong token")
    resp = RedirectResponse("/ui/investigations", status_code=303)
    secure = ctx.settings.public_url.startswith("https://")
    resp.set_cookie(UI_COOKIE, token, httponly=True, samesite="strict", secure=secure)
    return resp


@router.get("/ui", dependencies=guarded)
@router.get("/ui/", dependencies=guarded)
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/investigations", status_code=307)


@router.get("/ui/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return FileResponse(UI_ROOT / "static" / name, media_type=STATIC[name])


@router.get("/ui/investigations", response_class=HTMLResponse, dependencies=guarded)
async def list_page(
    ctx: AppContext = Depends(get_context),
    status: str = Query(default="", max_length=16),
    alertname: str = Query(default="", max_length=256),
    service: str = Query(default="", max_length=256),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),  # 2^63 overflowed SQLite (D10)
) -> HTMLResponse:
    st = InvestigationStatus(status) if status in set(InvestigationStatus) else None
    an, sv = alertname or None, service or None
    items = await ctx.store.list(status=st, alertname=an, service=sv, limit=PAGE, offset=offset)
    total = await ctx.store.count(status=st, alertname=an, service=sv)
    query = {
        k: v for k, v in (("status", status), ("alertname", alertname), ("service", service)) if v
    }

    def page_url(off: int) -> str:
        return "/ui/investigations?" + urlencode({**query, "offset": off})

    return _page(
        "list.html",
        items=[_summary(i, ctx.settings.prometheus.service_labels) for i in items],
        total=total,
        statuses=[s.value for s in InvestigationStatus],
        f_status=status,
        f_alertname=alertname,
        f_service=service,
        prev_url=page_url(max(offset - PAGE, 0)) if offset > 0 else None,
        next_url=page_url(offset + PAGE) if offset + PAGE < total else None,
    )


def _summary(inv: Investigation, service_labels: Sequence[str]) -> dict[str, Any]:
    top = inv.analysis.top if inv.analysis else None
    found = inv.evidence.alert_service if inv.evidence else None
    return {
        "id": inv.id,
        "alertname": inv.alert.alertname,
        "service": found or alert_service(inv.alert.labels, service_labels) or "",
        "severity": inv.alert.severity,
        "status": inv.status.value,
        "alert_status": inv.alert_status.value,
        "created": inv.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "top": top.statement if top else "",
        "confidence": round(top.confidence * 100) if top else None,
        "alerts": len(inv.group.alerts) if inv.group else 1,
    }


async def _notifications(ctx: AppContext, inv: Investigation) -> list[NotificationState]:
    if ctx.note_sink is not None:
        return await ctx.note_sink.delivery_states(inv.id)
    return inv.notifications


@router.get(
    "/ui/investigations/{investigation_id}", response_class=HTMLResponse, dependencies=guarded
)
async def detail_page(investigation_id: str, ctx: AppContext = Depends(get_context)) -> Response:
    inv = await ctx.store.get(investigation_id)
    if inv is None:
        raise HTTPException(404, "no such investigation")
    renderer = note_renderer(ctx.settings)
    phase = "resolved" if inv.alert_status.value == "resolved" else "llm"
    note = renderer.view(inv, phase=phase)
    te = view.exemplar_trace(inv)
    wf = view.waterfall(te) if te else None
    return _page(
        "detail.html",
        inv=inv,
        note=note,
        stages=[s.model_dump(mode="json") for s in inv.stages],
        finished=inv.status in (InvestigationStatus.DONE, InvestigationStatus.FAILED),
        waterfall=wf,
        logs=view.trace_logs(inv, wf["trace_id"]) if wf else [],
        timeline=view.metric_timeline(inv),
        hypotheses=[note["top"], *note["others"]] if note["top"] else [],
        notifications=await _notifications(ctx, inv),
        events_url=f"/api/v1/investigations/{inv.id}/events",
        fault_types=[f.value for f in FaultType if f is not FaultType.NONE],
    )
