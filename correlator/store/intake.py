"""Idempotent intake: one investigation per (fingerprint, starts_at), across replicas.

The UNIQUE(fingerprint, starts_at) constraint decides, not a read-then-write race: rows are
inserted with ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite and PostgreSQL), and a key whose
insert did nothing is read back, since another writer (this replica or another) committed it
first. On PostgreSQL the conflicting insert waits for that writer's commit, so the read finds it.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from correlator.models import Alert, AlertStatus, Investigation
from correlator.store.groups import GroupMixin
from correlator.store.rows import from_row, new_investigation, now, row_data, row_values
from correlator.store.schema import investigations


def insert_ignore(engine: AsyncEngine, values: dict[str, Any]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the engine's dialect."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(investigations).values(**values).on_conflict_do_nothing()


class IntakeMixin(GroupMixin):
    """Intake on ``RecordsMixin``'s engines and write transactions (groups: ``GroupMixin``)."""

    service_labels: tuple[str, ...]  # for the ``service`` column (set by ``SqlStore``)

    async def create_or_get(self, alert: Alert) -> tuple[Investigation, bool]:
        return (await self.create_or_get_many([alert]))[0]

    async def create_or_get_many(
        self, alerts: Sequence[Alert]
    ) -> builtins.list[tuple[Investigation, bool]]:
        """``create_or_get`` for a whole webhook in one transaction (one commit, not N)."""
        keys = {(a.fingerprint, a.starts_at) for a in alerts}
        found = {(i.fingerprint, i.alert.starts_at): i for i in await self._by_keys(keys)}
        found.update(await self._grouped(keys - found.keys()))  # alerts held by a group
        fresh: dict[tuple[str, datetime], Investigation] = {}
        for alert in alerts:
            key = (alert.fingerprint, alert.starts_at)
            if key not in found and key not in fresh:
                fresh[key] = new_investigation(alert)
        lost: set[tuple[str, datetime]] = set()
        if fresh:
            async with self._begin() as conn:
                for key, inv in fresh.items():
                    result = await conn.execute(
                        insert_ignore(self._engine, row_values(inv, self.service_labels))
                    )
                    if result.rowcount != 1:
                        lost.add(key)
        if lost:  # another writer committed these keys first: theirs is the investigation
            for inv in await self._by_keys(lost):
                found[(inv.fingerprint, inv.alert.starts_at)] = inv
                fresh.pop((inv.fingerprint, inv.alert.starts_at), None)
        out: builtins.list[tuple[Investigation, bool]] = []
        for alert in alerts:
            key = (alert.fingerprint, alert.starts_at)
            if key in found:
                out.append((found[key], False))
            else:
                out.append((fresh[key], True))
                found[key] = fresh[key]  # a duplicate later in the same body is not "new"
        return out

    async def _by_keys(self, keys: set[tuple[str, datetime]]) -> builtins.list[Investigation]:
        if not keys:
            return []
        fingerprints = {f for f, _ in keys}
        query = select(investigations).where(investigations.c.fingerprint.in_(fingerprints))
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        invs = [from_row(r) for r in rows]
        return [i for i in invs if (i.fingerprint, i.alert.starts_at) in keys]

    async def mark_resolved(
        self, fingerprint: str, starts_at: datetime, ends_at: datetime | None
    ) -> Investigation | None:
        key = and_(
            investigations.c.fingerprint == fingerprint, investigations.c.starts_at == starts_at
        )
        async with self._begin() as conn:
            query = select(investigations).where(key).with_for_update()
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            inv = from_row(row)
            alert = inv.alert.model_copy(
                update={"status": AlertStatus.RESOLVED, "ends_at": ends_at}
            )
            inv = inv.model_copy(
                update={"alert": alert, "alert_status": AlertStatus.RESOLVED, "updated_at": now()}
            )
            await conn.execute(
                update(investigations)
                .where(investigations.c.id == inv.id)
                .values(
                    alert_status=AlertStatus.RESOLVED.value,
                    updated_at=inv.updated_at,
                    data=row_data(inv),
                )
            )
        return inv


__all__ = ["IntakeMixin", "insert_ignore"]
