"""Cross-replica coordination on PostgreSQL: the scheduler leader lock and event wake-ups.

``LeaderLock``: ``pg_try_advisory_lock`` on a dedicated connection, held for as long as this
process leads; ``check`` re-tries it for followers and verifies it for the leader (a leader whose
connection broke has lost the lock: PostgreSQL releases session locks when the session ends, so
a ``kill -9``-ed leader is replaced at the followers' next ``check``). On SQLite (one process
writes) the process always leads.

``EventWaker``: one ``LISTEN`` connection per process; ``append_event`` sends
``pg_notify(EVENTS_CHANNEL, investigation_id)`` in its transaction, and SSE streams of any replica
waiting in ``wait`` wake when it commits. Any failure degrades to plain polling (``wait`` just
times out), so a missed notification costs one poll interval, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x636F7202  # pg advisory lock id of the scheduler leader ("cor" + 2)
EVENTS_CHANNEL = "correlator_events"
_DB_ERRORS = (DBAPIError, InterfaceError, OSError)


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


class LeaderLock:
    """Exactly one leader per database (PostgreSQL advisory lock; SQLite: always leader)."""

    def __init__(self, engine: AsyncEngine, key: int = LEADER_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None or not is_postgres(self._engine)

    async def check(self) -> bool:
        """True when this process leads now (acquiring the lock if it is free)."""
        if not is_postgres(self._engine):
            return True
        async with self._lock:
            if self._conn is not None:
                try:
                    await self._conn.execute(text("SELECT 1"))
                    await self._conn.commit()
                    return True
                except _DB_ERRORS:
                    log.warning("scheduler leader: lock connection lost; leadership dropped")
                    await self._drop()
            return await self._acquire()

    async def _acquire(self) -> bool:
        try:
            conn = await self._engine.connect()
        except _DB_ERRORS:
            return False
        try:
            query = text("SELECT pg_try_advisory_lock(:k)")
            got = bool((await conn.execute(query, {"k": self._key})).scalar())
            await conn.commit()
        except _DB_ERRORS:
            got = False
        if got:
            self._conn = conn
            log.info("scheduler leader: this replica now runs the periodic jobs")
        else:
            await conn.close()
        return got

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # invalidate, not close: the pooled session must end so the lock is released
            with contextlib.suppress(*_DB_ERRORS):
                await conn.invalidate()
            with contextlib.suppress(*_DB_ERRORS):
                await conn.close()

    async def release(self) -> None:
        async with self._lock:
            await self._drop()


class EventWaker:
    """Wake waiters when an event of their investigation is committed (LISTEN/NOTIFY)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._lock = asyncio.Lock()
        self._failed = False

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for waiter in self._waiters.get(payload, ()):
            waiter.set()

    def _started(self) -> bool:
        return self._conn is not None

    async def _listen(self) -> bool:
        if self._conn is not None:
            return True
        if self._failed or not is_postgres(self._engine):
            return False
        async with self._lock:
            if self._started():  # another waiter started it while we waited for the lock
                return True
            try:
                conn = await self._engine.connect()
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                await raw.add_listener(EVENTS_CHANNEL, self._on_notify)
            except _DB_ERRORS:
                log.warning("events: LISTEN failed; SSE streams fall back to polling")
                self._failed = True
                return False
            self._conn = conn
            return True

    async def wait(self, investigation_id: str, max_wait: float) -> None:
        """Return when an event of ``investigation_id`` is committed, or after ``max_wait`` s."""
        if not await self._listen():
            await asyncio.sleep(max_wait)  # polling fallback (SQLite, or LISTEN unavailable)
            return
        waiter = asyncio.Event()
        self._waiters.setdefault(investigation_id, set()).add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), timeout=max_wait)
        finally:
            waiters = self._waiters.get(investigation_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[investigation_id]

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(*_DB_ERRORS):
                await conn.invalidate()
            with contextlib.suppress(*_DB_ERRORS):
                await conn.close()
