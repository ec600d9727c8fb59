"""Engines for the store. The only SQLite-specific SQL of the project lives here.

SQLite (default) runs in WAL mode with ``synchronous=NORMAL`` and a ``busy_timeout``. The
*write* engine starts every transaction with ``BEGIN IMMEDIATE`` so that read-then-write
sequences (claim, save) never fail with a snapshot-upgrade error across connections or
processes; the *read* engine does not, so API reads and SSE polls never wait for writers (WAL
readers see the last committed state). A committed write survives a crash or ``kill -9`` of the
process (WAL + NORMAL may lose the last commits only on power loss). Other databases get one
ordinary engine for both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(url: str, *, busy_timeout_ms: int = 5000, immediate: bool = True) -> AsyncEngine:
    """Async engine for ``url``; SQLite gets WAL, ``synchronous=NORMAL``, ``busy_timeout``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if is_memory_sqlite(url):
        engine = create_async_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_async_engine(url)
    _sqlite_setup(engine, busy_timeout_ms, immediate=immediate)
    return engine


def _sqlite_setup(engine: AsyncEngine, busy_timeout_ms: int, *, immediate: bool) -> None:
    """Pragmas on connect; with ``immediate``, ``BEGIN IMMEDIATE`` for every transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        if immediate:
            dbapi_conn.isolation_level = None  # we emit BEGIN (SQLAlchemy's aiosqlite recipe)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    if immediate:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
