"""Shared helpers for connector tests: fake clock/sleep and fixture loading (no real sleeping)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture_bytes(system: str, name: str) -> bytes:
    return (FIXTURES / system / name).read_bytes()


def fixture_json(system: str, name: str) -> Any:
    return json.loads(fixture_bytes(system, name))


class FakeTime:
    """A monotonic clock and an async sleep that only advances it, recording every delay."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


Handler = Callable[[httpx.Request], httpx.Response]


def mock_client(handler: Handler, base_url: str = "http://backend.test") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, transport=httpx.MockTransport(handler))


def json_response(body: bytes | Any, status: int = 200) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers={"content-type": "application/json"})
