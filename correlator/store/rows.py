"""Row <-> ``Investigation`` mapping and the indexed values derived from an alert."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from correlator.models import Alert, AlertStatus, Investigation, InvestigationStatus
from correlator.models.alert import alert_service

ACTIVE = (InvestigationStatus.QUEUED.value, InvestigationStatus.RUNNING.value)
FINISHED = (InvestigationStatus.DONE.value, InvestigationStatus.FAILED.value)


def now() -> datetime:
    return datetime.now(UTC)


def row_data(inv: Investigation) -> dict[str, Any]:
    """The ``data`` JSON; a group's alerts live in their own table (``store.groups``)."""
    data = inv.model_dump(mode="json")
    if data.get("group"):
        data["group"].update(alerts=[], firing=0, resolved=0)
    return data


def row_values(inv: Investigation, service_labels: Sequence[str]) -> dict[str, Any]:
    """Column values; ``service`` is ``alert_service`` over the configured service labels."""
    data = row_data(inv)
    return {
        "id": inv.id,
        "fingerprint": inv.fingerprint,
        "starts_at": inv.alert.starts_at,
        "status": inv.status.value,
        "alertname": inv.alert.alertname[:256],
        "service": (alert_service(inv.alert.labels, service_labels) or "")[:256],
        "alert_status": inv.alert_status.value,
        "created_at": inv.created_at,
        "updated_at": inv.updated_at,
        "attempts": inv.attempts,
        "data": data,
    }


def from_row(row: Row[Any]) -> Investigation:
    """The JSON document, with the authoritative indexed columns laid over it."""
    inv = Investigation.model_validate(row.data)
    update: dict[str, Any] = {
        "status": InvestigationStatus(row.status),
        "alert_status": AlertStatus(row.alert_status),
        "attempts": row.attempts,
        "updated_at": row.updated_at,
    }
    if inv.group is not None:
        update["group"] = inv.group.model_copy(update={"revision": row.revision})
    return inv.model_copy(update=update)


def new_investigation(alert: Alert) -> Investigation:
    at = now()
    return Investigation(
        id=str(uuid.uuid4()),
        fingerprint=alert.fingerprint,
        alert=alert,
        alert_status=alert.status,
        status=InvestigationStatus.QUEUED,
        created_at=at,
        updated_at=at,
    )
