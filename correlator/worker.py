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
import multiprocessing
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess

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


class ProcessWorkers:
    """Workers in ``count`` separate processes sharing the store (``serve --worker-processes``).

    The HTTP process then runs no investigation at all, so webhook intake never waits for
    pipeline CPU (the GIL and the event loop stay with intake); each child runs a ``WorkerPool``
    of ``settings.workers`` tasks, at a lower CPU priority (``worker_nice``). Children are
    spawned (not forked: no inherited event loop, engine or sockets) by calling ``target(doc,
    sock)``; ``sock`` is the child's end of a stream socket pair, on which ``wake`` sends one
    byte (dropped when the buffer is full: a wake-up is already pending) and whose EOF tells a
    child its parent died, so no orphan keeps claiming work. A child that exits is restarted;
    the work it held comes back when its lease expires (``requeue_stuck``).
    """

    def __init__(
        self,
        target: Callable[[dict[str, object], socket.socket], None],
        doc: dict[str, object],
        count: int,
        *,
        supervise_seconds: float = 1.0,
    ) -> None:
        self._target = target
        self._doc = doc
        self._count = count
        self._supervise_seconds = supervise_seconds
        self._children: dict[int, tuple[BaseProcess, socket.socket]] = {}
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready: set[int] = set()

    @property
    def ready(self) -> int:
        """Children whose worker pool is running (each says so once over its socket)."""
        return len(self._ready)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p, _ in self._children.values() if p.pid is not None]

    def wake(self) -> None:
        for _, sock in self._children.values():
            with contextlib.suppress(OSError):  # BlockingIOError: a wake-up is already pending
                sock.send(b"w")

    def start(self) -> None:
        for n in range(self._count):
            self._spawn(n)
        self._watch = asyncio.create_task(self._supervise(), name="correlator-worker-processes")

    def _spawn(self, n: int) -> None:
        parent, child = socket.socketpair()
        proc = multiprocessing.get_context("spawn").Process(
            target=self._target, args=(self._doc, child), name=f"correlator-worker-{n}"
        )
        proc.start()
        child.close()
        parent.setblocking(False)
        self._ready.discard(n)
        self._children[n] = (proc, parent)
        asyncio.get_running_loop().add_reader(parent.fileno(), self._on_message, n, parent)
        log.info("worker process %d started (pid %s)", n, proc.pid)

    def _on_message(self, n: int, sock: socket.socket) -> None:
        try:
            data = sock.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._ready.add(n)
        else:  # the child closed its end (it exited); the supervisor restarts it
            asyncio.get_running_loop().remove_reader(sock.fileno())
            self._ready.discard(n)

    def _close(self, sock: socket.socket) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()

    async def _supervise(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._supervise_seconds)
            for n, (proc, sock) in list(self._children.items()):
                if not proc.is_alive() and not self._stopping:
                    log.warning(
                        "worker process %s exited (%s); restarting", proc.pid, proc.exitcode
                    )
                    sock.close()
                    self._spawn(n)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM every child (each drains like ``WorkerPool.stop``), then wait; kill late ones."""
        self._stopping = True
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        for proc, _ in self._children.values():
            if proc.is_alive():
                proc.terminate()
        loop = asyncio.get_running_loop()
        for proc, sock in self._children.values():
            await loop.run_in_executor(None, proc.join, grace_seconds + 5.0)
            if proc.is_alive():
                proc.kill()
                await loop.run_in_executor(None, proc.join, 5.0)
            self._close(sock)
        self._children.clear()


async def serve_wakeups(sock: socket.socket, pool: WorkerPool, stop: asyncio.Event) -> None:
    """Child side of ``ProcessWorkers``: say ready, then wake ``pool`` per byte received; EOF
    (the parent is gone) sets ``stop``."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        await loop.sock_sendall(sock, b"r")  # ready: ``ProcessWorkers.ready`` counts it
    except OSError:  # the parent died while this process was starting
        log.warning("worker process %d: parent gone before start; stopping", os.getpid())
        stop.set()
        return
    while not stop.is_set():
        try:
            data = await loop.sock_recv(sock, 256)
        except OSError:
            data = b""
        if not data:
            log.warning("worker process %d: parent gone; stopping", os.getpid())
            stop.set()
            return
        pool.wake()
