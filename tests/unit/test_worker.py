import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from correlator.metrics import Metrics
from correlator.models import Alert, AlertmanagerWebhook, Investigation, InvestigationStatus
from correlator.ports import Checkpoint
from correlator.store import SqlStore, StoreEventSink
from correlator.store.schema import investigations
from correlator.worker import WorkerPool

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


def alerts(n: int) -> list[Alert]:
    hook = AlertmanagerWebhook.model_validate(
        json.loads((FIXTURES / "alertmanager_webhook_01_firing.json").read_text())
    )
    (base,) = hook.to_alerts()
    return [
        base.model_copy(update={"starts_at": base.starts_at + timedelta(seconds=i)})
        for i in range(n)
    ]


async def until(cond: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """On SQLite and on PostgreSQL (``tests/conftest.py``)."""
    s = SqlStore(database_url)
    await s.create_schema()
    yield s
    await s.close()


async def finish(inv: Investigation, checkpoint: Checkpoint) -> Investigation:
    return inv.model_copy(update={"partial": "ran"})


async def statuses(store: SqlStore) -> list[InvestigationStatus]:
    return [i.status for i in await store.list(limit=500)]


async def test_pool_runs_everything_to_done(store: SqlStore) -> None:
    for a in alerts(10):
        await store.create_or_get(a)
    metrics = Metrics()
    pool = WorkerPool(
        store, finish, concurrency=3, lease_seconds=30, metrics=metrics, poll_seconds=0.05
    )
    pool.start()

    async def all_done() -> bool:
        return set(await statuses(store)) == {InvestigationStatus.DONE}

    await until(all_done)
    await pool.stop()
    got = await store.list(limit=500)
    assert all(i.partial == "ran" and i.finished_at is not None for i in got)
    assert metrics.investigations_total.labels(status="done")._value.get() == 10


async def test_a_crashing_pipeline_marks_failed_and_the_worker_survives(store: SqlStore) -> None:
    first, second = alerts(2)
    bad, _ = await store.create_or_get(first)

    async def run(inv: Investigation, checkpoint: Checkpoint) -> Investigation:
        if inv.id == bad.id:
            raise ValueError("boom")
        return inv

    pool = WorkerPool(
        store, run, concurrency=1, lease_seconds=30, metrics=Metrics(), poll_seconds=0.05
    )
    pool.start()
    await store.create_or_get(second)

    async def both_finished() -> bool:
        return InvestigationStatus.QUEUED not in await statuses(store) and (
            InvestigationStatus.RUNNING not in await statuses(store)
        )

    await until(both_finished)
    await pool.stop()
    failed = await store.get(bad.id)
    assert failed is not None
    assert failed.status is InvestigationStatus.FAILED
    assert failed.error == "ValueError: boom"
    assert sorted(await statuses(store)) == [InvestigationStatus.DONE, InvestigationStatus.FAILED]


async def test_wake_claims_new_work_without_waiting_for_the_poll(store: SqlStore) -> None:
    pool = WorkerPool(
        store, finish, concurrency=1, lease_seconds=30, metrics=Metrics(), poll_seconds=3600
    )
    pool.start()

    async def idle() -> bool:
        return pool.idle == 1  # the worker found nothing and now waits on a 1 h poll

    await until(idle)
    inv, _ = await store.create_or_get(alerts(1)[0])
    pool.wake()

    async def done() -> bool:
        got = await store.get(inv.id)
        return got is not None and got.status is InvestigationStatus.DONE

    await until(done)
    await pool.stop()


async def test_stop_releases_unfinished_work_back_to_the_queue(store: SqlStore) -> None:
    inv, _ = await store.create_or_get(alerts(1)[0])
    started = asyncio.Event()

    async def hang(i: Investigation, checkpoint: Checkpoint) -> Investigation:
        started.set()
        await asyncio.Event().wait()  # never finishes on its own
        return i

    events = StoreEventSink(store)
    pool = WorkerPool(
        store, hang, concurrency=1, lease_seconds=30, metrics=Metrics(), events=events
    )
    pool.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    await pool.stop(grace_seconds=0.05)
    got = await store.get(inv.id)
    assert got is not None
    assert got.status is InvestigationStatus.QUEUED
    assert got.attempts == 0  # a graceful release does not count as an attempt


async def test_lease_is_renewed_while_running(store: SqlStore) -> None:
    inv, _ = await store.create_or_get(alerts(1)[0])
    release = asyncio.Event()

    async def slow(i: Investigation, checkpoint: Checkpoint) -> Investigation:
        await release.wait()
        return i

    pool = WorkerPool(store, slow, concurrency=1, lease_seconds=0.3, metrics=Metrics())
    pool.start()
    query = select(investigations.c.lease_expires_at).where(investigations.c.id == inv.id)

    async def lease() -> object:
        async with store.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one()

    async def claimed() -> bool:
        return await lease() is not None

    await until(claimed)
    first = await lease()

    async def renewed() -> bool:
        value = await lease()
        return value is not None and value != first

    await until(renewed)
    release.set()

    async def done() -> bool:
        got = await store.get(inv.id)
        return got is not None and got.status is InvestigationStatus.DONE

    await until(done)
    await pool.stop()


class _FlakyClaims:
    """The real store, except that the first claim fails as a dropped database connection."""

    def __init__(self, inner: SqlStore, error: BaseException) -> None:
        self._inner, self._error, self.failed = inner, error, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def claim_next(self, owner: str, lease_seconds: float) -> Investigation | None:
        if not self.failed:
            self.failed += 1
            raise self._error
        return await self._inner.claim_next(owner, lease_seconds)


async def test_a_database_error_while_claiming_is_retried_not_fatal(store: SqlStore) -> None:
    from sqlalchemy.exc import OperationalError

    for a in alerts(2):
        await store.create_or_get(a)
    flaky = _FlakyClaims(store, OperationalError("claim", {}, ConnectionResetError()))
    pool = WorkerPool(
        flaky,  # type: ignore[arg-type]
        finish,
        concurrency=1,
        lease_seconds=30,
        metrics=Metrics(),
        poll_seconds=0.05,
    )
    pool.start()

    async def all_done() -> bool:
        return set(await statuses(store)) == {InvestigationStatus.DONE}

    await until(all_done)
    await pool.stop()
    assert flaky.failed == 1
