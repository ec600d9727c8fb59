"""The notify outbox table (``notifications``) and its queries: one row per notification.

Rows that address the same message or stream share a ``message_key`` (e.g. one Slack message
per investigation and channel); the worker claims a whole key under a lease, delivers only the
newest pending row (older ones become ``superseded``: edits are coalesced) and stores the
message id it got back (``external_id``, e.g. Slack ``ts``) so later rows edit that message
instead of posting again, also after a restart. ``idempotency_key`` is UNIQUE: publishing the same
phase twice inserts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from correlator.models import DeliveryState, NotificationState
from correlator.store.schema import UTCDateTime, metadata

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("investigation_id", String(36), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(256), nullable=False, default=""),
    Column("message_key", String(512), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("seq", Integer, nullable=False, default=0),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("external_id", String(256), nullable=True),
    Column("external_target", String(256), nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("idempotency_key", String(512), nullable=False, unique=True),
)
Index("ix_notifications_due", notifications.c.state, notifications.c.next_attempt_at)
Index("ix_notifications_message", notifications.c.message_key, notifications.c.state)
Index("ix_notifications_investigation", notifications.c.investigation_id)

OPEN = (DeliveryState.PENDING.value, DeliveryState.RETRYING.value)


@dataclass(frozen=True)
class NotificationRow:
    id: str
    investigation_id: str
    channel: str
    kind: str
    target: str
    message_key: str
    phase: str
    seq: int
    payload: dict[str, Any]
    state: str
    attempts: int
    created_at: datetime
    idempotency_key: str


@dataclass(frozen=True)
class MessageRef:
    """Where a message already lives (Slack: channel id + ``ts``)."""

    external_id: str
    target: str | None
    delivered_at: datetime | None


class OutboxStore:
    """Queries on the ``notifications`` table; every write is committed before it returns."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_schema(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: metadata.create_all(c, tables=[notifications]))

    async def enqueue(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows, ignoring those whose ``idempotency_key`` exists; returns rows inserted."""
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        inserted = 0
        async with self.engine.begin() as conn:
            for row in rows:
                if dialect == "postgresql":
                    stmt: Any = postgresql.insert(notifications).values(**row)
                else:
                    stmt = sqlite.insert(notifications).values(**row)
                stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
                result = await conn.execute(stmt)
                inserted += max(result.rowcount, 0)
        return inserted

    async def due_keys(self, now: datetime, limit: int = 100) -> list[str]:
        q = (
            select(notifications.c.message_key, func.min(notifications.c.next_attempt_at))
            .where(
                notifications.c.state.in_(OPEN),
                notifications.c.next_attempt_at <= now,
                or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now),
            )
            .group_by(notifications.c.message_key)
            .order_by(func.min(notifications.c.next_attempt_at))
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [r[0] for r in (await conn.execute(q)).all()]

    async def claim(
        self, message_key: str, owner: str, now: datetime, lease_seconds: float
    ) -> list[NotificationRow]:
        """Lease every open row of ``message_key`` to ``owner``; newest (by phase, time) last.

        Rows another replica is claiming right now are skipped (PostgreSQL ``FOR UPDATE SKIP
        LOCKED``; SQLite ignores it, its one writer serialises claims), so a note is posted once.
        """
        free = (
            select(notifications.c.id)
            .where(
                notifications.c.message_key == message_key,
                notifications.c.state.in_(OPEN),
                or_(notifications.c.lease_until.is_(None), notifications.c.lease_until < now),
            )
            .with_for_update(skip_locked=True)
        )
        async with self.engine.begin() as conn:
            await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(free))
                .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
            )
            result = await conn.execute(
                select(notifications)
                .where(
                    notifications.c.message_key == message_key,
                    notifications.c.lease_owner == owner,
                    notifications.c.state.in_(OPEN),
                )
                .order_by(notifications.c.seq, notifications.c.created_at, notifications.c.id)
            )
            return [_row(r) for r in result.all()]

    async def renew(
        self, ids: Sequence[str], owner: str, now: datetime, lease_seconds: float
    ) -> int:
        """Extend ``owner``'s lease on the rows ``ids`` still held (the delivery heartbeat)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(list(ids)), notifications.c.lease_owner == owner)
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )
            return max(result.rowcount, 0)

    async def release_leases(self, owner_prefix: str) -> int:
        """Start-up: open rows leased by a previous process of this host (``owner_prefix``) are
        free again at once, instead of after their lease (a crash mid-delivery, D9)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(
                    notifications.c.state.in_(OPEN),
                    notifications.c.lease_owner.startswith(owner_prefix, autoescape=True),
                )
                .values(lease_owner=None, lease_until=None)
            )
            return max(result.rowcount, 0)

    async def message_ref(self, message_key: str) -> MessageRef | None:
        q = (
            select(
                notifications.c.external_id,
                notifications.c.external_target,
                func.max(notifications.c.delivered_at),
            )
            .where(
                notifications.c.message_key == message_key,
                notifications.c.external_id.is_not(None),
            )
            .group_by(notifications.c.external_id, notifications.c.external_target)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
        return MessageRef(row[0], row[1], row[2]) if row else None

    async def has_open(self, message_key: str) -> bool:
        q = (
            select(notifications.c.id)
            .where(notifications.c.message_key == message_key, notifications.c.state.in_(OPEN))
            .limit(1)
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(q)).first() is not None

    async def last_delivery(self, message_key: str) -> datetime | None:
        q = select(func.max(notifications.c.delivered_at)).where(
            notifications.c.message_key == message_key
        )
        async with self.engine.connect() as conn:
            value: datetime | None = (await conn.execute(q)).scalar()
        return value

    async def finish(
        self,
        rows: Sequence[NotificationRow],
        *,
        state: DeliveryState,
        now: datetime,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        count_attempt: bool = True,
        kind: str | None = None,
        external_id: str | None = None,
        external_target: str | None = None,
    ) -> None:
        """Settle claimed rows: the newest gets ``state``; older ones are superseded on success."""
        if not rows:
            return
        newest = rows[-1]
        async with self.engine.begin() as conn:
            for r in rows:
                values: dict[str, Any] = {
                    "lease_owner": None,
                    "lease_until": None,
                    "updated_at": now,
                    "attempts": r.attempts + (1 if count_attempt else 0),
                }
                if state is DeliveryState.DELIVERED:
                    values["state"] = state.value if r is newest else DeliveryState.SUPERSEDED.value
                    values["last_error"] = None
                    if r is newest:
                        values.update(delivered_at=now, external_id=external_id)
                        values.update(external_target=external_target)
                        if kind:
                            values["kind"] = kind
                    else:
                        values["attempts"] = r.attempts
                else:
                    values["state"] = state.value
                    values["last_error"] = error
                    if next_attempt_at is not None:
                        values["next_attempt_at"] = next_attempt_at
                await conn.execute(
                    update(notifications).where(notifications.c.id == r.id).values(**values)
                )

    async def supersede_open(self, investigation_id: str, channel: str, kind: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(
                    notifications.c.investigation_id == investigation_id,
                    notifications.c.channel == channel,
                    notifications.c.kind == kind,
                    notifications.c.state.in_(OPEN),
                )
                .values(state=DeliveryState.SUPERSEDED.value, lease_owner=None, lease_until=None)
            )
            return max(result.rowcount, 0)

    async def expire(self, now: datetime) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(notifications.c.state.in_(OPEN), notifications.c.expires_at < now)
                .values(
                    state=DeliveryState.EXPIRED.value,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )
            return max(result.rowcount, 0)

    async def prune(self, older_than: datetime) -> int:
        """Delete settled rows (not pending/retrying) created before ``older_than``."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(notifications).where(
                    notifications.c.created_at < older_than,
                    notifications.c.state.not_in(OPEN),
                )
            )
            return max(result.rowcount, 0)

    async def pending_count(self) -> int:
        q = select(func.count()).where(notifications.c.state.in_(OPEN))
        async with self.engine.connect() as conn:
            return int((await conn.execute(q)).scalar() or 0)

    async def states(self, investigation_id: str) -> list[NotificationState]:
        q = (
            select(notifications)
            .where(notifications.c.investigation_id == investigation_id)
            .order_by(notifications.c.created_at, notifications.c.seq, notifications.c.id)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [
            NotificationState(
                id=r.id,
                channel=r.channel,
                kind=r.kind,
                state=DeliveryState(r.state),
                attempts=r.attempts,
                last_error=r.last_error,
                external_id=r.external_id,
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    async def all_rows(self) -> list[dict[str, Any]]:
        """Every row as a dict (diagnostics and tests)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(notifications))).all()
        return [dict(r._mapping) for r in rows]


def _row(r: Any) -> NotificationRow:
    return NotificationRow(
        id=r.id,
        investigation_id=r.investigation_id,
        channel=r.channel,
        kind=r.kind,
        target=r.target,
        message_key=r.message_key,
        phase=r.phase,
        seq=r.seq,
        payload=dict(r.payload),
        state=r.state,
        attempts=r.attempts,
        created_at=r.created_at,
        idempotency_key=r.idempotency_key,
    )


__all__ = ["MessageRef", "NotificationRow", "OutboxStore", "notifications"]
