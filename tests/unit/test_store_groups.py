"""``SqlStore.intake_group`` (``correlator.store.groups``) on SQLite and PostgreSQL.

Alerts come from the captured Alertmanager notification, one copy per ``instance``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from correlator.models import Alert, AlertmanagerWebhook, AlertStatus, InvestigationStatus
from correlator.ports import GroupIntake
from correlator.store import SqlStore, migrate

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


def group(*instances: str, service: str = "checkout") -> list[Alert]:
    body = json.loads((FIXTURES / "alertmanager_webhook_01_firing.json").read_text())
    template = body["alerts"][0]
    del template["fingerprint"]
    body["alerts"] = [
        {**template, "labels": {**template["labels"], "instance": i, "service": service}}
        for i in instances
    ]
    return AlertmanagerWebhook.model_validate(body).to_alerts()


def resolved(alert: Alert) -> Alert:
    return alert.model_copy(
        update={"status": AlertStatus.RESOLVED, "ends_at": alert.starts_at + timedelta(minutes=5)}
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url)
    await s.create_schema()
    yield s
    await s.close()


async def intake(store: SqlStore, alerts: list[Alert], debounce: float = 0.0) -> GroupIntake:
    return await store.intake_group(alerts, group_labels={}, debounce_seconds=debounce)


async def test_concurrent_notifications_of_one_group_make_one_investigation(
    store: SqlStore,
) -> None:
    batches = [group(f"pod-{n}", f"pod-{n + 1}") for n in range(8)]
    results = await asyncio.gather(*(intake(store, b) for b in batches))
    assert len({r.investigation.id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    got = await store.get(results[0].investigation.id)
    assert got is not None
    assert got.group is not None
    assert len(got.group.alerts) == 9  # pod-0 .. pod-8, each stored once
    assert await store.count() == 1


async def test_alert_level_idempotency_and_outcomes(store: SqlStore) -> None:
    a, b = group("pod-a", "pod-b")
    first = await intake(store, [a, b])
    assert first.created
    assert first.outcomes == ["new", "new"]
    again = await intake(store, [a, b, a])
    assert not again.created
    assert again.outcomes == ["duplicate", "duplicate", "duplicate"]
    assert again.joined == 0
    gone = await intake(store, [resolved(a), b])
    assert gone.outcomes == ["resolved", "duplicate"]
    assert not gone.resolved_now
    last = await intake(store, [resolved(a), resolved(b)])
    assert last.resolved_now
    assert last.investigation.alert_status is AlertStatus.RESOLVED


async def test_widening_a_finished_group_requeues_it_after_the_debounce(store: SqlStore) -> None:
    (a,) = group("pod-a")
    inv = (await intake(store, [a])).investigation
    claimed = await store.claim_next("w1", 60.0)
    assert claimed is not None
    assert claimed.group is not None
    assert claimed.group.scope == ["checkout | demo_queue_depth > 5"]
    await store.save(claimed.model_copy(update={"status": InvestigationStatus.DONE}), owner="w1")
    same = await intake(store, [a, *group("pod-b")])
    assert same.joined == 1
    assert not same.rerun
    widened = await intake(store, group("pod-x", service="payments"), debounce=3600.0)
    assert widened.rerun
    assert widened.investigation.status is InvestigationStatus.QUEUED
    assert await store.claim_next("w1", 60.0) is None  # debounced: not claimable yet
    got = await store.get(inv.id)
    assert got is not None
    assert got.group is not None
    assert got.group.revision == 1


async def test_widening_while_running_requeues_on_the_final_save(store: SqlStore) -> None:
    (a,) = group("pod-a")
    await intake(store, [a])
    claimed = await store.claim_next("w1", 60.0)
    assert claimed is not None
    widened = await intake(store, group("pod-x", service="payments"))
    assert widened.rerun
    assert widened.investigation.status is InvestigationStatus.RUNNING
    await store.save(claimed.model_copy(update={"status": InvestigationStatus.DONE}), owner="w1")
    rerun = await store.claim_next("w2", 60.0)
    assert rerun is not None
    assert rerun.id == claimed.id
    assert rerun.group is not None
    assert rerun.group.revision == 1
    assert rerun.attempts == 1
    assert rerun.group.scope == [
        "checkout | demo_queue_depth > 5",
        "payments | demo_queue_depth > 5",
    ]


async def test_alert_mode_lookups_find_an_alert_held_by_a_group(store: SqlStore) -> None:
    """Reconcile (``create_or_get``) must not open a second investigation for a grouped alert."""
    a, b = group("pod-a", "pod-b")
    inv = (await intake(store, [a, b])).investigation
    found, created = await store.create_or_get(b)
    assert not created
    assert found.id == inv.id


async def test_upgrade_from_0001_keeps_existing_investigations(database_url: str) -> None:
    store = SqlStore(database_url)
    await migrate.upgrade(store.engine, "0001")
    async with store.engine.begin() as conn:  # a row as 0001 wrote it (no group columns)
        await conn.execute(
            text(
                "INSERT INTO investigations (id, fingerprint, starts_at, status, alertname,"
                " service, alert_status, created_at, updated_at, attempts, data)"
                " VALUES ('old', 'f', '2026-11-21 16:32:54', 'done', 'A', 's', 'firing',"
                " '2026-11-21 16:33:00',"
                " '2026-11-21 16:33:00', 1, :data)"
            ),
            {"data": json.dumps(_old_document())},
        )
    await store.create_schema()
    got = await store.get("old")
    await store.close()
    assert got is not None
    assert got.group is None
    assert got.status is InvestigationStatus.DONE


def _old_document() -> dict[str, object]:
    (a,) = group("pod-a")
    return {
        "id": "old",
        "fingerprint": "f",
        "alert": a.model_dump(mode="json"),
        "alert_status": "firing",
        "status": "done",
        "created_at": "2026-11-21T16:33:00Z",
        "updated_at": "2026-11-21T16:33:00Z",
    }
