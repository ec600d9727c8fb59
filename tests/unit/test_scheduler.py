import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from correlator.metrics import Metrics
from correlator.models import Alert, AlertmanagerWebhook, InvestigationStatus
from correlator.scheduler import Jobs, build_scheduler
from correlator.settings import Settings
from correlator.store import SqlStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    """On SQLite and on PostgreSQL (``tests/conftest.py``)."""
    s = SqlStore(database_url)
    await s.create_schema()
    yield s
    await s.close()


async def seed(store: SqlStore) -> str:
    hook = AlertmanagerWebhook.model_validate(
        json.loads((FIXTURES / "alertmanager_webhook_01_firing.json").read_text())
    )
    inv, _ = await store.create_or_get(hook.to_alerts()[0])
    return inv.id


async def test_requeue_stuck_wakes_workers_only_when_something_was_stuck(store: SqlStore) -> None:
    woken: list[bool] = []
    jobs = Jobs(
        store,
        settings=Settings(),
        metrics=Metrics(),
        alert_source=None,
        wake=lambda: woken.append(True),
    )
    inv_id = await seed(store)
    assert await store.claim_next("dead-worker", lease_seconds=-1) is not None  # already expired
    assert await jobs.requeue_stuck() == 1
    assert woken == [True]
    got = await store.get(inv_id)
    assert got is not None
    assert got.status is InvestigationStatus.QUEUED
    assert await jobs.requeue_stuck() == 0
    assert woken == [True]


async def test_prune_uses_retention_days(store: SqlStore) -> None:
    inv_id = await seed(store)
    claimed = await store.claim_next("w", 30)
    assert claimed is not None
    await store.save(claimed.model_copy(update={"status": InvestigationStatus.DONE}), owner="w")
    keep = Jobs(store, settings=Settings(retention_days=1), metrics=Metrics(), alert_source=None)
    assert await keep.prune() == 0
    # a retention cut in the future of the row: pruned
    assert await store.prune(datetime.now(UTC) + timedelta(days=1)) == 1
    assert await store.get(inv_id) is None


async def test_reconcile_is_scheduled_only_with_an_alertmanager(store: SqlStore) -> None:
    class NoAlerts:
        async def active_alerts(self) -> list[Alert]:
            return []

    settings = Settings()
    plain = build_scheduler(
        Jobs(store, settings=settings, metrics=Metrics(), alert_source=None), settings
    )
    assert {j.id for j in plain.get_jobs()} == {"requeue_stuck", "prune"}
    with_am = build_scheduler(
        Jobs(store, settings=settings, metrics=Metrics(), alert_source=NoAlerts()),
        settings,
    )
    assert {j.id for j in with_am.get_jobs()} == {"reconcile", "requeue_stuck", "prune"}
