"""Alertmanager-shaped webhook bodies (payload version 4) for the load figures."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any


def alert(labels: dict[str, str], starts_at: datetime, generator_url: str = "") -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"{labels.get('alertname', '?')} (bench)"},
        "startsAt": starts_at.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": generator_url,
    }


def webhook(alerts: list[dict[str, Any]], group_labels: dict[str, str]) -> dict[str, Any]:
    """A group notification: the group's alerts, common labels = group labels."""
    key = ",".join(f'{k}="{v}"' for k, v in sorted(group_labels.items()))
    return {
        "receiver": "correlator",
        "status": "firing",
        "alerts": alerts,
        "groupLabels": group_labels,
        "commonLabels": group_labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench:9093",
        "version": "4",
        "groupKey": "{}:{" + key + "}",
        "truncatedAlerts": 0,
    }


def stored_ids(db_path: Path) -> set[str]:
    """Investigation ids in a service's SQLite store (read-only, safe beside WAL writers)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return {row[0] for row in con.execute("SELECT id FROM investigations")}
    finally:
        con.close()


def status_counts(db_path: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT status, COUNT(*) FROM investigations GROUP BY status")
        return {str(s): int(n) for s, n in rows}
    finally:
        con.close()
