"""Alert groups: one investigation per Alertmanager group, its alerts, debounced re-runs.

Revision ID: 0003_storm
Revises: 0002_learn
Create Date: 2026-12-03

``investigations`` gains ``group_id`` (hash of receiver + groupKey; NULL in ``grouping: alert``),
``open_group`` (the same hash while the group has a firing alert; UNIQUE, so concurrent intake on
any replica finds one open investigation per group), ``not_before`` (debounce of a re-run) and
``revision`` (re-runs after the evidence scope widened). ``investigation_alerts`` holds each
alert of a group with its own status. Additive only: existing rows stay valid (NULL / 0).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_storm"
down_revision = "0002_learn"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Each step only when missing: a database made by ``metadata.create_all`` (adopted by 0001)
    may already have all of it."""
    inspector = sa.inspect(op.get_bind())
    have = {c["name"] for c in inspector.get_columns("investigations")}
    for column in (
        sa.Column("group_id", sa.String(64), nullable=True),
        sa.Column("open_group", sa.String(64), nullable=True),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
    ):
        if column.name not in have:
            op.add_column("investigations", column)
    indexes = {i["name"] for i in inspector.get_indexes("investigations")}
    if "ix_investigations_group" not in indexes:
        op.create_index("ix_investigations_group", "investigations", ["group_id", "created_at"])
    if "uq_investigations_open_group" not in indexes:
        op.create_index(
            "uq_investigations_open_group", "investigations", ["open_group"], unique=True
        )
    if not inspector.has_table("investigation_alerts"):
        _investigation_alerts()


def _investigation_alerts() -> None:
    op.create_table(
        "investigation_alerts",
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("fingerprint", sa.String(256), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("investigation_id", "fingerprint", "starts_at"),
    )
    op.create_index(
        "ix_investigation_alerts_key", "investigation_alerts", ["fingerprint", "starts_at"]
    )


def downgrade() -> None:
    op.drop_table("investigation_alerts")
    op.drop_index("uq_investigations_open_group", table_name="investigations")
    op.drop_index("ix_investigations_group", table_name="investigations")
    with op.batch_alter_table("investigations") as batch:
        for name in ("revision", "not_before", "open_group", "group_id"):
            batch.drop_column(name)
