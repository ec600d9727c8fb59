"""``SqlStore``: the durable investigation store and work queue on SQLAlchemy async.

SQLite (default) runs in WAL mode with ``synchronous=NORMAL`` and a ``busy_timeout``; every
SQLite transaction starts with ``BEGIN IMMEDIATE`` so that read-then-write sequences (claim, save)
never fail with a snapshot upgrade error across connections or processes. A committed write
survives a crash or ``kill -9`` of the process (WAL + NORMAL may lose the last commits only on
power loss). Everything outside ``_sqlite_setup`` is portable SQL, so PostgreSQL (asyncpg) uses
the same code.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, case, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from correlator.models import Alert, AlertStatus, Deploy, Investigation, InvestigationStatus
from correlator.ports import StoredEvent
from correlator.store.schema import deploys, events, investigations, metadata

SERVICE_LABELS = ("service", "service_name", "app", "job")
ACTIVE = (InvestigationStatus.QUEUED.value, InvestigationStatus.RUNNING.value)
FINISHED = (InvestigationStatus.DONE.value, InvestigationStatus.FAILED.value)


def _now() -> datetime:
    return datetime.now(UTC)


def alert_service(alert: Alert) -> str:
    """The service an alert is about, from the first present of ``SERVICE_LABELS``."""
    for name in SERVICE_LABELS:
        if alert.labels.get(name):
            return alert.labels[name]
    return ""


def make_engine(url: str, *, busy_timeout_ms: int = 5000) -> AsyncEngine:
    """Async engine for ``url``; SQLite gets WAL, ``synchronous=NORMAL``, ``busy_timeout``."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database in (None, "", ":memory:"):
        engine = create_async_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_async_engine(url)
    _sqlite_setup(engine, busy_timeout_ms)
    return engine


