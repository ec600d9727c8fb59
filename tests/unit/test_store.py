import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from correlator.models import (
    Alert,
    AlertmanagerWebhook,
    AlertStatus,
    Deploy,
    EvidenceBundle,
    InvestigationStatus,
    MetricSeries,
    TimeWindow,
)
from correlator.store import SqlStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


def webhook(name: str) -> AlertmanagerWebhook:
    return AlertmanagerWebhook.model_validate(json.loads((FIXTURES / name).read_text()))


def firing() -> Alert:
    (alert,) = webhook("alertmanager_webhook_01_firing.json").to_alerts()
    return alert


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """On SQLite and on PostgreSQL (``tests/conftest.py``)."""
    s = SqlStore(database_url)
    await s.create_schema()
    yield s
    await s.close()


async def test_sqlite_runs_in_wal_mode(store: SqlStore) -> None:
    if store.is_postgres:
        pytest.skip("SQLite pragmas")
    async with store.engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        sync = (await conn.execute(text("PRAGMA synchronous"))).scalar_one()
    assert mode == "wal"
    assert sync == 1  # NORMAL


async def test_create_or_get_is_idempotent_per_fingerprint_and_start(store: SqlStore) -> None:
    alert = firing()
    inv, created = await store.create_or_get(alert)
    again, created_again = await store.create_or_get(alert)
    assert created
    assert not created_again
    assert again.id == inv.id
    later = alert.model_copy(update={"starts_at": alert.starts_at + timedelta(hours=1)})
    other, created_other = await store.create_or_get(later)
    assert created_other
    assert other.id != inv.id
    assert await store.count() == 2


async def test_nan_and_inf_samples_are_stored_and_read_back(store: SqlStore) -> None:
    """Prometheus answers "NaN"/"+Inf" samples (a ratio over zero traffic): PostgreSQL's json
    type refuses bare NaN tokens, so the document must be standard JSON and read back the same."""
    inv, _ = await store.create_or_get(firing())
    claimed = await store.claim_next("w1", 30)
    assert claimed is not None
    nan, inf = float("nan"), float("inf")
    series = MetricSeries(
        evidence_id="metric:error_ratio:cart",
        name="error_ratio:cart",
        query="q",
        points=[(1.0, nan), (2.0, inf), (3.0, -inf), (4.0, 0.5)],
    )
    window = TimeWindow(start=inv.alert.starts_at, end=inv.alert.starts_at + timedelta(minutes=5))
    bundle = EvidenceBundle(
        alert=inv.alert, window=window, onset=inv.alert.starts_at, metrics=[series]
    )
    assert await store.save(claimed.model_copy(update={"evidence": bundle}), owner="w1")
    got = await store.get(inv.id)
    assert got is not None
    assert got.evidence is not None
    values = [v for _, v in got.evidence.metrics[0].points]
    assert values[0] != values[0]  # NaN
    assert values[1:] == [inf, -inf, 0.5]


