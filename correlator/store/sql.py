"""``SqlStore``: the durable investigation store and work queue on SQLAlchemy async.

Writes go through the write engine, reads through the read engine (``correlator.store.engine``
explains the SQLite specifics). The SQL is portable: PostgreSQL (asyncpg) runs the same code, and
several replicas may share one PostgreSQL database. The queue claim selects the oldest queued row
``FOR UPDATE SKIP LOCKED`` (PostgreSQL: concurrent claimers take different rows without waiting;
SQLite ignores the clause, its single writer serialises claims) and then moves it to running
under the claimer's lease, guarded by ``WHERE status = 'queued'``. Leases expire: the scheduler
leader's ``requeue_stale`` puts any replica's expired work back in the queue. The schema comes
from the Alembic migrations (``correlator.store.migrate``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from correlator.models import AlertStatus, Investigation, InvestigationStatus
from correlator.settings import SERVICE_LABELS
from correlator.store import migrate
from correlator.store.batch import CommitBatcher
from correlator.store.coordination import EventWaker, LeaderLock
from correlator.store.engine import is_memory_sqlite, make_engine
from correlator.store.groups import group_scope
from correlator.store.intake import IntakeMixin
from correlator.store.learning import LearningMixin, prune_learning
from correlator.store.reads import ReadsMixin
from correlator.store.rows import ACTIVE, FINISHED, from_row, now, row_data, row_values
from correlator.store.schema import deploys, events, investigation_alerts, investigations

WRITE_PROBE_ID = "write-probe"
WRITE_PROBE_BYTES = 16_384


class SqlStore(IntakeMixin, ReadsMixin, LearningMixin):
    """``correlator.ports.Store`` on SQLAlchemy async (SQLite WAL by default, or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        max_attempts: int = 3,
        busy_timeout_ms: int = 5000,
        service_labels: Sequence[str] = SERVICE_LABELS,
    ) -> None:
        self.url = url
        self.service_labels = tuple(service_labels)  # the ``service`` column (``alert_service``)
        self.max_attempts = max_attempts
        self._engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        sqlite = make_url(url).get_backend_name() == "sqlite"
        separate = sqlite and not is_memory_sqlite(url)
        self._write_lock = asyncio.Lock() if sqlite else None
        self._batcher = CommitBatcher(self._begin) if sqlite else None
        self._read = (
            make_engine(url, busy_timeout_ms=busy_timeout_ms, immediate=False)
            if separate
            else self._engine
        )
        self._leader = LeaderLock(self._engine)
        self._waker = EventWaker(self._engine)

    @property
    def engine(self) -> AsyncEngine:
        """The write engine (SQLite: every transaction ``BEGIN IMMEDIATE``)."""
        return self._engine

    @property
    def read_engine(self) -> AsyncEngine:
        """For reads only (SQLite: WAL snapshot reads that never wait for writers)."""
        return self._read

    @property
    def is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    async def create_schema(self) -> None:
        """Apply the Alembic migrations up to head (idempotent; safe with replicas starting)."""
        await migrate.upgrade(self._engine)

    async def try_lead(self) -> bool:
        """Whether this process is the scheduler leader now (PostgreSQL advisory lock, taken
        when free; SQLite: always)."""
        return await self._leader.check()

    async def wait_events(self, investigation_id: str, max_wait: float) -> None:
        """Until an event of ``investigation_id`` may have been committed, at most ``max_wait`` s
        (PostgreSQL LISTEN/NOTIFY from any replica; SQLite: just ``max_wait``, i.e. polling)."""
        await self._waker.wait(investigation_id, max_wait)

    async def close(self) -> None:
        await self._waker.close()
        await self._leader.release()
        await self._engine.dispose()
        if self._read is not self._engine:
            await self._read.dispose()

    async def ping(self) -> bool:
        try:
            async with self._read.connect() as conn:
                await conn.execute(select(1))
        except (DBAPIError, OSError):
            return False
        return True

    async def can_write(self) -> bool:
        """A committed write of ~16 kB (a probe event inserted and deleted in one transaction,
        never visible to readers): False when the database cannot write (disk full, read-only,
        unreachable). ``/readyz`` runs it only after an intake write failed (D10)."""
        probe = {"investigation_id": WRITE_PROBE_ID, "kind": "write_probe"}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(events).values(
                        **probe, created_at=now(), payload={"pad": "x" * WRITE_PROBE_BYTES}
                    )
                )
                await conn.execute(
                    delete(events).where(events.c.investigation_id == WRITE_PROBE_ID)
                )
        except (DBAPIError, OSError):
            return False
        return True

    # -- work queue -------------------------------------------------------------------------

    async def claim_next(self, owner: str, lease_seconds: float) -> Investigation | None:
        """Atomically move the oldest queued investigation to running under ``owner``'s lease.

        An investigation already attempted ``max_attempts`` times (it crashed or its lease
        expired every time) is marked failed instead of being retried forever.
        """
        while True:
            at = now()
            oldest = (
                select(investigations)
                .where(
                    investigations.c.status == InvestigationStatus.QUEUED.value,
                    or_(investigations.c.not_before.is_(None), investigations.c.not_before <= at),
                )
                .order_by(investigations.c.created_at, investigations.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            async with self._begin() as conn:
                row = (await conn.execute(oldest)).first()
                if row is None:
                    return None
                inv = await self._claimed_view(conn, from_row(row))
                if inv.attempts >= self.max_attempts:
                    await self._give_up(conn, inv, at)
                    continue
                inv = inv.model_copy(
                    update={
                        "status": InvestigationStatus.RUNNING,
                        "attempts": inv.attempts + 1,
                        "started_at": at,
                        "updated_at": at,
                    }
                )
                result = await conn.execute(
                    update(investigations)
                    .where(
                        investigations.c.id == inv.id,
                        investigations.c.status == InvestigationStatus.QUEUED.value,
                    )
                    .values(
                        status=inv.status.value,
                        attempts=inv.attempts,
                        lease_owner=owner,
                        lease_expires_at=at + timedelta(seconds=lease_seconds),
                        not_before=None,
                        updated_at=at,
                        data=row_data(inv),
                    )
                )
                if result.rowcount == 1:
                    return inv

    async def _claimed_view(self, conn: AsyncConnection, inv: Investigation) -> Investigation:
        """A group investigation with its alerts, and the scope this run covers (what a
        later alert must add to to be worth a re-run)."""
        if inv.group is None:
            return inv
        inv = (await self._attach(conn, [inv]))[0]
        assert inv.group is not None
        group = inv.group.model_copy(update={"scope": group_scope(inv.group.alerts)})
        return inv.model_copy(update={"group": group})

    async def _give_up(self, conn: AsyncConnection, inv: Investigation, now: datetime) -> None:
        failed = inv.model_copy(
            update={
                "status": InvestigationStatus.FAILED,
                "error": f"abandoned after {inv.attempts} attempts (crashed or lease expired)",
                "finished_at": now,
                "updated_at": now,
            }
        )
        await conn.execute(
            update(investigations)
            .where(investigations.c.id == inv.id)
            .values(
                status=failed.status.value,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
                data=row_data(failed),
            )
        )

    async def renew_lease(self, investigation_id: str, owner: str, lease_seconds: float) -> bool:
        async with self._begin() as conn:
            result = await conn.execute(
                update(investigations)
                .where(self._held(investigation_id, owner))
                .values(lease_expires_at=now() + timedelta(seconds=lease_seconds))
            )
        return bool(result.rowcount == 1)

    async def release(self, investigation_id: str, owner: str) -> bool:
        """Back to queued without counting the attempt (graceful shutdown)."""
        async with self._begin() as conn:
            result = await conn.execute(
                update(investigations)
                .where(self._held(investigation_id, owner))
                .values(
                    status=InvestigationStatus.QUEUED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=case(
                        (investigations.c.attempts > 0, investigations.c.attempts - 1), else_=0
                    ),
                    updated_at=now(),
                )
            )
        return bool(result.rowcount == 1)

    @staticmethod
    def _held(investigation_id: str, owner: str) -> ColumnElement[bool]:
        return and_(
            investigations.c.id == investigation_id,
            investigations.c.status == InvestigationStatus.RUNNING.value,
            investigations.c.lease_owner == owner,
        )

    async def save(self, inv: Investigation, *, owner: str | None = None) -> bool:
        """Persist progress. With ``owner``, only while that owner still holds the lease.

        A concurrent ``mark_resolved`` (or group intake) wins over the worker's copy of the
        alert status. A finished run whose group asked for a re-run meanwhile (``not_before``
        set while running) goes back to the queue with its result kept.
        """
        values = row_values(inv, self.service_labels)  # serialised before the write lock
        return await self._write(lambda conn: self._save_tx(conn, inv, values, owner))

    async def _save_tx(
        self, conn: AsyncConnection, inv: Investigation, values: dict[str, Any], owner: str | None
    ) -> bool:
        query = select(investigations).where(investigations.c.id == inv.id).with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            return False
        if owner is not None and (
            row.lease_owner != owner or row.status != InvestigationStatus.RUNNING.value
        ):
            return False
        data = values["data"]
        if row.alert_status == AlertStatus.RESOLVED.value and row.group_id is None:
            data["alert"] = row.data["alert"]
        at = now()
        values.update(alert_status=row.alert_status, updated_at=at)
        data.update(alert_status=row.alert_status, updated_at=at.isoformat())
        # verdicts are written only by add_feedback: the stored ones win over any copy
        data["feedback"] = row.data.get("feedback", [])
        if row.group_id is not None:  # the key columns stay the group's
            values.pop("fingerprint", None)
            values.pop("starts_at", None)
        if inv.status.value != InvestigationStatus.RUNNING.value:
            values.update(lease_owner=None, lease_expires_at=None)
            if row.not_before is not None and row.status == InvestigationStatus.RUNNING.value:
                values.update(
                    status=InvestigationStatus.QUEUED.value,
                    attempts=0,
                    revision=row.revision + 1,
                )
        await conn.execute(
            update(investigations).where(investigations.c.id == inv.id).values(**values)
        )
        return True

    async def requeue_stale(self, now: datetime) -> int:
        """Running investigations whose lease expired (their worker died) go back to queued."""
        return await self._requeue(
            and_(
                investigations.c.status == InvestigationStatus.RUNNING.value,
                investigations.c.lease_expires_at < now,
            )
        )

    async def requeue_running_on_start(self, owner_prefix: str | None = None) -> int:
        """Start-up: what this host was running when its process died is queued again.

        With ``owner_prefix`` (``worker.host_prefix()``) only leases taken on this host are
        re-queued, so a replica starting does not steal another live replica's work (that
        work, if its replica is dead, comes back when its lease expires).
        """
        where = investigations.c.status == InvestigationStatus.RUNNING.value
        if owner_prefix:
            where = and_(
                where, investigations.c.lease_owner.startswith(owner_prefix, autoescape=True)
            )
        return await self._requeue(where)

    async def _requeue(self, where: ColumnElement[bool]) -> int:
        async with self._begin() as conn:
            result = await conn.execute(
                update(investigations)
                .where(where)
                .values(
                    status=InvestigationStatus.QUEUED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now(),
                )
            )
        return int(result.rowcount)

    async def queue_depth(self) -> int:
        query = select(func.count()).where(investigations.c.status.in_(ACTIVE))
        async with self._read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def prune(self, older_than: datetime) -> int:
        """Delete finished investigations (and their events) and deploys older than the cut."""
        old = and_(investigations.c.status.in_(FINISHED), investigations.c.updated_at < older_than)
        async with self._begin() as conn:
            old_ids = select(investigations.c.id).where(old)
            await conn.execute(delete(events).where(events.c.investigation_id.in_(old_ids)))
            await prune_learning(conn, old_ids)
            await conn.execute(
                delete(investigation_alerts).where(
                    investigation_alerts.c.investigation_id.in_(old_ids)
                )
            )
            result = await conn.execute(delete(investigations).where(old))
            await conn.execute(delete(deploys).where(deploys.c.time < older_than))
        return int(result.rowcount)