def _sqlite_setup(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """The only SQLite-specific SQL: pragmas on connect, ``BEGIN IMMEDIATE`` per transaction."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (SQLAlchemy aiosqlite recipe)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _row_values(inv: Investigation) -> dict[str, Any]:
    return {
        "id": inv.id,
        "fingerprint": inv.fingerprint,
        "starts_at": inv.alert.starts_at,
        "status": inv.status.value,
        "alertname": inv.alert.alertname[:256],
        "service": alert_service(inv.alert)[:256],
        "alert_status": inv.alert_status.value,
        "created_at": inv.created_at,
        "updated_at": inv.updated_at,
        "attempts": inv.attempts,
        "data": inv.model_dump(mode="json"),
    }


def _from_row(row: Row[Any]) -> Investigation:
    """The JSON document, with the authoritative indexed columns laid over it."""
    inv = Investigation.model_validate(row.data)
    return inv.model_copy(
        update={
            "status": InvestigationStatus(row.status),
            "alert_status": AlertStatus(row.alert_status),
            "attempts": row.attempts,
            "updated_at": row.updated_at,
        }
    )


class SqlStore:
    """``correlator.ports.Store`` on SQLAlchemy async (SQLite WAL by default, PostgreSQL ready)."""

    def __init__(self, url: str, *, max_attempts: int = 3, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self.max_attempts = max_attempts
        self._engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def create_schema(self) -> None:
        """``metadata.create_all`` (Alembic migrations replace this with the PostgreSQL issue)."""
        async with self._engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self._engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(1))
        except (DBAPIError, OSError):
            return False
        return True

    # -- intake -----------------------------------------------------------------------------

    async def create_or_get(self, alert: Alert) -> tuple[Investigation, bool]:
        existing = await self._by_key(alert.fingerprint, alert.starts_at)
        if existing is not None:
            return existing, False
        now = _now()
        inv = Investigation(
            id=str(uuid.uuid4()),
            fingerprint=alert.fingerprint,
            alert=alert,
            alert_status=alert.status,
            status=InvestigationStatus.QUEUED,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(investigations).values(**_row_values(inv)))
        except IntegrityError:
            raced = await self._by_key(alert.fingerprint, alert.starts_at)
            if raced is None:
                raise
            return raced, False
        return inv, True

    async def _by_key(self, fingerprint: str, starts_at: datetime) -> Investigation | None:
        query = select(investigations).where(
            investigations.c.fingerprint == fingerprint, investigations.c.starts_at == starts_at
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _from_row(row) if row is not None else None

    async def mark_resolved(
        self, fingerprint: str, starts_at: datetime, ends_at: datetime | None
    ) -> Investigation | None:
        key = and_(
            investigations.c.fingerprint == fingerprint, investigations.c.starts_at == starts_at
        )
        async with self._engine.begin() as conn:
            row = (await conn.execute(select(investigations).where(key))).first()
            if row is None:
                return None
            inv = _from_row(row)
            alert = inv.alert.model_copy(
                update={"status": AlertStatus.RESOLVED, "ends_at": ends_at}
            )
            inv = inv.model_copy(
                update={"alert": alert, "alert_status": AlertStatus.RESOLVED, "updated_at": _now()}
            )
            await conn.execute(
                update(investigations)
                .where(investigations.c.id == inv.id)
                .values(
                    alert_status=AlertStatus.RESOLVED.value,
                    updated_at=inv.updated_at,
                    data=inv.model_dump(mode="json"),
                )
            )
        return inv

    # -- work queue -------------------------------------------------------------------------

    async def claim_next(self, owner: str, lease_seconds: float) -> Investigation | None:
        """Atomically move the oldest queued investigation to running under ``owner``'s lease.

        An investigation already attempted ``max_attempts`` times (it crashed or its lease
        expired every time) is marked failed instead of being retried forever.
        """
        oldest = (
            select(investigations)
            .where(investigations.c.status == InvestigationStatus.QUEUED.value)
            .order_by(investigations.c.created_at, investigations.c.id)
            .limit(1)
        )
        while True:
            async with self._engine.begin() as conn:
                row = (await conn.execute(oldest)).first()
                if row is None:
                    return None
                now = _now()
                inv = _from_row(row)
                if inv.attempts >= self.max_attempts:
                    await self._give_up(conn, inv, now)
                    continue
                inv = inv.model_copy(
                    update={
                        "status": InvestigationStatus.RUNNING,
                        "attempts": inv.attempts + 1,
                        "started_at": now,
                        "updated_at": now,
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
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        updated_at=now,
                        data=inv.model_dump(mode="json"),
                    )
                )
                if result.rowcount == 1:
                    return inv

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
                data=failed.model_dump(mode="json"),
            )
        )

    async def renew_lease(self, investigation_id: str, owner: str, lease_seconds: float) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(investigations)
                .where(self._held(investigation_id, owner))
                .values(lease_expires_at=_now() + timedelta(seconds=lease_seconds))
            )
        return bool(result.rowcount == 1)

    async def release(self, investigation_id: str, owner: str) -> bool:
        """Back to queued without counting the attempt (graceful shutdown)."""
        async with self._engine.begin() as conn:
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
                    updated_at=_now(),
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

        A concurrent ``mark_resolved`` wins over the worker's copy of the alert.
        """
        async with self._engine.begin() as conn:
            query = select(investigations).where(investigations.c.id == inv.id)
            row = (await conn.execute(query)).first()
            if row is None:
                return False
            if owner is not None and (
                row.lease_owner != owner or row.status != InvestigationStatus.RUNNING.value
            ):
                return False
            if row.alert_status == AlertStatus.RESOLVED.value:
                stored = _from_row(row)
                inv = inv.model_copy(
                    update={"alert": stored.alert, "alert_status": AlertStatus.RESOLVED}
                )
            inv = inv.model_copy(update={"updated_at": _now()})
            values = _row_values(inv)
            if inv.status.value != InvestigationStatus.RUNNING.value:
                values.update(lease_owner=None, lease_expires_at=None)
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

    async def requeue_running_on_start(self) -> int:
        """Single-process start-up: whatever was running when we died is queued again."""
        return await self._requeue(investigations.c.status == InvestigationStatus.RUNNING.value)

    async def _requeue(self, where: ColumnElement[bool]) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(investigations)
                .where(where)
                .values(
                    status=InvestigationStatus.QUEUED.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=_now(),
                )
            )
        return int(result.rowcount)

    async def queue_depth(self) -> int:
        query = select(func.count()).where(investigations.c.status.in_(ACTIVE))
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def prune(self, older_than: datetime) -> int:
        """Delete finished investigations (and their events) and deploys older than the cut."""
        old = and_(investigations.c.status.in_(FINISHED), investigations.c.updated_at < older_than)
        async with self._engine.begin() as conn:
            old_ids = select(investigations.c.id).where(old)
            await conn.execute(delete(events).where(events.c.investigation_id.in_(old_ids)))
            result = await conn.execute(delete(investigations).where(old))
            await conn.execute(delete(deploys).where(deploys.c.time < older_than))
        return int(result.rowcount)

    # -- reads ------------------------------------------------------------------------------

    async def get(self, investigation_id: str) -> Investigation | None:
        query = select(investigations).where(investigations.c.id == investigation_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _from_row(row) if row is not None else None

    @staticmethod
    def _filters(
        status: InvestigationStatus | None, alertname: str | None, service: str | None
    ) -> builtins.list[ColumnElement[bool]]:
        where: builtins.list[ColumnElement[bool]] = []
        if status is not None:
            where.append(investigations.c.status == status.value)
        if alertname:
            where.append(investigations.c.alertname == alertname)
        if service:
            where.append(investigations.c.service == service)
        return where

    async def count(
        self,
        *,
        status: InvestigationStatus | None = None,
        alertname: str | None = None,
        service: str | None = None,
    ) -> int:
        query = select(func.count()).select_from(investigations)
        query = query.where(*self._filters(status, alertname, service))
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    # -- deploys (ports.DeployStore) --------------------------------------------------------

    async def add_deploy(self, deploy: Deploy) -> str:
        deploy_id = str(uuid.uuid4())
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(deploys).values(
                    id=deploy_id,
                    service=deploy.service,
                    environment=deploy.environment,
                    time=deploy.time,
                    created_at=_now(),
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
        async with self._engine.connect() as conn:
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
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.id, Deploy.model_validate(r.data)) for r in rows]

    # -- events -----------------------------------------------------------------------------

    async def append_event(
        self, investigation_id: str, kind: str, payload: dict[str, object]
    ) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                insert(events).values(
                    investigation_id=investigation_id,
                    kind=kind[:64],
                    created_at=_now(),
                    payload=payload,
                )
            )
            key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    async def events_after(
        self, investigation_id: str, after_id: int, limit: int = 500
    ) -> builtins.list[StoredEvent]:
        query = (
            select(events)
            .where(events.c.investigation_id == investigation_id, events.c.id > after_id)
            .order_by(events.c.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
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

    async def list(
        self,
        *,
        status: InvestigationStatus | None = None,
        alertname: str | None = None,
        service: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[Investigation]:
        query = (
            select(investigations)
            .where(*self._filters(status, alertname, service))
            .order_by(investigations.c.created_at.desc(), investigations.c.id)
            .limit(limit)
            .offset(offset)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(r) for r in rows]
