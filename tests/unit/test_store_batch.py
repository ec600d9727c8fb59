"""``CommitBatcher`` (group commit on SQLite): shared transactions, one bad op fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from correlator.store import make_engine
from correlator.store.batch import CommitBatcher


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
    yield eng
    await eng.dispose()


class Counting:
    """``begin`` for the batcher that counts transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transactions = 0

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        self.transactions += 1
        async with self.engine.begin() as conn:
            yield conn


def insert(k: int) -> Callable[[AsyncConnection], Awaitable[int]]:
    async def op(conn: AsyncConnection) -> int:
        await conn.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": k})
        return k

    return op


async def rows(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return [r[0] for r in await conn.execute(text("SELECT k FROM t ORDER BY k"))]


async def test_concurrent_writers_share_transactions(engine: AsyncEngine) -> None:
    counting = Counting(engine)
    batcher = CommitBatcher(counting.begin)
    results = await asyncio.gather(*(batcher.run(insert(k)) for k in range(50)))
    assert results == list(range(50))
    assert await rows(engine) == list(range(50))
    assert counting.transactions < 50  # queued writers rode along in shared commits


async def test_a_failing_op_fails_only_its_caller(engine: AsyncEngine) -> None:
    batcher = CommitBatcher(Counting(engine).begin)
    outcomes = await asyncio.gather(
        batcher.run(insert(1)),
        batcher.run(insert(1)),  # duplicate key: this caller, and only this one, fails
        batcher.run(insert(2)),
        return_exceptions=True,
    )
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], IntegrityError)
    assert outcomes[2] == 2
    assert await rows(engine) == [1, 2]
