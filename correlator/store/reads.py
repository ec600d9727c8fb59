"""Investigation reads: one by id, and the filtered, paged list and count of the API and UI.

Reads use the read engine and carry the group overlay (``GroupMixin._attach``: a group
investigation with its alerts and their current status).
"""

from __future__ import annotations

import builtins

from sqlalchemy import func, select
from sqlalchemy.sql.elements import ColumnElement

from correlator.models import Investigation, InvestigationStatus
from correlator.store.groups import GroupMixin
from correlator.store.rows import from_row
from correlator.store.schema import investigations


class ReadsMixin(GroupMixin):
    """``get``, ``count`` and ``list`` of ``correlator.ports.Store`` (read engine)."""

    async def get(self, investigation_id: str) -> Investigation | None:
        query = select(investigations).where(investigations.c.id == investigation_id)
        async with self._read.connect() as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            return (await self._attach(conn, [from_row(row)]))[0]

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
        async with self._read.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

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
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
            return await self._attach(conn, [from_row(r) for r in rows])
