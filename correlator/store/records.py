"""Deploy markers and progress events: the append-mostly records of ``SqlStore``."""

from __future__ import annotations

import asyncio
import builtins
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from correlator.models import Deploy
from correlator.ports import StoredEvent
from correlator.store.batch import CommitBatcher
from correlator.store.coordination import EVENTS_CHANNEL
from correlator.store.schema import deploys, events

T = TypeVar("T")


class RecordsMixin:
    """Needs ``_engine`` (writes), ``_read`` (reads) and ``_write_lock`` from its class."""

    _engine: AsyncEngine
    _read: AsyncEngine
    _write_lock: asyncio.Lock | None
    _batcher: CommitBatcher | None = None

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. On SQLite, this process's writers queue on an asyncio lock
        (FIFO, no busy-handler sleeps); other processes still meet ``busy_timeout``."""
        if self._write_lock is None:
            async with self._engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._engine.begin() as conn:
            yield conn

    async def _write(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``op(conn)`` in a committed write transaction: on SQLite shared with the other
        writers of this process that are waiting meanwhile (``store.batch``)."""
        if self._batcher is not None:
            return await self._batcher.run(op)
        async with self._begin() as conn:
            return await op(conn)

    # -- deploys (ports.DeployStore) --------------------------------------------------------

    async def add_deploy(self, deploy: Deploy) -> str:
        deploy_id = str(uuid.uuid4())
        async with self._begin() as conn:
            await conn.execute(
                insert(deploys).values(
                    id=deploy_id,
                    service=deploy.service,
                    environment=deploy.environment,
                    time=deploy.time,
                    created_at=datetime.now(UTC),
                    data=deploy.model_dump(mode="json"),
                )
            )
        return deploy_id

    async def deploys_between(self, start: datetime, end: datetime) -> builtins.list[Deploy]:
        query = (
            select(deploys.c.data)
            .where(deploys.c.time >= start, deploys.c.time <= end)
            .order_by(deploys.c.time, deploys.c.id)
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Deploy.model_validate(r.data) for r in rows]

    async def recent_deploys(
        self, *, limit: int = 50, offset: int = 0
    ) -> builtins.list[tuple[str, Deploy]]:
        query = (
            select(deploys.c.id, deploys.c.data)
            .order_by(deploys.c.time.desc(), deploys.c.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.id, Deploy.model_validate(r.data)) for r in rows]

    # -- events -----------------------------------------------------------------------------

    async def append_event(
        self, investigation_id: str, kind: str, payload: dict[str, object]
    ) -> int:
        async def op(conn: AsyncConnection) -> int:
            result = await conn.execute(
                insert(events).values(
                    investigation_id=investigation_id,
                    kind=kind[:64],
                    created_at=datetime.now(UTC),
                    payload=payload,
                )
            )
            key = result.inserted_primary_key
            if conn.dialect.name == "postgresql":  # wakes SSE streams on every replica at commit
                await conn.execute(select(func.pg_notify(EVENTS_CHANNEL, investigation_id)))
            assert key is not None
            return int(key[0])

        return await self._write(op)

    async def events_after(
        self, investigation_id: str, after_id: int, limit: int = 500
    ) -> builtins.list[StoredEvent]:
        query = (
            select(events)
            .where(events.c.investigation_id == investigation_id, events.c.id > after_id)
            .order_by(events.c.id)
            .limit(limit)
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredEvent(
                id=r.id,
                investigation_id=r.investigation_id,
                kind=r.kind,
                created_at=r.created_at,
                payload=dict(r.payload),
            )
            for r in rows
        ]
