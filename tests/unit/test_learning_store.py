"""Feedback, track record and incident memory on the SQL store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from correlator.models import (
    Alert,
    AlertStatus,
    Analysis,
    FaultType,
    FeedbackIn,
    Hypothesis,
    IncidentSignature,
    Investigation,
    InvestigationStatus,
    Remediation,
    RemediationKind,
    RootCause,
    Verdict,
)
from correlator.store import SqlStore
from correlator.store.learning import similarity

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url)
    await s.create_schema()
    yield s
    await s.close()


def alert(n: int, alertname: str = "HighErrorRate", service: str = "checkout") -> Alert:
    return Alert(
        fingerprint=f"fp{n:04d}",
        status=AlertStatus.FIRING,
        labels={"alertname": alertname, "service": service},
        starts_at=T0 + timedelta(hours=n),
    )


async def finished(
    store: SqlStore, n: int, fault: FaultType, *, alertname: str = "HighErrorRate"
) -> Investigation:
    """A done investigation whose top hypothesis blames ``payment`` with ``fault``."""
    inv, _ = await store.create_or_get(alert(n, alertname))
    top = Hypothesis(service="payment", fault_type=fault, statement="payment broke", confidence=0.8)
    rem = Remediation(kind=RemediationKind.SCALE, summary="scale payment to 6 replicas")
    done = inv.model_copy(
        update={
            "status": InvestigationStatus.DONE,
            "analysis": Analysis(hypotheses=[top]),
            "remediation": rem,
        }
    )
    assert await store.save(done)
    return done


async def test_feedback_round_trip_latest_wins(store: SqlStore) -> None:
    inv = await finished(store, 1, FaultType.RESOURCE_CPU)
    first = await store.add_feedback(inv.id, FeedbackIn(verdict=Verdict.CORRECT, by="alice"))
    assert first is not None
    assert first.predicted_fault_type == "resource_cpu"
    cause = RootCause(service="db", fault_type="database_slow", change="index dropped")
    second = await store.add_feedback(
        inv.id, FeedbackIn(verdict=Verdict.WRONG, root_cause=cause, by="bob"), source="ui"
    )
    assert second is not None
    got = await store.get(inv.id)
    assert got is not None
    assert [f.verdict for f in got.feedback] == [Verdict.CORRECT, Verdict.WRONG]
    assert got.verdict is not None
    assert got.verdict.by == "bob"
    assert got.verdict.source == "ui"
    table = await store.accuracy()
    assert table.overall.total == 1
    assert table.overall.wrong == 1
    assert await store.add_feedback("no-such-id", FeedbackIn(verdict=Verdict.CORRECT)) is None


async def test_a_worker_save_keeps_feedback_given_meanwhile(store: SqlStore) -> None:
    inv, _ = await store.create_or_get(alert(2))
    stale_copy = await store.get(inv.id)
    assert stale_copy is not None
    await store.add_feedback(inv.id, FeedbackIn(verdict=Verdict.PARTLY, by="carol"))
    assert await store.save(stale_copy.model_copy(update={"status": InvestigationStatus.DONE}))
    got = await store.get(inv.id)
    assert got is not None
    assert [f.by for f in got.feedback] == ["carol"]


async def test_accuracy_table_on_a_small_history(store: SqlStore) -> None:
    cpu = [await finished(store, n, FaultType.RESOURCE_CPU) for n in range(4)]
    code = [await finished(store, n, FaultType.CODE_ERROR, alertname="Slow") for n in range(4, 7)]
    verdicts = [Verdict.CORRECT, Verdict.CORRECT, Verdict.WRONG, Verdict.PARTLY]
    for inv, v in zip(cpu, verdicts, strict=True):
        await store.add_feedback(inv.id, FeedbackIn(verdict=v))
    await store.add_feedback(code[0].id, FeedbackIn(verdict=Verdict.WRONG))
    await store.add_feedback(code[0].id, FeedbackIn(verdict=Verdict.CORRECT))  # changed mind
    await store.add_feedback(code[1].id, FeedbackIn(verdict=Verdict.WRONG))
    table = await store.accuracy()
    rows = {r.key: r for r in table.by_alertname}
    assert (rows["HighErrorRate"].confirmed, rows["HighErrorRate"].total) == (2, 4)
    assert (rows["HighErrorRate"].partly, rows["HighErrorRate"].wrong) == (1, 1)
    assert rows["HighErrorRate"].ratio == 0.5
    assert (rows["Slow"].confirmed, rows["Slow"].wrong, rows["Slow"].total) == (1, 1, 2)
    faults = {r.key: r for r in table.by_fault_type}
    assert (faults["resource_cpu"].confirmed, faults["resource_cpu"].total) == (2, 4)
    assert (faults["code_error"].confirmed, faults["code_error"].total) == (1, 2)
    assert (table.overall.confirmed, table.overall.total) == (3, 6)
    later = await store.accuracy(since=datetime.now(UTC) + timedelta(minutes=1))
    assert later.overall.total == 0
    assert later.by_alertname == []


def sig(
    templates: list[str], op: str = "payment Charge", change: str = "deploy"
) -> IncidentSignature:
    return IncidentSignature(
        alertname="HighErrorRate",
        service="checkout",
        operation=op,
        change_kind=change,
        templates=templates,
    )


def test_similarity_weights_templates_operation_and_change() -> None:
    assert similarity(sig(["a", "b"]), sig(["a", "b"])) == 1.0
    assert similarity(sig(["a", "b"]), sig(["a", "c"])) == pytest.approx(0.5 / 3 + 0.5, abs=1e-4)
    assert similarity(sig(["a"]), sig(["a"], op="cart Get")) == pytest.approx(0.7)
    assert similarity(sig([]), sig([], change="")) == pytest.approx(0.8)


async def test_recall_finds_similar_confirmed_incidents_and_the_track_record(
    store: SqlStore,
) -> None:
    past = await finished(store, 1, FaultType.RESOURCE_CPU)
    other = await finished(store, 2, FaultType.RESOURCE_CPU)
    await store.remember(sig(["t1", "t2"]), past.id, past.alert.starts_at)
    await store.remember(sig(["zz"], op="cart Get", change=""), other.id, other.alert.starts_at)
    await store.add_feedback(past.id, FeedbackIn(verdict=Verdict.CORRECT, by="alice"))
    now_inv = await finished(store, 3, FaultType.RESOURCE_CPU)
    memory = await store.recall(
        sig(["t1", "t2"]), exclude_id=now_inv.id, at=now_inv.alert.starts_at
    )
    assert memory.similar_count == 1  # the dissimilar one is not counted
    (found,) = memory.similar
    assert found.investigation_id == past.id
    assert found.verdict is Verdict.CORRECT
    assert found.cause == "payment resource cpu"
    assert found.fix == "scale payment to 6 replicas"
    assert (memory.alert_record.confirmed, memory.alert_record.total) == (1, 1)
    assert memory.fault_records["resource_cpu"].confirmed == 1
    too_late = await store.recall(
        sig(["t1", "t2"]), exclude_id=now_inv.id, at=now_inv.alert.starts_at + timedelta(days=31)
    )
    assert too_late.similar_count == 0  # outside the 30-day window


async def test_retention_prunes_feedback_and_memory(store: SqlStore) -> None:
    inv = await finished(store, 1, FaultType.CODE_ERROR)
    await store.remember(sig(["t"]), inv.id, inv.alert.starts_at)
    await store.add_feedback(inv.id, FeedbackIn(verdict=Verdict.CORRECT))
    assert await store.prune(datetime.now(UTC) + timedelta(days=1)) == 1
    assert (await store.accuracy()).overall.total == 0
    memory = await store.recall(sig(["t"]), exclude_id="x", at=inv.alert.starts_at)
    assert memory.similar_count == 0


async def test_a_cause_given_before_the_evidence_is_remembered(store: SqlStore) -> None:
    inv, _ = await store.create_or_get(alert(9))
    cause = RootCause(service="dns", fault_type="dependency_down")
    await store.add_feedback(inv.id, FeedbackIn(verdict=Verdict.WRONG, root_cause=cause))
    await store.remember(sig(["t"]), inv.id, inv.alert.starts_at)  # the evidence stage, later
    memory = await store.recall(
        sig(["t"]), exclude_id="x", at=inv.alert.starts_at + timedelta(hours=1)
    )
    (past,) = memory.similar
    assert (past.verdict, past.cause_service, past.cause) == (
        Verdict.WRONG,
        "dns",
        "dns dependency down",
    )