async def test_concurrent_create_or_get_yields_one_row(store: SqlStore) -> None:
    alert = firing()
    results = await asyncio.gather(*(store.create_or_get(alert) for _ in range(8)))
    assert len({inv.id for inv, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_durable_across_reopen(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    first = SqlStore(url)
    await first.create_schema()
    inv, _ = await first.create_or_get(firing())
    await first.close()
    second = SqlStore(url)
    got = await second.get(inv.id)
    await second.close()
    assert got is not None
    assert got.alert == inv.alert
    assert got.status is InvestigationStatus.QUEUED


async def test_claim_is_exclusive_and_ordered(store: SqlStore) -> None:
    a = firing()
    first, _ = await store.create_or_get(a)
    second, _ = await store.create_or_get(
        a.model_copy(update={"starts_at": a.starts_at + timedelta(minutes=5)})
    )
    claims = await asyncio.gather(*(store.claim_next(f"w{i}", 30) for i in range(4)))
    claimed = [c for c in claims if c is not None]
    assert sorted(c.id for c in claimed) == sorted([first.id, second.id])
    assert all(c.status is InvestigationStatus.RUNNING and c.attempts == 1 for c in claimed)
    assert await store.claim_next("w9", 30) is None
    assert await store.queue_depth() == 2


async def test_save_finishes_and_respects_lease_owner(store: SqlStore) -> None:
    await store.create_or_get(firing())
    inv = await store.claim_next("w1", 30)
    assert inv is not None
    done = inv.model_copy(update={"status": InvestigationStatus.DONE, "partial": "x"})
    assert not await store.save(done, owner="someone-else")
    assert await store.save(done, owner="w1")
    got = await store.get(inv.id)
    assert got is not None
    assert got.status is InvestigationStatus.DONE
    assert got.partial == "x"
    assert await store.queue_depth() == 0


async def test_stale_lease_is_requeued_and_old_owner_cannot_save(store: SqlStore) -> None:
    await store.create_or_get(firing())
    inv = await store.claim_next("w1", 30)
    assert inv is not None
    assert await store.requeue_stale(datetime.now(UTC)) == 0
    assert await store.requeue_stale(datetime.now(UTC) + timedelta(seconds=31)) == 1
    assert not await store.save(inv, owner="w1")
    again = await store.claim_next("w2", 30)
    assert again is not None
    assert again.id == inv.id
    assert again.attempts == 2


async def test_requeue_running_on_start_and_release(store: SqlStore) -> None:
    await store.create_or_get(firing())
    inv = await store.claim_next("w1", 30)
    assert inv is not None
    assert await store.release(inv.id, "w1")
    released = await store.get(inv.id)
    assert released is not None
    assert released.status is InvestigationStatus.QUEUED
    assert released.attempts == 0
    assert await store.claim_next("w1", 30) is not None
    assert await store.requeue_running_on_start() == 1
    got = await store.get(inv.id)
    assert got is not None
    assert got.status is InvestigationStatus.QUEUED


async def test_poison_investigation_fails_after_max_attempts(tmp_path: Path) -> None:
    s = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", max_attempts=2)
    await s.create_schema()
    inv, _ = await s.create_or_get(firing())
    for _ in range(2):
        assert await s.claim_next("w", 30) is not None
        await s.requeue_running_on_start()
    assert await s.claim_next("w", 30) is None
    got = await s.get(inv.id)
    await s.close()
    assert got is not None
    assert got.status is InvestigationStatus.FAILED
    assert got.error is not None
    assert "2 attempts" in got.error


async def test_mark_resolved_survives_a_concurrent_worker_save(store: SqlStore) -> None:
    (resolved,) = webhook("alertmanager_webhook_03_resolved.json").to_alerts()
    inv, _ = await store.create_or_get(firing())
    assert resolved.fingerprint == inv.fingerprint
    assert resolved.starts_at == inv.alert.starts_at
    running = await store.claim_next("w1", 30)
    assert running is not None
    marked = await store.mark_resolved(resolved.fingerprint, resolved.starts_at, resolved.ends_at)
    assert marked is not None
    assert marked.alert_status is AlertStatus.RESOLVED
    done = running.model_copy(update={"status": InvestigationStatus.DONE})
    assert await store.save(done, owner="w1")
    got = await store.get(inv.id)
    assert got is not None
    assert got.status is InvestigationStatus.DONE
    assert got.alert_status is AlertStatus.RESOLVED
    assert got.alert.ends_at == resolved.ends_at
    assert await store.mark_resolved("nope", resolved.starts_at, None) is None


async def test_list_filters_and_pages(store: SqlStore) -> None:
    first = firing()
    (second,) = webhook("alertmanager_webhook_02_firing.json").to_alerts()
    a, _ = await store.create_or_get(first)
    b, _ = await store.create_or_get(second)
    assert [i.id for i in await store.list(alertname="DemoQueueBacklog")] == [a.id]
    assert [i.id for i in await store.list(service="checkout")] == [a.id]
    assert {i.id for i in await store.list(status=InvestigationStatus.QUEUED)} == {a.id, b.id}
    assert len(await store.list(limit=1)) == 1
    page2 = await store.list(limit=1, offset=1)
    assert len(page2) == 1
    assert page2[0].id != (await store.list(limit=1))[0].id
    assert await store.count(status=InvestigationStatus.DONE) == 0


async def test_deploys_between(store: SqlStore) -> None:
    t0 = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
    for minutes, svc in ((0, "checkout"), (10, "cart"), (30, "checkout")):
        await store.add_deploy(
            Deploy(service=svc, version="v1", time=t0 + timedelta(minutes=minutes))
        )
    got = await store.deploys_between(t0 + timedelta(minutes=5), t0 + timedelta(minutes=30))
    assert [(d.service, d.time) for d in got] == [
        ("cart", t0 + timedelta(minutes=10)),
        ("checkout", t0 + timedelta(minutes=30)),
    ]
    assert len(await store.recent_deploys(limit=2)) == 2


async def test_events_are_ordered_and_paged_by_id(store: SqlStore) -> None:
    inv, _ = await store.create_or_get(firing())
    ids = [await store.append_event(inv.id, "stage", {"n": n}) for n in range(3)]
    await store.append_event("other", "stage", {})
    assert ids == sorted(ids)
    after = await store.events_after(inv.id, ids[0])
    assert [(e.id, e.payload["n"]) for e in after] == [(ids[1], 1), (ids[2], 2)]


async def test_prune_removes_only_old_finished_work(store: SqlStore) -> None:
    inv, _ = await store.create_or_get(firing())
    (other,) = webhook("alertmanager_webhook_02_firing.json").to_alerts()
    queued, _ = await store.create_or_get(other)
    claimed = await store.claim_next("w", 30)
    assert claimed is not None
    assert claimed.id == inv.id
    await store.save(claimed.model_copy(update={"status": InvestigationStatus.DONE}), owner="w")
    await store.append_event(inv.id, "done", {})
    assert await store.prune(datetime.now(UTC) - timedelta(days=1)) == 0
    assert await store.prune(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert await store.get(inv.id) is None
    assert await store.events_after(inv.id, 0) == []
    assert await store.get(queued.id) is not None


async def test_ping_and_memory_url() -> None:
    s = SqlStore("sqlite+aiosqlite:///:memory:")
    await s.create_schema()
    inv, _ = await s.create_or_get(firing())
    assert await s.ping()
    assert await s.get(inv.id) is not None
    await s.close()


async def test_create_or_get_many_in_order_with_duplicates(store: SqlStore) -> None:
    a = firing()
    (b,) = webhook("alertmanager_webhook_02_firing.json").to_alerts()
    old, _ = await store.create_or_get(a)
    c = a.model_copy(update={"starts_at": a.starts_at + timedelta(minutes=1)})
    got = await store.create_or_get_many([b, a, c, b])
    assert [created for _, created in got] == [True, False, True, False]
    assert got[1][0].id == old.id
    assert got[0][0].id == got[3][0].id
    assert await store.count() == 3
    assert await store.create_or_get_many([]) == []


async def test_requeue_on_start_only_takes_back_this_hosts_leases(store: SqlStore) -> None:
    a = firing()
    await store.create_or_get(a)
    await store.create_or_get(a.model_copy(update={"starts_at": a.starts_at + timedelta(1)}))
    mine = await store.claim_next("host-a:1:x", 30)
    theirs = await store.claim_next("host-b:7:y", 30)
    assert mine is not None
    assert theirs is not None
    assert await store.requeue_running_on_start("host-a:") == 1
    got_mine, got_theirs = await store.get(mine.id), await store.get(theirs.id)
    assert got_mine is not None
    assert got_mine.status is InvestigationStatus.QUEUED
    assert got_theirs is not None
    assert got_theirs.status is InvestigationStatus.RUNNING
