"""Composition root, part two: what runs on an open ``Runtime`` (no connector imports here).

``assemble_service`` adds the worker pool (in-process or ``serve --worker-processes``), jobs and
scheduler of ``correlator serve``; ``investigate_once`` runs the pipeline in-process for the
one-shot CLI, eval, replay and bench; ``run_worker_process`` is a worker child's entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from correlator.metrics import Metrics
from correlator.models import AlertmanagerWebhook, Deploy, Investigation, InvestigationStatus
from correlator.ports import EventSink
from correlator.scheduler import Jobs, build_scheduler, lease_seconds
from correlator.settings import Settings
from correlator.store import StoreEventSink
from correlator.store.engine import is_memory_sqlite
from correlator.telemetry import configure_logging, configure_tracing
from correlator.wiring.runtime import LLMOptions, Runtime, open_runtime
from correlator.worker import ProcessWorkers, WorkerPool, serve_wakeups

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    """The long-running parts around the pipeline, built but not started (``correlator serve``)."""

    events: EventSink
    pool: WorkerPool | ProcessWorkers
    jobs: Jobs
    scheduler: AsyncIOScheduler


def assemble_service(rt: Runtime, *, worker_poll_seconds: float = 2.0) -> Service:
    """Worker pool, scheduled jobs and scheduler on top of ``rt`` (the API starts them)."""
    settings = rt.settings
    events = StoreEventSink(rt.store)
    pool = _workers(rt, events, worker_poll_seconds)
    jobs = Jobs(
        rt.store,
        settings=settings,
        metrics=rt.metrics,
        alert_source=rt.alert_source,
        events=events,
        wake=pool.wake,
    )
    return Service(events, pool, jobs, build_scheduler(jobs, settings))


def _workers(rt: Runtime, events: EventSink, poll_seconds: float) -> WorkerPool | ProcessWorkers:
    """Worker processes when configured (a store other processes can open), else in-process."""
    settings = rt.settings
    if settings.worker_processes:
        if not is_memory_sqlite(settings.database_url):
            doc = settings.model_dump()
            return ProcessWorkers(run_worker_process, doc, settings.worker_processes)
        log.warning("worker_processes ignored: an in-memory SQLite store is not shared")
    return WorkerPool(
        rt.store,
        rt.runner(),
        concurrency=settings.workers,
        lease_seconds=lease_seconds(settings),
        metrics=rt.metrics,
        events=events,
        poll_seconds=poll_seconds,
        owner=rt.owner,
    )


async def investigate_once(
    webhook: AlertmanagerWebhook,
    settings: Settings,
    *,
    notify: bool = False,
    llm: LLMOptions | None = None,
    metrics: Metrics | None = None,
    deploys: Sequence[Deploy] = (),
) -> list[Investigation]:
    """Run the pipeline in-process on every alert of ``webhook`` (temporary SQLite store).

    Used by ``correlator investigate``, eval, replay and bench: no notes are posted unless
    ``notify`` (then the notes due are delivered before this returns); the LLM stages (when
    configured) run in batch mode unless told otherwise.
    ``deploys`` are recorded first, as CI/CD would have POSTed them to ``/api/v1/deploys``.
    """
    results: list[Investigation] = []
    with tempfile.TemporaryDirectory(prefix="correlator-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'once.db'}"
        once = settings.model_copy(update={"database_url": url})
        opts = llm or LLMOptions(mode="batch")
        rt_cm = open_runtime(
            once, metrics=metrics or Metrics(), notify=notify, llm=opts, flush_notes=notify
        )
        async with rt_cm as rt:
            for deploy in deploys:
                await rt.store.add_deploy(deploy)
            for alert in webhook.to_alerts():
                await rt.store.create_or_get(alert)
            while (claimed := await rt.store.claim_next(rt.owner, 3600.0)) is not None:
                results.append(await _run_claimed(rt, claimed))
    return results


async def _run_claimed(rt: Runtime, claimed: Investigation) -> Investigation:
    async def checkpoint(progress: Investigation) -> None:
        await rt.store.save(progress, owner=rt.owner)

    result = await rt.runner()(claimed, checkpoint)
    done = {"status": InvestigationStatus.DONE, "finished_at": datetime.now(UTC)}
    final = result.model_copy(update=done)
    await rt.store.save(final, owner=rt.owner)
    got = await rt.store.get(final.id)
    return got if got is not None else final


WORKER_PROCESS_GRACE_SECONDS = 10.0


def run_worker_process(doc: dict[str, object], wake: socket.socket) -> None:
    """Entry point of one ``serve --worker-processes`` child (``worker.ProcessWorkers``).

    ``doc`` is the parent's ``Settings.model_dump()``: the child runs with exactly the parent's
    settings, however they were given (YAML, env, flags). Ctrl-C reaches the whole process
    group, so the child ignores SIGINT and lets the parent stop it with SIGTERM (drain, then
    re-queue what is still running).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = Settings(**doc)  # type: ignore[arg-type]
    with contextlib.suppress(OSError):
        os.nice(settings.worker_nice)
    configure_logging(settings.log_level)
    provider = configure_tracing()
    try:
        asyncio.run(_worker_process(settings, wake))
    finally:
        if provider is not None:
            provider.shutdown()


async def _worker_process(settings: Settings, wake: socket.socket) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with open_runtime(settings, metrics=Metrics()) as rt:
        pool = WorkerPool(
            rt.store,
            rt.runner(),
            concurrency=settings.workers,
            lease_seconds=lease_seconds(settings),
            metrics=rt.metrics,
            events=StoreEventSink(rt.store),
            owner=rt.owner,
        )
        pool.start()
        listener = asyncio.create_task(serve_wakeups(wake, pool, stop))
        await stop.wait()
        listener.cancel()
        await pool.stop(WORKER_PROCESS_GRACE_SECONDS)
    wake.close()
