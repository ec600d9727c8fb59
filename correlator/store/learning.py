"""What correlator learns from outcomes: verdict feedback and the memory of past incidents.

Two tables beside ``investigations`` (migration ``0002_learn``):

- ``feedback``: one row per verdict. ``latest`` marks the one in force per investigation (several
  are allowed; the latest wins), and the alert rule and predicted fault type are copied onto the
  row so the track record is one indexed ``GROUP BY``, not a scan of investigation JSON. The
  verdicts are also appended to the investigation's JSON (``Investigation.feedback``), under the
  row lock, so every rendering of the note (a later ``resolved`` update too) shows them.
- ``incident_memory``: one row per investigation with its evidence signature (indexed alert rule,
  service and time; failing operation, change kind and error-template hashes) and, once someone
  gave a verdict, the confirmed cause and fix. ``recall`` reads the newest 300 rows of the same
  alert rule and service in the window through ``ix_incident_memory_lookup`` and ranks them in
  Python (plain values, no models: the lookup stays well under 50 ms at 10,000 investigations).

Both follow ``retention_days``: ``prune_learning`` runs inside ``SqlStore.prune``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select

from correlator.models import (
    AccuracyRow,
    AccuracyTable,
    Feedback,
    FeedbackIn,
    IncidentMemory,
    IncidentSignature,
    Investigation,
    PastIncident,
    Tally,
    Verdict,
)
from correlator.store.records import RecordsMixin
from correlator.store.rows import from_row, now
from correlator.store.schema import UTCDateTime, investigations, metadata

MAX_FEEDBACK_PER_INVESTIGATION = 50  # the JSON copy keeps the newest ones
CANDIDATES = 300  # newest rows of the same alert rule and service that recall ranks
MIN_SIMILARITY = 0.5

feedback = Table(
    "feedback",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("investigation_id", String(36), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("latest", Boolean, nullable=False, default=True),
    Column("alertname", String(256), nullable=False, default=""),
    Column("service", String(256), nullable=False, default=""),
    Column("fault_type", String(64), nullable=False, default=""),
    Column("source", String(16), nullable=False, default="api"),
    Column("data", JSON, nullable=False),
)
Index("ix_feedback_investigation", feedback.c.investigation_id, feedback.c.created_at)
Index("ix_feedback_latest_alertname", feedback.c.latest, feedback.c.alertname, feedback.c.verdict)
Index("ix_feedback_latest_fault_type", feedback.c.latest, feedback.c.fault_type, feedback.c.verdict)
Index("ix_feedback_created", feedback.c.created_at)

incident_memory = Table(
    "incident_memory",
    metadata,
    Column("investigation_id", String(36), primary_key=True),
    Column("alertname", String(256), nullable=False),
    Column("service", String(256), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("operation", String(512), nullable=False, default=""),
    Column("change_kind", String(32), nullable=False, default=""),
    Column("templates", String(1024), nullable=False, default=""),  # space-separated hashes
    Column("verdict", String(16), nullable=True),
    Column("cause", String(512), nullable=True),
    Column("cause_service", String(256), nullable=True),
    Column("cause_fault_type", String(64), nullable=True),
    Column("fix", String(1000), nullable=True),
)
Index(
    "ix_incident_memory_lookup",
    incident_memory.c.alertname,
    incident_memory.c.service,
    incident_memory.c.created_at,
)
Index("ix_incident_memory_created", incident_memory.c.created_at)


async def prune_learning(conn: AsyncConnection, old_ids: Select[Any]) -> None:
    """Delete the feedback and memory of the investigations ``old_ids`` selects (retention)."""
    await conn.execute(delete(feedback).where(feedback.c.investigation_id.in_(old_ids)))
    await conn.execute(
        delete(incident_memory).where(incident_memory.c.investigation_id.in_(old_ids))
    )


def similarity(a: IncidentSignature, b: IncidentSignature) -> float:
    """0..1: error templates (Jaccard, half), failing operation (0.3), change kind (0.2).

    Two incidents without error templates agree on that part (both show no error logs).
    """
    return _similarity(
        set(a.templates), a.operation, a.change_kind, b.templates, b.operation, b.change_kind
    )


def _similarity(
    ta: set[str], op_a: str, change_a: str, tb: list[str], op_b: str, change_b: str
) -> float:
    """``similarity`` on plain values (``recall`` ranks hundreds of rows without models)."""
    sb = set(tb)
    jaccard = len(ta & sb) / len(ta | sb) if ta or sb else 1.0
    op = 0.3 if op_a == op_b else 0.0
    change = 0.2 if change_a == change_b else 0.0
    return round(0.5 * jaccard + op + change, 4)


def confirmed_cause(inv: Investigation, fb: Feedback) -> dict[str, str | None]:
    """What the verdict says the cause was, and what fixed it (memory columns)."""
    top = inv.analysis.top if inv.analysis else None
    cause = service = fault = None
    if fb.verdict is not Verdict.WRONG and top is not None and fb.root_cause is None:
        service, fault = top.service, top.fault_type.value
        change = top.suspect_change.summary if top.suspect_change else ""
        cause = f"{service} {fault.replace('_', ' ')}" + (f" after {change}" if change else "")
    elif fb.root_cause is not None and fb.root_cause.describe():
        rc = fb.root_cause
        service, fault, cause = rc.service, rc.fault_type, rc.describe()
    fix = fb.note
    if fix is None and fb.verdict is Verdict.CORRECT and inv.remediation is not None:
        fix = inv.remediation.summary
    return {
        "verdict": fb.verdict.value,
        "cause": cause[:512] if cause else None,
        "cause_service": service,
        "cause_fault_type": fault,
        "fix": fix[:1000] if fix else None,
    }


class LearningMixin(RecordsMixin):
    """Feedback, accuracy and incident memory on ``SqlStore`` (its engines and write lock)."""

    async def add_feedback(
        self, investigation_id: str, body: FeedbackIn, *, source: str = "api"
    ) -> Feedback | None:
        """Store a verdict (None: no such investigation). Earlier verdicts stay, superseded."""
        async with self._begin() as conn:
            query = select(investigations).where(investigations.c.id == investigation_id)
            row = (await conn.execute(query.with_for_update())).first()
            if row is None:
                return None
            inv = from_row(row)
            top = inv.analysis.top if inv.analysis else None
            fb = Feedback(
                **body.model_dump(),
                id=str(uuid.uuid4()),
                investigation_id=inv.id,
                created_at=now(),
                source=source,
                predicted_service=top.service if top else None,
                predicted_fault_type=top.fault_type.value if top else None,
            )
            await self._insert_feedback(conn, inv, fb, service=row.service)
            data = dict(row.data)
            data["feedback"] = [*data.get("feedback", []), fb.model_dump(mode="json")][
                -MAX_FEEDBACK_PER_INVESTIGATION:
            ]
            where = investigations.c.id == inv.id
            await conn.execute(update(investigations).where(where).values(data=data))
            mem = incident_memory.c.investigation_id == inv.id
            await conn.execute(
                update(incident_memory).where(mem).values(**confirmed_cause(inv, fb))
            )
        return fb

    @staticmethod
    async def _insert_feedback(
        conn: AsyncConnection, inv: Investigation, fb: Feedback, *, service: str
    ) -> None:
        older = feedback.c.investigation_id == inv.id
        await conn.execute(update(feedback).where(older).values(latest=False))
        await conn.execute(
            insert(feedback).values(
                id=fb.id,
                investigation_id=inv.id,
                created_at=fb.created_at,
                verdict=fb.verdict.value,
                latest=True,
                alertname=inv.alert.alertname[:256],
                service=service[:256],  # the investigation's indexed service column
                fault_type=(fb.predicted_fault_type or "")[:64],
                source=fb.source[:16],
                data=fb.model_dump(mode="json"),
            )
        )

    async def _counts(self, column: Any, since: datetime | None) -> dict[str, dict[str, int]]:
        """``key -> verdict -> count`` over the verdicts in force (optionally since a time)."""
        query = select(column, feedback.c.verdict, func.count()).where(feedback.c.latest)
        if since is not None:
            query = query.where(feedback.c.created_at >= since)
        query = query.group_by(column, feedback.c.verdict)
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        out: dict[str, dict[str, int]] = {}
        for key, verdict, count in rows:
            out.setdefault(str(key), {})[str(verdict)] = int(count)
        return out

    async def accuracy(self, *, since: datetime | None = None) -> AccuracyTable:
        """The track record: per alert rule and per predicted fault type, and overall."""
        by_alert = await self._counts(feedback.c.alertname, since)
        by_fault = await self._counts(feedback.c.fault_type, since)
        overall: dict[str, int] = {}
        for counts in by_alert.values():
            for verdict, n in counts.items():
                overall[verdict] = overall.get(verdict, 0) + n
        return AccuracyTable(
            since=since,
            overall=_row("all", overall),
            by_alertname=[_row(k, v) for k, v in sorted(by_alert.items())],
            by_fault_type=[_row(k or "none", v) for k, v in sorted(by_fault.items())],
        )

    async def latest_verdicts(
        self, *, since: datetime | None = None
    ) -> list[tuple[str, datetime, Feedback]]:
        """(fingerprint, alert start, verdict in force) per investigation, oldest first."""
        inv = investigations.c
        query = (
            select(inv.fingerprint, inv.starts_at, feedback.c.data)
            .join(investigations, inv.id == feedback.c.investigation_id)
            .where(feedback.c.latest)
            .order_by(inv.starts_at, inv.id)
        )
        if since is not None:
            query = query.where(feedback.c.created_at >= since)
        async with self._read.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.fingerprint, r.starts_at, Feedback.model_validate(r.data)) for r in rows]

    async def remember(
        self, signature: IncidentSignature, investigation_id: str, at: datetime
    ) -> None:
        """Record (or refresh, on a retried attempt) this investigation's evidence signature;
        ``at`` (the alert's start) places it in time, so replays of old alerts recall alike."""
        values = {
            "alertname": signature.alertname[:256],
            "service": signature.service[:256],
            "operation": signature.operation[:512],
            "change_kind": signature.change_kind[:32],
            "templates": " ".join(signature.templates)[:1024],
            "created_at": at,
        }
        key = incident_memory.c.investigation_id == investigation_id
        async with self._begin() as conn:
            done = await conn.execute(update(incident_memory).where(key).values(**values))
            if done.rowcount == 0:
                values.update(await _verdict_so_far(conn, investigation_id))
                await conn.execute(
                    insert(incident_memory).values(investigation_id=investigation_id, **values)
                )

    async def recall(
        self,
        signature: IncidentSignature,
        *,
        exclude_id: str,
        at: datetime,
        window_days: int = 30,
        limit: int = 3,
    ) -> IncidentMemory:
        """Similar past incidents of the same alert rule and service (top ``limit``), with the
        track record of the alert rule and of every fault type."""
        since = at - timedelta(days=window_days)
        m = incident_memory.c
        query = (
            select(incident_memory)
            .where(m.alertname == signature.alertname, m.service == signature.service)
            .where(m.created_at >= since, m.created_at <= at, m.investigation_id != exclude_id)
            .order_by(m.created_at.desc())
            .limit(CANDIDATES)
        )
        async with self._read.connect() as conn:  # one snapshot, one connection checkout
            rows = (await conn.execute(query)).all()
            alert, faults = await _records(conn, signature.alertname)
        mine, op, change = set(signature.templates), signature.operation, signature.change_kind
        found = [
            (_similarity(mine, op, change, r.templates.split(), r.operation, r.change_kind), r)
            for r in rows
        ]
        found = [(s, r) for s, r in found if s >= MIN_SIMILARITY]
        # confirmed first, then the most similar, then the newest
        found.sort(key=lambda x: (x[1].cause is None, -x[0], -x[1].created_at.timestamp()))
        return IncidentMemory(
            window_days=window_days,
            similar_count=len(found),
            similar=[_past(s, r) for s, r in found[:limit]],
            alert_record=_tally(alert),
            fault_records={k: _tally(v) for k, v in sorted(faults.items()) if k},
        )


async def _verdict_so_far(conn: AsyncConnection, investigation_id: str) -> dict[str, Any]:
    """Memory columns of a verdict given before the evidence was gathered (else none)."""
    f = feedback.c
    latest = select(f.data).where(f.investigation_id == investigation_id, f.latest)
    fb_data = (await conn.execute(latest)).scalar_one_or_none()
    row = (
        await conn.execute(select(investigations).where(investigations.c.id == investigation_id))
    ).first()
    if fb_data is None or row is None:
        return {}
    return confirmed_cause(from_row(row), Feedback.model_validate(fb_data))


async def _records(
    conn: AsyncConnection, alertname: str
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Verdicts in force of ``alertname`` (verdict -> n) and per fault type (all alerts): two
    grouped scans of covering indexes (``ix_feedback_latest_alertname``/``..._fault_type``)."""
    f = feedback.c
    by_rule = (
        select(f.verdict, func.count())
        .where(f.latest, f.alertname == alertname)
        .group_by(f.verdict)
    )
    by_fault = select(f.fault_type, f.verdict, func.count()).where(f.latest)
    by_fault = by_fault.group_by(f.fault_type, f.verdict)
    alert = {str(v): int(n) for v, n in (await conn.execute(by_rule)).all()}
    faults: dict[str, dict[str, int]] = {}
    for fault, verdict, count in (await conn.execute(by_fault)).all():
        faults.setdefault(str(fault), {})[str(verdict)] = int(count)
    return alert, faults


def _past(score: float, r: Any) -> PastIncident:
    return PastIncident(
        investigation_id=r.investigation_id,
        created_at=r.created_at,
        similarity=score,
        verdict=Verdict(r.verdict) if r.verdict else None,
        cause=r.cause,
        cause_service=r.cause_service,
        cause_fault_type=r.cause_fault_type,
        fix=r.fix,
    )


def _tally(counts: dict[str, int]) -> Tally:
    return Tally(
        confirmed=counts.get(Verdict.CORRECT.value, 0),
        partly=counts.get(Verdict.PARTLY.value, 0),
        total=sum(counts.values()),
    )


def _row(key: str, counts: dict[str, int]) -> AccuracyRow:
    t = _tally(counts)
    return AccuracyRow(
        key=key,
        confirmed=t.confirmed,
        partly=t.partly,
        wrong=counts.get(Verdict.WRONG.value, 0),
        total=t.total,
        ratio=round(t.ratio, 4) if t.ratio is not None else None,
    )
