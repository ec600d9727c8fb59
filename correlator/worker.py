"""Worker pool: claim queued investigations, run the pipeline, renew leases, shut down cleanly.

``settings.workers`` tasks each loop: ``store.claim_next`` (atomic, lease-based) -> run ->
``store.save`` (only while still holding the lease). Idle workers sleep on an ``asyncio.Event``
that intake sets (``WorkerPool.wake``), with a periodic poll as a fallback (work queued by
another process, leases expiring). A running investigation's lease is renewed every third of
its length; if the process dies, the lease expires and the scheduler (or the next start-up)
queues it again. ``stop`` drains: in-flight work gets ``grace_seconds`` to finish, then it is
cancelled and released back to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from correlator.metrics import Metrics
from correlator.models import Investigation, InvestigationStatus
from correlator.ports import Checkpoint, EventSink, Store

log = logging.getLogger(__name__)

Runner = Callable[[Investigation, Checkpoint], Awaitable[Investigation]]


def host_prefix() -> str:
    """The part of ``owner_id`` shared by every process of this host."""
    return f"{socket.gethostname()[:64]}:"


def owner_id() -> str:
    """A lease owner name unique to this process: host:pid:random."""
    return f"{host_prefix()}{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerPool:
    def __init__(
        self,
        store: Store,
        run: Runner,
        *,
        concurrency: int,
        lease_seconds: float,
        metrics: Metrics,
        events: EventSink | None = None,
        poll_seconds: float = 2.0,
        owner: str | None = None,
    ) -> None:
        self._store = store
        self._run = run
        self._concurrency = concurrency
        self._lease = lease_seconds
        self._metrics = metrics
        self._events = events
        self._poll = poll_seconds
        self.owner = owner or owner_id()
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.in_flight: set[str] = set()
        self.idle = 0  # workers currently waiting for work (observable by tests and /metrics)

    def wake(self) -> None:
        """New work was queued: idle workers claim now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        for n in range(self._concurrency):
            self._tasks.append(asyncio.create_task(self._loop(), name=f"correlator-worker-{n}"))

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; let in-flight work finish for ``grace_seconds``, then re-queue it."""
        self._stopping = True
        self._wake.set()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                inv = await self._store.claim_next(self.owner, self._lease)
                if inv is None:
                    await self._idle()
                    continue
                await self._process(inv)
            except (SQLAlchemyError, OSError):  # a database hiccup must not kill the worker
                log.exception(
                    "worker %s: store error; retrying after the poll interval", self.owner
                )
                await self._idle()

    async def _idle(self) -> None:
        self.idle += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
        finally:
            self.idle -= 1
        self._wake.clear()

    async def _process(self, inv: Investigation) -> None:
        self.in_flight.add(inv.id)
        renewer = asyncio.create_task(self._renew(inv.id))

        latest = inv  # the last saved progress: a failure keeps it, not the pre-run copy (D1)

        async def checkpoint(progress: Investigation) -> None:
            nonlocal latest
            latest = progress
            await self._store.save(progress, owner=self.owner)

        try:
            result = await self._run(inv, checkpoint)
            final = result.model_copy(update={"status": InvestigationStatus.DONE})
        except asyncio.CancelledError:
            await self._store.release(inv.id, self.owner)
            log.info("investigation %s re-queued on shutdown", inv.id)
            raise
        except Exception as exc:  # boundary: one investigation's bug must not kill the worker
            log.exception("investigation %s failed", inv.id)
            final = latest.model_copy(
                update={
                    "status": InvestigationStatus.FAILED,
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                }
            )
        finally:
            renewer.cancel()
            self.in_flight.discard(inv.id)
        await self._finish(final)

    async def _finish(self, final: Investigation) -> None:
        final = final.model_copy(update={"finished_at": datetime.now(UTC)})
        if self._events is not None:
            # before the status change, so an SSE reader that sees "done" has seen this event
            await self._events.emit(final.id, "finished", {"status": final.status.value})
        if await self._store.save(final, owner=self.owner):
            self._metrics.investigations_total.labels(status=final.status.value).inc()
        else:
            log.warning("investigation %s: lease lost before save; result discarded", final.id)

    async def _renew(self, investigation_id: str) -> None:
        while True:
            await asyncio.sleep(self._lease / 3.0)
            if not await self._store.renew_lease(investigation_id, self.owner, self._lease):
                log.warning("investigation %s: lease lost", investigation_id)
                return
