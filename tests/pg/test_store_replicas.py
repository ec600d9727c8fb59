"""Several ``SqlStore`` instances on one database behave like several replicas.

The intake/claim tests run on SQLite and PostgreSQL (``database_url``); the leader lock and the
LISTEN/NOTIFY wake-up are PostgreSQL features (on SQLite the one process always leads and SSE
polls), tested on the session's real server.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from correlator.models import Alert, AlertmanagerWebhook
from correlator.store import SqlStore, migrate
from correlator.store.notifications import OutboxStore
from correlator.store.schema import metadata

FIXTURE = (
    Path(__file__).parent.parent
    / "fixtures"
    / "alertmanager"
    / "alertmanager_webhook_01_firing.json"
)

HEAD = "0003_storm"  # the head of the migration chain


def alerts(n: int) -> list[Alert]:
    (alert,) = AlertmanagerWebhook.model_validate(json.loads(FIXTURE.read_text())).to_alerts()
    return [
        alert.model_copy(update={"starts_at": alert.starts_at + timedelta(minutes=i)})
        for i in range(n)
    ]


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[list[SqlStore]]:
    stores = [SqlStore(database_url) for _ in range(3)]
    await asyncio.gather(*(s.create_schema() for s in stores))  # concurrent start-ups
    yield stores
    for s in stores:
        await s.close()


def _diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def test_migrations_create_exactly_the_models_schema(replicas: list[SqlStore]) -> None:
    store = replicas[0]
    assert await migrate.current(store.engine) == migrate.head_revision() == HEAD
    async with store.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_upgrade_adopts_a_database_made_by_create_all(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    legacy = SqlStore(url)
    async with legacy.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    inv, _ = await legacy.create_or_get(alerts(1)[0])
    await legacy.create_schema()
    assert await migrate.current(legacy.engine) == HEAD
    assert await legacy.get(inv.id) is not None
    await legacy.close()


async def test_the_same_alerts_at_every_replica_make_one_investigation_each(
    replicas: list[SqlStore],
) -> None:
    batch = alerts(5)
    results = await asyncio.gather(
        *(s.create_or_get_many(batch) for s in replicas for _ in range(4))
    )
    for i in range(len(batch)):
        column = [r[i] for r in results]
        assert len({inv.id for inv, _ in column}) == 1
        assert sum(created for _, created in column) == 1
    assert await replicas[0].count() == 5


async def test_concurrent_claims_across_replicas_never_share_work(
    replicas: list[SqlStore],
) -> None:
    await replicas[0].create_or_get_many(alerts(6))
    claims = await asyncio.gather(
        *(s.claim_next(f"r{n}:{k}", 30) for n, s in enumerate(replicas) for k in range(4))
    )
    claimed = [c.id for c in claims if c is not None]
    assert len(claimed) == 6
    assert len(set(claimed)) == 6
    assert await replicas[1].claim_next("late", 30) is None


async def test_expired_leases_of_any_replica_are_requeued_by_another(
    replicas: list[SqlStore],
) -> None:
    await replicas[0].create_or_get_many(alerts(1))
    dead = await replicas[0].claim_next("host-a:1:x", 0.2)  # a replica that will never renew
    assert dead is not None
    later = dead.updated_at + timedelta(seconds=1)
    assert await replicas[1].requeue_stale(later) == 1
    taken = await replicas[2].claim_next("host-b:2:y", 30)
    assert taken is not None
    assert taken.id == dead.id
    assert taken.attempts == 2
    assert not await replicas[0].save(dead, owner="host-a:1:x")


async def _poll(cond: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.05)


async def test_exactly_one_replica_leads_and_another_takes_over(pg_url: str) -> None:
    stores = [SqlStore(pg_url) for _ in range(3)]
    await stores[0].create_schema()
    try:
        first = await asyncio.gather(*(s.try_lead() for s in stores))
        assert sum(first) == 1
        leader = first.index(True)
        assert await stores[leader].try_lead()  # still leads on re-check
        await stores[leader].close()
        rest = [s for i, s in enumerate(stores) if i != leader]

        async def one_leads() -> bool:
            return sum(await asyncio.gather(*(s.try_lead() for s in rest))) == 1

        await _poll(one_leads)
    finally:
        for s in stores:
            await s.close()


async def test_leader_whose_session_dies_loses_the_lead(pg_url: str) -> None:
    a, b = SqlStore(pg_url), SqlStore(pg_url)
    await a.create_schema()
    try:
        assert await a.try_lead()
        assert not await b.try_lead()
        async with b.engine.connect() as conn:  # the DBA (or a crash) ends a's session
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                )
            )
            await conn.commit()

        async def b_leads() -> bool:
            return await b.try_lead()

        await _poll(b_leads)
        assert not await a.try_lead()
    finally:
        await a.close()
        await b.close()


async def test_an_event_appended_by_one_replica_wakes_a_stream_on_another(pg_url: str) -> None:
    a, b = SqlStore(pg_url), SqlStore(pg_url)
    await a.create_schema()
    try:
        inv, _ = await a.create_or_get(alerts(1)[0])
        waiting = asyncio.create_task(b.wait_events(inv.id, 120.0))
        deadline = time.monotonic() + 15
        while not waiting.done():  # appends until the waiter (registering meanwhile) wakes
            assert time.monotonic() < deadline, "no LISTEN/NOTIFY wake-up"
            await a.append_event(inv.id, "stage", {})
            await asyncio.wait({waiting}, timeout=0.2)
        await waiting
    finally:
        await a.close()
        await b.close()


async def test_an_outbox_message_is_claimed_by_one_replica(database_url: str) -> None:
    stores = [SqlStore(database_url) for _ in range(3)]
    await stores[0].create_schema()
    outboxes = [OutboxStore(s.engine) for s in stores]
    at = datetime.now(UTC)
    row = {
        "id": "n1",
        "investigation_id": "i1",
        "channel": "webhook",
        "kind": "post",
        "target": "",
        "message_key": "i1:webhook",
        "phase": "rules",
        "seq": 1,
        "payload": {},
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": at,
        "expires_at": at + timedelta(hours=1),
        "created_at": at,
        "updated_at": at,
        "idempotency_key": "i1:webhook:rules",
    }
    try:
        inserted = await asyncio.gather(*(o.enqueue([row]) for o in outboxes))
        assert sum(inserted) == 1
        claims = await asyncio.gather(
            *(o.claim("i1:webhook", f"r{n}", at, 30) for n, o in enumerate(outboxes * 3))
        )
        assert sorted(len(c) for c in claims) == [0] * 8 + [1]
    finally:
        for s in stores:
            await s.close()
