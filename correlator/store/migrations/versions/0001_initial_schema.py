"""Initial schema: investigations, deploys, events and the notify outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Databases created before migrations existed (``metadata.create_all``) already have some or all
of these tables: each table (with its indexes) is created only when missing, so upgrading such a
database adopts it instead of failing. Timestamps are naive UTC (``UTCDateTime`` in the code).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def _investigations() -> None:
    op.create_table(
        "investigations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("fingerprint", sa.String(256), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alertname", sa.String(256), nullable=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("alert_status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "fingerprint", "starts_at", name="uq_investigations_fingerprint_starts_at"
        ),
    )
    ix = op.create_index
    ix("ix_investigations_alertname", "investigations", ["alertname"])
    ix("ix_investigations_lease", "investigations", ["status", "lease_expires_at"])
    ix("ix_investigations_service", "investigations", ["service"])
    ix("ix_investigations_status_created", "investigations", ["status", "created_at"])
    ix("ix_investigations_updated", "investigations", ["updated_at"])


def _deploys() -> None:
    op.create_table(
        "deploys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("environment", sa.String(128), nullable=True),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deploys_service_time", "deploys", ["service", "time"])
    op.create_index("ix_deploys_time", "deploys", ["time"])


def _events() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_investigation_id", "events", ["investigation_id", "id"])


def _notifications() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("message_key", sa.String(512), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(256), nullable=True),
        sa.Column("external_target", sa.String(256), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("idempotency_key", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    ix = op.create_index
    ix("ix_notifications_due", "notifications", ["state", "next_attempt_at"])
    ix("ix_notifications_investigation", "notifications", ["investigation_id"])
    ix("ix_notifications_message", "notifications", ["message_key", "state"])


TABLES = {
    "investigations": _investigations,
    "deploys": _deploys,
    "events": _events,
    "notifications": _notifications,
}


def upgrade() -> None:
    for name, create in TABLES.items():
        if _missing(name):
            create()


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
