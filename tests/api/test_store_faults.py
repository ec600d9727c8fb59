"""A store that cannot write (reliability report D10): intake answers 503 and /readyz says so.

The fault is real SQLite behaviour, not a mock: ``PRAGMA max_page_count`` pinned to the file's
current size makes every write that needs a new page fail with ``SQLITE_FULL`` ("database or
disk is full"), exactly what a full disk gives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from correlator.api import AppDeps
from correlator.store import SqlStore
from tests.api.conftest import AUTH, fixture_json, make_settings, running_app

HOOK = "/api/v1/webhooks/alertmanager"


class Disk:
    """Fills and frees the SQLite database of ``store`` (every pooled connection)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.full = False
        event.listen(store.engine.sync_engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        if self.full:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA max_page_count = 1")  # clamps to the current page count
            cursor.close()

    async def fill(self) -> None:
        self.full = True
        await self.store.engine.dispose()  # pooled connections reconnect with the limit

    async def free(self) -> None:
        self.full = False
        await self.store.engine.dispose()


@pytest.fixture
async def app_and_disk(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Disk]]:
    settings = make_settings(tmp_path)
    store = SqlStore(settings.database_url)
    await store.create_schema()
    disk = Disk(store)
    deps = AppDeps(store=store, run_workers=False, run_scheduler=False)
    async with running_app(settings, deps) as client:
        yield client, disk
    await store.close()


def firing(n: int) -> dict[str, object]:
    body = fixture_json("alertmanager_webhook_01_firing.json")
    body["groupKey"] = f'{{}}:{{instance="host-{n}"}}'  # one Alertmanager group per n
    for alert in body["alerts"]:
        alert["labels"]["instance"] = f"host-{n}"
        alert["fingerprint"] = f"{n:016x}"
        # ~100 kB of annotations: needs new pages whatever free space the file has
        alert["annotations"].update({f"note{i}": f"{n}" * 10_000 for i in range(10)})
    return body


async def test_full_disk_is_503_and_not_ready_until_writes_work(
    app_and_disk: tuple[httpx.AsyncClient, Disk],
) -> None:
    """D10: with the database full, the webhook answered 500 (or reset) and /readyz said ready;
    now 503 saying nothing was stored, with Retry-After, and /readyz is not ready until a write
    probe succeeds again; the alert re-sent afterwards is stored."""
    client, disk = app_and_disk
    assert (await client.post(HOOK, json=firing(1), headers=AUTH)).status_code == 202
    await disk.fill()
    async with disk.store.engine.connect() as conn:  # the file cannot grow any more
        limit = (await conn.execute(text("PRAGMA max_page_count"))).scalar_one()
        assert limit == (await conn.execute(text("PRAGMA page_count"))).scalar_one()

    r = await client.post(HOOK, json=firing(2), headers=AUTH)
    assert r.status_code == 503
    assert "nothing was stored" in r.json()["detail"]
    assert "full" in r.json()["detail"]
    assert r.headers["retry-after"] == "30"
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["database"] == "cannot write"
    deploy = {"service": "checkout", "time": "2026-11-21T16:30:00Z", "description": "d" * 4096}
    assert (await client.post("/api/v1/deploys", json=deploy, headers=AUTH)).status_code == 503

    await disk.free()
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.post(HOOK, json=firing(2), headers=AUTH)).status_code == 202
    listed = await client.get("/api/v1/investigations", headers=AUTH)
    assert len(listed.json()["items"]) == 2


async def test_readyz_does_not_write_while_writes_succeed(
    app_and_disk: tuple[httpx.AsyncClient, Disk],
) -> None:
    """D10: the write probe runs only after an intake write failed (readiness polls stay
    read-only): with the disk full but no failed intake yet, /readyz answers from ``SELECT 1``."""
    client, disk = app_and_disk
    await disk.fill()
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.post(HOOK, json=firing(3), headers=AUTH)).status_code == 503
    assert (await client.get("/readyz")).status_code == 503
