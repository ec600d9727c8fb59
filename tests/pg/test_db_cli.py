"""``correlator db upgrade|current`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from correlator.cli import main
from correlator.store import SqlStore, migrate

HEAD = "0003_storm"  # the head of the migration chain


def test_db_upgrade_then_current(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CORRELATOR_DATABASE_URL", database_url)
    assert main(["db", "current"]) == 0
    assert "current: none" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"database at revision {HEAD}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0  # idempotent
    assert main(["db", "current"]) == 0
    assert f"current: {HEAD}  head: {HEAD}" in capsys.readouterr().out

    async def tables_usable() -> str | None:
        store = SqlStore(database_url)
        try:
            assert await store.count() == 0
            return await migrate.current(store.engine)
        finally:
            await store.close()

    assert asyncio.run(tables_usable()) == HEAD
