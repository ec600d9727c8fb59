"""Schema migrations (Alembic) for SQLite and PostgreSQL: ``upgrade`` and ``current``.

Every entry point applies the migrations on start (``SqlStore.create_schema``) and
``correlator db upgrade`` does it explicitly. Alembic is configured in code (no ``alembic.ini``):
the scripts live in ``correlator/store/migrations`` inside the package. Several replicas starting
together are safe: on PostgreSQL the upgrade holds a transaction-scoped advisory lock (and DDL is
transactional), on SQLite the write engine's ``BEGIN IMMEDIATE`` serialises it.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x636F7201  # pg advisory lock id held while migrating ("cor" + 1)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    """The newest revision shipped with this version of correlator."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(conn: Connection, revision: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


_UPGRADE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _upgrade_lock() -> asyncio.Lock:
    """One upgrade at a time per event loop: Alembic's ``context``/``op`` are module-global proxies,
    so two concurrent upgrades in one process (e.g. ``replay -j N`` running ``investigate_once``
    in parallel, each with its own SQLite file) would run DDL on each other's connection."""
    loop = asyncio.get_running_loop()
    lock = _UPGRADE_LOCKS.get(loop)
    if lock is None:
        lock = _UPGRADE_LOCKS[loop] = asyncio.Lock()
    return lock


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision`` in one transaction; returns the revision now applied."""
    async with _upgrade_lock(), engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
        return await conn.run_sync(_current)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
