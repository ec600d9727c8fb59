import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlator.api import AppDeps, create_app
from correlator.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_bytes(name))
    return data


async def wait_until(cond: Callable[[], Awaitable[bool]], *, timeout: float = 20.0) -> None:
    """Poll ``cond`` until true; fail after ``timeout`` seconds (bounded, no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.02)


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        "webhook_token": TOKEN,
        "workers": 2,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings, deps: AppDeps) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan (store, workers) running, behind an ASGI transport."""
    app = create_app(settings, deps)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield c


@pytest.fixture
async def make_client(tmp_path: Path, database_url: str) -> AsyncIterator[MakeClient]:
    """Apps on SQLite and on PostgreSQL (``database_url`` in ``tests/conftest.py``)."""
    async with AsyncExitStack() as stack:

        async def factory(deps: AppDeps | None = None, **overrides: Any) -> httpx.AsyncClient:
            deps = deps or AppDeps(run_scheduler=False, worker_poll_seconds=0.2)
            overrides.setdefault("database_url", database_url)
            settings = make_settings(tmp_path, **overrides)
            return await stack.enter_async_context(running_app(settings, deps))

        yield factory


@pytest.fixture
async def client(make_client: MakeClient) -> httpx.AsyncClient:
    return await make_client()
