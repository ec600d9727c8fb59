"""Periodic jobs on APScheduler 3.11's ``AsyncIOScheduler`` (started in the app lifespan).

- ``reconcile``: when ``CORRELATOR_ALERTMANAGER__URL`` is set, read Alertmanager's active alerts
  and create investigations for those whose webhook never reached us (idempotent, so alerts we
  already have cost one lookup each).
- ``requeue_stuck``: running investigations whose worker lease expired go back to the queue.
- ``prune``: finished investigations (and deploys) older than ``retention_days`` are deleted.

Every replica runs its own APScheduler, but a job does its work only on the scheduler leader
(``Store.try_lead``: a PostgreSQL advisory lock held on a dedicated connection; on SQLite the one
process leads). Followers re-try the lock at each tick, so when the leader dies another replica
takes over within one job interval. ``correlator_scheduler_job_runs_total{job}`` counts the runs
this replica did, ``correlator_scheduler_leader`` says whether it leads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from correlator.errors import CorrelatorError
from correlator.metrics import Metrics
from correlator.ports import ActiveAlertSource, EventSink, Store
from correlator.settings import Settings

log = logging.getLogger(__name__)

PRUNE_INTERVAL_SECONDS = 3600.0


class Jobs:
    def __init__(
        self,
        store: Store,
        *,
        settings: Settings,
        metrics: Metrics,
        alert_source: ActiveAlertSource | None,
        events: EventSink | None = None,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.alert_source = alert_source
        self.events = events
        self._wake = wake or (lambda: None)

    async def _lead(self, job: str) -> bool:
        """Whether to run ``job`` now: only on the scheduler leader (counted when it runs)."""
        leader = await self.store.try_lead()
        self.metrics.scheduler_leader.set(1 if leader else 0)
        if leader:
            self.metrics.scheduler_job_runs_total.labels(job=job).inc()
        return leader

    async def reconcile(self) -> int:
        """Investigations created for alerts Alertmanager has but no webhook delivered."""
        if self.alert_source is None or not await self._lead("reconcile"):
            return 0
        try:
            alerts = await self.alert_source.active_alerts()
        except CorrelatorError as exc:
            log.warning("reconcile: cannot read Alertmanager alerts: %s", exc)
            return 0
        created = 0
        for alert in alerts:
            inv, new = await self.store.create_or_get(alert)
            if new:
                created += 1
                self.metrics.alerts_total.labels(result="reconciled").inc()
                if self.events is not None:
                    await self.events.emit(inv.id, "reconciled", {"source": "alertmanager"})
        if created:
            log.info("reconcile: %d alert(s) had no webhook; investigations created", created)
            self._wake()
        return created

    async def requeue_stuck(self) -> int:
        """Running investigations of any replica whose lease expired go back to the queue."""
        if not await self._lead("requeue_stuck"):
            return 0
        count = await self.store.requeue_stale(datetime.now(UTC))
        if count:
            log.warning("re-queued %d investigation(s) whose worker lease expired", count)
            self._wake()
        return count

    async def prune(self) -> int:
        if not await self._lead("prune"):
            return 0
        cut = datetime.now(UTC) - timedelta(days=self.settings.retention_days)
        count = await self.store.prune(cut)
        if count:
            log.info("pruned %d investigation(s) finished before %s", count, cut.isoformat())
        return count


def lease_seconds(settings: Settings) -> float:
    """Worker lease length: a stuck investigation is re-queued this long after its worker died."""
    return settings.stuck_after_seconds


def build_scheduler(jobs: Jobs, settings: Settings) -> AsyncIOScheduler:
    """The scheduler with every job added (not started: the lifespan starts and stops it)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}
    if jobs.alert_source is not None:
        scheduler.add_job(
            jobs.reconcile,
            "interval",
            seconds=settings.alertmanager.reconcile_interval_seconds,
            id="reconcile",
            next_run_time=now,
            **common,
        )
    scheduler.add_job(
        jobs.requeue_stuck,
        "interval",
        seconds=max(1.0, lease_seconds(settings) / 3.0),
        id="requeue_stuck",
        **common,
    )
    scheduler.add_job(
        jobs.prune,
        "interval",
        seconds=PRUNE_INTERVAL_SECONDS,
        id="prune",
        next_run_time=now,
        **common,
    )
    return scheduler
