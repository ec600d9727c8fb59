"""Group commit for SQLite: the concurrent writers of one process share one transaction.

SQLite has one writer at a time, across processes (``serve --worker-processes``): every write
transaction takes the file lock, and a writer that finds it taken sleeps in SQLite's busy
handler. Under load (50 concurrent senders) intake queued each webhook's transaction behind the
previous one's lock round trip, so latency grew with the queue. ``CommitBatcher.run(op)`` queues
``op`` (a coroutine function of the connection); one task runs every op queued meanwhile in one
``BEGIN IMMEDIATE ... COMMIT`` and resolves their futures only after the commit, so a 202 still
follows a durable write. When a batch fails, each of its ops is retried alone, so one bad op
fails only its own caller. PostgreSQL does not need it (row locks, concurrent writers).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
Op = Callable[[AsyncConnection], Awaitable[Any]]
Pending = tuple[Op, "asyncio.Future[Any]"]


class CommitBatcher:
    """Runs queued write ops in shared transactions (at most ``max_ops`` per commit)."""

    def __init__(
        self,
        begin: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
        *,
        max_ops: int = 256,
    ) -> None:
        self._begin = begin
        self._max_ops = max_ops
        self._pending: list[Pending] = []
        self._task: asyncio.Task[None] | None = None

    async def run(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``op(conn)`` inside a committed write transaction, shared with other callers."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((op, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name="correlator-commit-batcher")
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_ops]
            del self._pending[: self._max_ops]
            try:
                results = await self._commit(batch)
            except Exception:  # noqa: BLE001 - boundary: a failed batch is retried op by op
                for item in batch:
                    await self._alone(item)
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def _commit(self, batch: list[Pending]) -> list[Any]:
        async with self._begin() as conn:
            return [await op(conn) for op, _ in batch]

    async def _alone(self, item: Pending) -> None:
        try:
            (result,) = await self._commit([item])
        except Exception as exc:  # noqa: BLE001 - boundary: the error goes to its own caller
            if not item[1].done():
                item[1].set_exception(exc)
            return
        if not item[1].done():
            item[1].set_result(result)
