"""Bad input is a 4xx, never a 500 (reliability report D10)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import AUTH

HOOK = "/api/v1/webhooks/alertmanager"


@pytest.mark.parametrize("path", [HOOK, "/api/v1/deploys"])
async def test_huge_integer_literal_is_400(client: httpx.AsyncClient, path: str) -> None:
    """D10: an integer literal over 4,300 digits raised ValueError in json.loads: 500."""
    body = b'{"x": 1' + b"0" * 5000 + b"}"
    r = await client.post(path, content=body, headers=AUTH)
    assert r.status_code == 400
    assert "malformed JSON" in r.text


@pytest.mark.parametrize("path", ["/api/v1/investigations", "/api/v1/deploys"])
async def test_offset_beyond_int64_is_422(client: httpx.AsyncClient, path: str) -> None:
    """D10: ``offset >= 2**63`` overflowed SQLite: 500."""
    r = await client.get(path, params={"offset": str(2**63)}, headers=AUTH)
    assert r.status_code == 422


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_deploy_time_overflowing_utc_is_422(client: httpx.AsyncClient, when: str) -> None:
    """D10: the deploy ``time`` overflowed once converted to UTC: 500."""
    r = await client.post("/api/v1/deploys", json={"service": "x", "time": when}, headers=AUTH)
    assert r.status_code == 422
    assert "time" in r.text
