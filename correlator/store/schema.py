"""Tables of the durable store (SQLAlchemy Core, portable SQL: SQLite now, PostgreSQL next).

``metadata`` is the one ``MetaData`` of the application: other packages add their own tables to
it (e.g. the notify outbox in ``store/notifications.py``) so ``create_all`` and, later, the
Alembic migrations see everything. Timestamps are stored as naive UTC (``UTCDateTime``) so that
comparisons behave the same on every backend.

The full ``Investigation`` JSON lives in ``investigations.data``; the indexed columns next to it
are what queries filter, order and lease on, and they are authoritative where both exist
(``status``, ``alert_status``, ``attempts``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (same on SQLite and PostgreSQL)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


investigations = Table(
    "investigations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("fingerprint", String(256), nullable=False),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("alertname", String(256), nullable=False, default=""),
    Column("service", String(256), nullable=False, default=""),
    Column("alert_status", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("data", JSON, nullable=False),
    # alert groups (migration 0002): see ``correlator.store.groups``
    Column("group_id", String(64), nullable=True),
    Column("open_group", String(64), nullable=True),
    Column("not_before", UTCDateTime(), nullable=True),
    Column("revision", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("fingerprint", "starts_at", name="uq_investigations_fingerprint_starts_at"),
)
Index("ix_investigations_status_created", investigations.c.status, investigations.c.created_at)
Index("ix_investigations_alertname", investigations.c.alertname)
Index("ix_investigations_service", investigations.c.service)
Index("ix_investigations_updated", investigations.c.updated_at)
Index("ix_investigations_lease", investigations.c.status, investigations.c.lease_expires_at)
Index("ix_investigations_group", investigations.c.group_id, investigations.c.created_at)
Index("uq_investigations_open_group", investigations.c.open_group, unique=True)

# The alerts of a group investigation: one row per (fingerprint, startsAt), with its own status.
investigation_alerts = Table(
    "investigation_alerts",
    metadata,
    Column("investigation_id", String(36), primary_key=True),
    Column("fingerprint", String(256), primary_key=True),
    Column("starts_at", UTCDateTime(), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
)
Index(
    "ix_investigation_alerts_key",
    investigation_alerts.c.fingerprint,
    investigation_alerts.c.starts_at,
)

deploys = Table(
    "deploys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("service", String(256), nullable=False),
    Column("environment", String(128), nullable=True),
    Column("time", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("data", JSON, nullable=False),
)
Index("ix_deploys_time", deploys.c.time)
Index("ix_deploys_service_time", deploys.c.service, deploys.c.time)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("investigation_id", String(36), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("payload", JSON, nullable=False),
)
Index("ix_events_investigation_id", events.c.investigation_id, events.c.id)
