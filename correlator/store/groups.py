"""Alert groups (``grouping: alertmanager``): one investigation per Alertmanager group.

Identity is the receiver plus Alertmanager's ``groupKey``, hashed into ``group_id``. The
group's *open* investigation carries ``open_group = group_id``; a UNIQUE index on that column
makes concurrent intake on any replica converge on one row (the loser of ``INSERT ... ON
CONFLICT DO NOTHING`` reads the winner's row, on PostgreSQL after waiting for its commit).
Once every alert of the group is resolved ``open_group`` is cleared, so the next firing of the
same group (a new incident days later) opens a new investigation instead of re-opening an old
note. The group row's ``fingerprint`` column is ``group:<group_id>``: it never collides with
(or answers for) the per-alert idempotency key of ``grouping: alert``.

The alerts live in ``investigation_alerts``, one row per (fingerprint, startsAt) with its own
status, so alert-level idempotency and the resolved flow hold inside a group: a re-sent alert
is a no-op and the group is resolved when its last alert is.

Re-runs are debounced through ``not_before``. Alerts that join with a service or expression the
current run does not cover (``scope``) widen it: a finished investigation goes back to the
queue, claimable at ``not_before``; a running one gets ``not_before`` set and the worker's final
``save`` re-queues it; a queued one only has a pending ``not_before`` pushed back, since its scope
is computed when it is claimed. Alerts that join without widening the scope trigger no re-run.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, and_, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from correlator.models import (
    Alert,
    AlertGroup,
    AlertStatus,
    GroupAlert,
    Investigation,
    InvestigationStatus,
)
from correlator.models.alert import alert_service
from correlator.ports import GroupIntake
from correlator.store.records import RecordsMixin
from correlator.store.rows import from_row, new_investigation, now, row_values
from correlator.store.schema import investigation_alerts, investigations

AlertKey = tuple[str, datetime]
FINISHED_STATES = (InvestigationStatus.DONE.value, InvestigationStatus.FAILED.value)


def group_id(receiver: str, group_key: str) -> str:
    """The stored identity of an Alertmanager group (``groupKey`` is only unique per receiver)."""
    return hashlib.sha256(f"{receiver}\x00{group_key}".encode()).hexdigest()[:32]


def scope_key(alert: Alert | GroupAlert, service_labels: Sequence[str] | None = None) -> str:
    """What the evidence of an alert depends on: its service (``alert_service`` over
    ``service_labels``) and its expression (or rule)."""
    if isinstance(alert, GroupAlert):
        return f"{alert.service} | {alert.expr or alert.alertname}"
    service = alert_service(alert.labels, service_labels) or ""
    return f"{service} | {alert.expr or alert.alertname}"


def _group_alert(row: Row[Any], service_labels: Sequence[str]) -> GroupAlert:
    alert = Alert.model_validate(row.data)
    return GroupAlert(
        fingerprint=row.fingerprint,
        status=AlertStatus(row.status),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        alertname=alert.alertname,
        service=alert_service(alert.labels, service_labels) or "",
        expr=alert.expr,
        labels=dict(alert.labels),
    )


class GroupMixin(RecordsMixin):
    """Group intake and the group overlay of reads, on ``RecordsMixin``'s engines."""

    service_labels: tuple[str, ...]  # ``alert_service`` of each alert (set by ``SqlStore``)

    async def intake_group(
        self,
        alerts: Sequence[Alert],
        *,
        group_labels: Mapping[str, str],
        debounce_seconds: float,
    ) -> GroupIntake:
        """Store one notification of a group (all its alerts share receiver and groupKey)."""
        gid = group_id(alerts[0].receiver, alerts[0].group_key)

        async def op(conn: AsyncConnection) -> GroupIntake:
            return await self._intake_tx(conn, gid, alerts, group_labels, debounce_seconds)

        return await self._write(op)

    async def _intake_tx(
        self,
        conn: AsyncConnection,
        gid: str,
        alerts: Sequence[Alert],
        group_labels: Mapping[str, str],
        debounce_seconds: float,
    ) -> GroupIntake:
        """Few statements on purpose (each is a thread round trip on aiosqlite): a new group is
        one SELECT and two INSERTs; a re-notification adds the alert statuses and one UPDATE."""
        at = now()
        row, created = await self._group_row(conn, gid, alerts, group_labels, at)
        stored = {} if created else await self._statuses(conn, row.id)
        was_firing = any(s == AlertStatus.FIRING.value for s in stored.values())
        result = GroupIntake(investigation=from_row(row), created=created)
        new_firing = await self._merge_alerts(conn, row.id, alerts, stored, result, at)
        firing = any(s == AlertStatus.FIRING.value for s in stored.values())
        values: dict[str, Any] = {
            "alert_status": (AlertStatus.FIRING if firing else AlertStatus.RESOLVED).value,
            "open_group": gid if firing else None,
            "updated_at": at,
        }
        if not created and new_firing:
            result.joined = len(new_firing)
            values.update(self._rerun_values(row, new_firing, at, debounce_seconds, result))
        result.resolved_now = was_firing and not firing
        if not created or not firing:
            await conn.execute(
                update(investigations).where(investigations.c.id == row.id).values(**values)
            )
        inv = result.investigation
        if result.resolved_now or result.joined:  # the caller may publish: the full view
            fresh = (await conn.execute(self._by_id(row.id))).one()
            result.investigation = (await self._attach(conn, [from_row(fresh)]))[0]
        else:
            result.investigation = inv.model_copy(
                update={
                    "status": InvestigationStatus(values.get("status", row.status)),
                    "alert_status": AlertStatus(values["alert_status"]),
                }
            )
        return result

    async def _group_row(
        self,
        conn: AsyncConnection,
        gid: str,
        alerts: Sequence[Alert],
        group_labels: Mapping[str, str],
        at: datetime,
    ) -> tuple[Any, bool]:
        """The group's open investigation (locked), else a new one (the inserted values, not
        read back); resolved-only notifications go to the latest investigation that holds one
        of their alerts."""
        opened = select(investigations).where(investigations.c.open_group == gid)
        row = (await conn.execute(opened.with_for_update())).first()
        if row is not None:
            return row, False
        firing = [a for a in alerts if a.status is not AlertStatus.RESOLVED]
        if not firing:
            old = await self._holding(conn, gid, {(a.fingerprint, a.starts_at) for a in alerts})
            if old is not None:
                return old, False
        first = firing[0] if firing else alerts[0]
        inv = new_investigation(first)
        inv = inv.model_copy(
            update={
                "group": AlertGroup(
                    receiver=first.receiver,
                    group_key=first.group_key,
                    group_labels=dict(group_labels),
                )
            }
        )
        values = row_values(inv, self.service_labels)
        # the row's key column is the group's, not the alert's (see the module docstring)
        values.update(fingerprint=f"group:{gid}", starts_at=at, group_id=gid)
        values["open_group"] = gid if firing else None
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(investigations).values(**values).on_conflict_do_nothing()
        if (await conn.execute(stmt)).rowcount == 1:
            return SimpleNamespace(**values, revision=0, not_before=None), True
        # another replica opened the group first; its row is committed and now visible
        return (await conn.execute(opened.with_for_update())).one(), False

    async def _holding(
        self, conn: AsyncConnection, gid: str, keys: set[AlertKey]
    ) -> Row[Any] | None:
        query = (
            select(investigations, investigation_alerts.c.starts_at.label("alert_starts_at"))
            .join(
                investigation_alerts,
                investigation_alerts.c.investigation_id == investigations.c.id,
            )
            .where(
                investigations.c.group_id == gid,
                investigation_alerts.c.fingerprint.in_({f for f, _ in keys}),
            )
            .order_by(investigations.c.created_at.desc())
        )
        for row in (await conn.execute(query)).all():
            if any(row.alert_starts_at == s for _, s in keys):
                return (await conn.execute(self._by_id(row.id).with_for_update())).one()
        return None

    async def _statuses(self, conn: AsyncConnection, inv_id: str) -> dict[AlertKey, str]:
        query = select(
            investigation_alerts.c.fingerprint,
            investigation_alerts.c.starts_at,
            investigation_alerts.c.status,
        ).where(investigation_alerts.c.investigation_id == inv_id)
        return {(r.fingerprint, r.starts_at): r.status for r in await conn.execute(query)}

    async def _merge_alerts(
        self,
        conn: AsyncConnection,
        inv_id: str,
        alerts: Sequence[Alert],
        stored: dict[AlertKey, str],
        result: GroupIntake,
        at: datetime,
    ) -> builtins.list[Alert]:
        """Insert new alerts (one statement), resolve resolved ones; ``stored`` is updated;
        returns the new firing ones."""
        new_firing: builtins.list[Alert] = []
        rows: builtins.list[dict[str, Any]] = []
        for alert in alerts:
            key = (alert.fingerprint, alert.starts_at)
            resolved = alert.status is AlertStatus.RESOLVED
            old = stored.get(key)
            if old is None:
                rows.append(
                    {
                        "investigation_id": inv_id,
                        "fingerprint": alert.fingerprint,
                        "starts_at": alert.starts_at,
                        "status": alert.status.value,
                        "ends_at": alert.ends_at,
                        "created_at": at,
                        "updated_at": at,
                        "data": alert.model_dump(mode="json"),
                    }
                )
                stored[key] = alert.status.value
                if not resolved:
                    new_firing.append(alert)
            elif resolved and old != AlertStatus.RESOLVED.value:
                await self._resolve_alert(conn, inv_id, alert, at)
                stored[key] = AlertStatus.RESOLVED.value
            outcome = "resolved" if resolved else ("new" if old is None else "duplicate")
            result.outcomes.append(outcome)
        if rows:
            await conn.execute(insert(investigation_alerts), rows)
        return new_firing

    @staticmethod
    async def _resolve_alert(
        conn: AsyncConnection, inv_id: str, alert: Alert, at: datetime
    ) -> None:
        where = and_(
            investigation_alerts.c.investigation_id == inv_id,
            investigation_alerts.c.fingerprint == alert.fingerprint,
            investigation_alerts.c.starts_at == alert.starts_at,
        )
        await conn.execute(
            update(investigation_alerts)
            .where(where)
            .values(status=AlertStatus.RESOLVED.value, ends_at=alert.ends_at, updated_at=at)
        )

    def _rerun_values(
        self,
        row: Row[Any],
        new_firing: Sequence[Alert],
        at: datetime,
        debounce_seconds: float,
        result: GroupIntake,
    ) -> dict[str, Any]:
        """Column updates that schedule a debounced re-run when the scope widened."""
        inv = from_row(row)
        covered = set(inv.group.scope) if inv.group is not None else set()
        status = row.status
        if status == InvestigationStatus.QUEUED.value:
            # not claimed yet (its scope is computed at claim): only push a pending re-run back
            if row.not_before is None:
                return {}
            return {"not_before": at + timedelta(seconds=debounce_seconds)}
        if not {scope_key(a, self.service_labels) for a in new_firing} - covered:
            return {}
        result.rerun = True
        due = at + timedelta(seconds=debounce_seconds)
        if status == InvestigationStatus.RUNNING.value:
            return {"not_before": due}  # the worker's final save re-queues it
        return {
            "status": InvestigationStatus.QUEUED.value,
            "attempts": 0,
            "not_before": due,
            "revision": row.revision + 1,
            "lease_owner": None,
            "lease_expires_at": None,
        }

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _by_id(inv_id: str) -> Any:
        return select(investigations).where(investigations.c.id == inv_id)

    async def _attach(
        self, conn: AsyncConnection, invs: builtins.list[Investigation]
    ) -> builtins.list[Investigation]:
        """Lay each group investigation's alerts (from ``investigation_alerts``) over it."""
        ids = [i.id for i in invs if i.group is not None]
        if not ids:
            return invs
        query = (
            select(investigation_alerts)
            .where(investigation_alerts.c.investigation_id.in_(ids))
            .order_by(investigation_alerts.c.starts_at, investigation_alerts.c.fingerprint)
        )
        by_inv: dict[str, builtins.list[GroupAlert]] = {}
        for row in (await conn.execute(query)).all():
            member = _group_alert(row, self.service_labels)
            by_inv.setdefault(row.investigation_id, []).append(member)
        out = []
        for inv in invs:
            if inv.group is not None:
                members = by_inv.get(inv.id, [])
                firing = sum(1 for a in members if a.status is AlertStatus.FIRING)
                group = inv.group.model_copy(
                    update={"alerts": members, "firing": firing, "resolved": len(members) - firing}
                )
                inv = inv.model_copy(update={"group": group, "alert": _current(inv.alert, members)})
            out.append(inv)
        return out

    async def _grouped(self, keys: set[AlertKey]) -> dict[AlertKey, Investigation]:
        """Group investigations already holding some of ``keys`` (reconcile, ``create_or_get``)."""
        if not keys:
            return {}
        query = (
            select(investigations, investigation_alerts.c.fingerprint.label("alert_fp"))
            .add_columns(investigation_alerts.c.starts_at.label("alert_starts_at"))
            .join(
                investigation_alerts,
                investigation_alerts.c.investigation_id == investigations.c.id,
            )
            .where(investigation_alerts.c.fingerprint.in_({f for f, _ in keys}))
        )
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {
            (r.alert_fp, r.alert_starts_at): from_row(r)
            for r in rows
            if (r.alert_fp, r.alert_starts_at) in keys
        }


def _current(alert: Alert, members: Sequence[GroupAlert]) -> Alert:
    """The investigation's representative alert with its stored status (it may have resolved)."""
    for m in members:
        if (m.fingerprint, m.starts_at) == (alert.fingerprint, alert.starts_at):
            return alert.model_copy(update={"status": m.status, "ends_at": m.ends_at})
    return alert


def group_scope(alerts: Sequence[GroupAlert]) -> builtins.list[str]:
    """The scope of a run: the distinct ``scope_key`` of the group's alerts, sorted."""
    return sorted({scope_key(a) for a in alerts})


__all__ = ["GroupIntake", "GroupMixin", "group_id", "group_scope", "scope_key"]
