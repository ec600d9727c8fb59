"""Deploy markers from CI/CD: ``POST /api/v1/deploys`` (webhook token), ``GET`` to list them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from correlator.api.context import (
    AppContext,
    app_context,
    body_schema,
    get_context,
    intake_write,
    parse_json,
    read_body,
    require_read_token,
    require_webhook_token,
    validate,
)
from correlator.llm.redact import Redactor, redact_model
from correlator.models import Deploy

router = APIRouter(tags=["deploys"])


class DeployCreated(BaseModel):
    id: str


class StoredDeploy(BaseModel):
    id: str
    deploy: Deploy


class DeployPage(BaseModel):
    items: list[StoredDeploy]
    limit: int
    offset: int


@router.post(
    "/api/v1/deploys",
    status_code=201,
    response_model=DeployCreated,
    dependencies=[Depends(require_webhook_token)],
    openapi_extra=body_schema(Deploy),
    responses={
        400: {"description": "malformed JSON"},
        413: {"description": "body too large"},
        503: {"description": "the store cannot write (e.g. disk full): nothing stored, retry"},
    },
)
async def create_deploy(request: Request, ctx: AppContext = Depends(app_context)) -> DeployCreated:
    """Record a deploy (service, version, commit, time...) for the deploy-marker evidence."""
    deploy = validate(Deploy, parse_json(await read_body(request, ctx.settings.body_limit_bytes)))
    # redacted as it enters: stored, shown and noted only without secrets (D6)
    deploy = redact_model(deploy, Redactor(emails=ctx.settings.llm.redact_emails))
    async with intake_write(ctx):
        deploy_id = await ctx.store.add_deploy(deploy)
    return DeployCreated(id=deploy_id)


@router.get(
    "/api/v1/deploys", response_model=DeployPage, dependencies=[Depends(require_read_token)]
)
async def list_deploys(
    ctx: AppContext = Depends(get_context),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),  # 2^63 overflowed SQLite (D10)
) -> DeployPage:
    """Newest first."""
    rows = await ctx.store.recent_deploys(limit=limit, offset=offset)
    return DeployPage(
        items=[StoredDeploy(id=i, deploy=d) for i, d in rows], limit=limit, offset=offset
    )
