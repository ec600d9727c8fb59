"""What every route needs (``AppContext`` on ``app.state``), auth, and body parsing.

Bodies are read by hand (not by FastAPI) so the size limit is enforced while reading, not only
from ``Content-Length``, and so malformed JSON is a 400 while schema errors are a 422 with the
field path (the same ``{"detail": [{"loc", "msg", "type"}]}`` shape FastAPI uses).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from correlator.api.security import AuthThrottle
from correlator.metrics import Metrics
from correlator.ports import EventSink, FeedbackStore, NoteSink, SlackActions, Store
from correlator.settings import Settings

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
STORE_RETRY_AFTER_SECONDS = 30
UI_COOKIE = "correlator_ui"  # set by the web UI's /ui/login; also accepted by the read API


@dataclass
class AppContext:
    settings: Settings
    store: Store
    metrics: Metrics
    events: EventSink
    wake: Callable[[], None]
    note_sink: NoteSink | None = None
    throttle: AuthThrottle = field(default_factory=AuthThrottle)
    feedback: FeedbackStore | None = None
    slack: SlackActions | None = None
    depth_read_at: float = 0.0  # monotonic time intake last refreshed the queue-depth gauges
    store_write_error: str | None = None  # the last intake write failed: /readyz probes (D10)


def get_context(request: Request) -> AppContext:
    ctx = getattr(request.app.state, "ctx", None)
    if not isinstance(ctx, AppContext):
        raise HTTPException(status_code=503, detail="starting up")
    return ctx


async def app_context(request: Request) -> AppContext:
    """``get_context`` as an async dependency, for the intake routes: FastAPI runs a sync
    dependency in its thread pool, a thread round trip per request for a dictionary lookup."""
    return get_context(request)


def _check_bearer(request: Request, token: SecretStr | None) -> bool:
    if token is None:
        return True
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    expected = token.get_secret_value().encode()
    ok = hmac.compare_digest(presented.strip().encode(), expected)
    return scheme.lower() == "bearer" and ok


async def require_webhook_token(request: Request) -> None:
    """``Authorization: Bearer <CORRELATOR_WEBHOOK_TOKEN>`` when the token is set (else open).

    Async although it never awaits: it runs on the event loop instead of in the thread pool
    (intake's hot path; the throttle's state is then only touched from the loop)."""
    ctx = get_context(request)
    if ctx.settings.webhook_token is not None:
        ctx.throttle.check(request)
    if not _check_bearer(request, ctx.settings.webhook_token):
        ctx.throttle.failed(request)
        ctx.metrics.webhooks_total.labels(outcome="unauthorized").inc()
        raise HTTPException(
            status_code=401,
            detail="missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_read_token(request: Request) -> None:
    """Read endpoints: ``CORRELATOR_UI_TOKEN`` as a bearer token or the UI's login cookie."""
    _require_read_access(
        request,
        off_loopback="the API off loopback requires CORRELATOR_UI_TOKEN to be set",
        denied="missing or wrong bearer token",
    )


def require_ui_access(request: Request) -> None:
    """Web UI pages: the same rule as the read API (only the messages name the UI)."""
    _require_read_access(
        request,
        off_loopback="UI off loopback requires CORRELATOR_UI_TOKEN to be set",
        denied="UI token required",
    )


def _require_read_access(request: Request, *, off_loopback: str, denied: str) -> None:
    """The one read-access rule (read API and web UI).

    With ``CORRELATOR_UI_TOKEN`` set, a request needs it as a bearer token or in the
    ``correlator_ui`` cookie (401 otherwise). Without it, reads are open only on loopback (the
    configured host and the actual peer): elsewhere 403 until the token is set, rather than a
    world-readable service.
    """
    ctx = get_context(request)
    token = ctx.settings.ui_token
    if token is None:
        peer = request.client.host if request.client else ""
        if _is_loopback(ctx.settings.host) and _is_loopback(peer):
            return
        raise HTTPException(status_code=403, detail=off_loopback)
    ctx.throttle.check(request)
    cookie = request.cookies.get(UI_COOKIE, "")
    expected = token.get_secret_value().encode()
    if _check_bearer(request, token) or (cookie and hmac.compare_digest(cookie.encode(), expected)):
        return
    ctx.throttle.failed(request)
    raise HTTPException(status_code=401, detail=denied, headers={"WWW-Authenticate": "Bearer"})


class BodyError(HTTPException):
    def __init__(
        self,
        status_code: int,
        detail: Any,
        outcome: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.outcome = outcome


def store_error_reason(exc: BaseException) -> str:
    """A short, secret-free reason: the driver's message (e.g. "database or disk is full")."""
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0][:200] if str(orig) else ''}"


@asynccontextmanager
async def intake_write(ctx: AppContext) -> AsyncIterator[None]:
    """Intake's store writes: a database or disk error (full disk, read-only file, lost
    connection) is a 503 that says nothing was stored, with ``Retry-After`` (Alertmanager and CI
    retry), instead of a 500 or a reset; ``/readyz`` then reports not ready until a write probe
    succeeds (reliability report D10)."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        reason = store_error_reason(exc)
        ctx.store_write_error = reason
        log.error("store write failed at intake: %s", reason)
        detail = f"store write failed, nothing was stored; retry later ({reason})"
        headers = {"Retry-After": str(STORE_RETRY_AFTER_SECONDS)}
        raise BodyError(503, detail, "store_error", headers) from exc
    ctx.store_write_error = None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) as soon as more than ``limit`` bytes arrive."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body larger than {limit} bytes", "too_large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body larger than {limit} bytes", "too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> object:
    if not body.strip():
        raise BodyError(400, "malformed JSON: empty body", "malformed")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"malformed JSON: {exc}", "malformed") from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise BodyError(400, f"malformed JSON: {type(exc).__name__}", "malformed") from exc
    except ValueError as exc:  # e.g. an integer literal over 4,300 digits (D10)
        raise BodyError(400, f"malformed JSON: {str(exc)[:200]}", "malformed") from exc


LOC_PART_MAX = 80


def _loc_part(part: int | str) -> int | str:
    """A field path element, cut short: a dict key in the path may be the oversized input."""
    if isinstance(part, str) and len(part) > LOC_PART_MAX:
        return f"{part[:LOC_PART_MAX]}... ({len(part)} characters)"
    return part


def validate(model: type[M], data: object) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        detail = [
            {"loc": ["body", *map(_loc_part, err["loc"])], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise BodyError(422, detail, "invalid") from exc


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON request body (components added later)."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}
