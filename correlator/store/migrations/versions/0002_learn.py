"""Learning from outcomes: verdict feedback and the memory of past incidents.

Revision ID: 0002_learn
Revises: 0001
Create Date: 2026-12-03

``feedback``: one row per verdict (``latest`` marks the one in force per investigation), with the
alert rule and predicted fault type copied for the track record. ``incident_memory``: one row per
investigation with its evidence signature, indexed by (alertname, service, created_at) for the
similar-incident lookup. See ``correlator/store/learning.py`` and docs/feedback.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_learn"
down_revision = "0001"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def _feedback() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("alertname", sa.String(256), nullable=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("fault_type", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_created", "feedback", ["created_at"])
    op.create_index("ix_feedback_investigation", "feedback", ["investigation_id", "created_at"])
    op.create_index("ix_feedback_latest_alertname", "feedback", ["latest", "alertname", "verdict"])
    op.create_index(
        "ix_feedback_latest_fault_type", "feedback", ["latest", "fault_type", "verdict"]
    )


def _incident_memory() -> None:
    op.create_table(
        "incident_memory",
        sa.Column("investigation_id", sa.String(36), nullable=False),
        sa.Column("alertname", sa.String(256), nullable=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("operation", sa.String(512), nullable=False),
        sa.Column("change_kind", sa.String(32), nullable=False),
        sa.Column("templates", sa.String(1024), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("cause", sa.String(512), nullable=True),
        sa.Column("cause_service", sa.String(256), nullable=True),
        sa.Column("cause_fault_type", sa.String(64), nullable=True),
        sa.Column("fix", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint("investigation_id"),
    )
    op.create_index("ix_incident_memory_created", "incident_memory", ["created_at"])
    op.create_index(
        "ix_incident_memory_lookup", "incident_memory", ["alertname", "service", "created_at"]
    )


TABLES = {"feedback": _feedback, "incident_memory": _incident_memory}


def upgrade() -> None:
    """Each table only when missing (a database made by ``create_all`` is adopted)."""
    for name, create in TABLES.items():
        if _missing(name):
            create()


def downgrade() -> None:
    op.drop_table("incident_memory")
    op.drop_table("feedback")
