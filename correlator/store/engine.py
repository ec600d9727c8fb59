"""Engines for the store. The only SQLite-specific SQL of the project lives here.

SQLite (default) runs in WAL mode with ``synchronous=NORMAL`` and a ``busy_timeout``. The
*write* engine starts every transaction with ``BEGIN IMMEDIATE`` so that read-then-write
sequences (claim, save) never fail with a snapshot-upgrade error across connections or
processes; the *read* engine does not, so API reads and SSE polls never wait for writers (WAL
readers see the last committed state). A committed write survives a crash or ``kill -9`` of the
process (WAL + NORMAL may lose the last commits only on power loss). Other databases get one
ordinary engine for both.

JSON columns are written by ``dumps_json``: Prometheus answers ``NaN`` and ``±Inf`` samples,
which ``json.dumps`` would write as bare ``NaN``/``Infinity`` tokens that PostgreSQL's ``json``
type (and SQLite's JSON functions) reject; they are written as the strings pydantic reads back
as the same floats.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def dumps_json(value: Any) -> str:
    """Standard JSON for a JSON column: non-finite floats become ``"NaN"``/``"Infinity"``/
    ``"-Infinity"`` strings (the fast path is one ``json.dumps``; the walk runs only when a
    non-finite number is present)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def make_engine(url: str, *, busy_timeout_ms: int = 5000, immediate: bool = True) -> AsyncEngine:
    """Async engine for ``url``; SQLite gets WAL, ``synchronous=NORMAL``, ``busy_timeout``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, json_serializer=dumps_json)
    if is_memory_sqlite(url):
        engine = create_async_engine(
            url,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
            json_serializer=dumps_json,
        )
    else:
        engine = create_async_engine(url, json_serializer=dumps_json)
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
