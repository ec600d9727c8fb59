"""Delivering the outbox: ``OutboxWorker`` and ``running_outbox`` (its lifecycle in a process).

The worker delivers due rows through ``correlator.ports.Notifier`` connectors: exponential
backoff (``Retry-After`` when the service gives one) until delivered or expired; the first Slack
post stores its ``ts`` so every later phase, also after a restart, becomes a ``chat.update``;
pending edits of one message are coalesced and rate-limited (``edit_interval_seconds``). Rows
are leased, so several processes may run workers on one database.

``correlator.wiring`` builds one connector per configured channel (it is the only module that
may import ``connectors``) and hands them to ``running_outbox``, which creates the outbox table,
returns the ``Outbox`` (the pipeline's ``NoteSink``) and runs an ``OutboxWorker`` until exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from correlator.errors import BackendError, BackendRateLimited, NotifyError
from correlator.llm.redact import Redactor
from correlator.metrics import Metrics
from correlator.models import DeliveryState
from correlator.notes import NoteRenderer
from correlator.notify.channels import channel_options
from correlator.notify.outbox import Outbox
from correlator.ports import DeliveryReceipt, Notifier, OutboundNote
from correlator.settings import Settings
from correlator.store.engine import make_engine
from correlator.store.notifications import NotificationRow, OutboxStore

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxWorker:
    """Delivers due notifications; safe to run in several processes (rows are leased)."""

    def __init__(
        self,
        store: OutboxStore,
        notifiers: Mapping[str, Notifier],
        *,
        owner: str | None = None,
        edit_interval_seconds: float = 1.0,
        backoff_base_seconds: float = 2.0,
        backoff_max_seconds: float = 300.0,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        concurrency: int = 8,
        send_timeout_seconds: float = 30.0,
        clock: Callable[[], datetime] = _utcnow,
        metrics: Metrics | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.owner = owner or f"outbox-{uuid.uuid4().hex[:12]}"
        self.edit_interval = timedelta(seconds=edit_interval_seconds)
        self.backoff_base = backoff_base_seconds
        self.backoff_max = backoff_max_seconds
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.metrics = metrics
        self.wake = wake or asyncio.Event()
        self.concurrency = max(1, concurrency)
        self.send_timeout = send_timeout_seconds
        # One semaphore per channel: a slow Slack can only hold Slack's slots (D2).
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._inflight: dict[str, asyncio.Task[int]] = {}

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with up to 10% jitter, capped at ``backoff_max_seconds``."""
        base = min(self.backoff_max, self.backoff_base * 2.0 ** max(attempts - 1, 0))
        return base * (1.0 + 0.1 * random.random())

    async def dispatch(self) -> list[asyncio.Task[int]]:
        """Expire old rows and start one delivery task per due message not already in flight.

        Tasks run independently: a slow or drip-feeding channel delays only its own messages,
        never another channel's (reliability report D2). Returns the tasks started.
        """
        now = self.clock()
        await self.store.expire(now)
        keys = await self.store.due_keys(now)
        started: list[asyncio.Task[int]] = []
        busy = set(keys) | set(self._inflight)
        for key in keys:
            if key in self._inflight:
                continue
            if key.endswith(":thread") and key.removesuffix(":thread") in busy:
                continue  # its parent is being posted: the reply goes once the parent has a ts
            task = asyncio.create_task(self.deliver_key(key), name=f"deliver {key}")
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))
            started.append(task)
        if self.metrics is not None:
            self.metrics.outbox_pending.set(await self.store.pending_count())
        return started

    def _done(self, key: str, task: asyncio.Task[int]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        self.wake.set()  # a reply may have waited for this message
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery of %s failed: %r", key, task.exception())

    async def run_once(self) -> int:
        """Start every due delivery and wait for those (tests, ``replay``). Returns attempts.

        Messages go first and thread replies after them, so a reply finds its parent's ``ts``.
        """
        done = await asyncio.gather(*await self.dispatch(), return_exceptions=True)
        # replies held back while their parent was being posted in this round
        done += await asyncio.gather(*await self.dispatch(), return_exceptions=True)
        return sum(d for d in done if isinstance(d, int))

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; wakes on ``wake`` (set by ``Outbox.publish``) or poll."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.dispatch()
            except (SQLAlchemyError, OSError):  # a database blip must not kill the delivery loop
                log.exception("outbox delivery round failed")
            waiters = {
                asyncio.ensure_future(self.wake.wait()),
                asyncio.ensure_future(stop.wait()),
            }
            _, pending = await asyncio.wait(
                waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
        await self.drain()

    async def drain(self) -> None:
        """Wait for the deliveries in flight (each is bounded by ``send_timeout_seconds``)."""
        if self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)

    def _sem(self, channel: str) -> asyncio.Semaphore:
        if channel not in self._sems:
            self._sems[channel] = asyncio.Semaphore(self.concurrency)
        return self._sems[channel]

    async def deliver_key(self, key: str) -> int:
        """Deliver the newest open row of ``key`` (older ones are superseded). 1 if attempted."""
        now = self.clock()
        rows = await self.store.claim(key, self.owner, now, self.lease_seconds)
        if not rows:
            return 0
        newest = rows[-1]
        notifier = self.notifiers.get(newest.channel)
        if notifier is None:
            await self.store.finish(
                rows, state=DeliveryState.FAILED, now=now, error="channel not configured"
            )
            return 0
        note, wait_until = await self._outbound(newest, now)
        if note is None and newest.kind == "thread" and not await self._parent_open(newest):
            if await self._parent_posted(newest):  # posted meanwhile (another replica): go now
                wait_until = now
            else:
                error = "parent message was not posted"
                await self.store.finish(rows, state=DeliveryState.FAILED, now=now, error=error)
                return 0
        if note is None:
            await self.store.finish(
                rows,
                state=DeliveryState(newest.state),
                now=now,
                next_attempt_at=wait_until,
                count_attempt=False,
            )
            return 0
        async with self._heartbeat(rows), self._sem(newest.channel):
            await self._send(notifier, note, rows)
        return 1

    @asynccontextmanager
    async def _heartbeat(self, rows: list[NotificationRow]) -> AsyncIterator[None]:
        """Renew the lease every third of it while the rows wait for a slot and are sent, so
        the lease can be short: a crashed owner's rows are free again within ``lease_seconds``."""
        ids = [r.id for r in rows]

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.lease_seconds / 3.0)
                try:
                    await self.store.renew(ids, self.owner, self.clock(), self.lease_seconds)
                except (SQLAlchemyError, OSError):  # the next beat tries again
                    log.warning("outbox lease renewal failed", exc_info=True)

        task = asyncio.create_task(beat(), name="outbox lease heartbeat")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _parent_open(self, row: NotificationRow) -> bool:
        """Whether the message a thread reply belongs to may still be posted."""
        return await self.store.has_open(str(row.payload.get("parent_key", "")))

    async def _parent_posted(self, row: NotificationRow) -> bool:
        """Whether the parent has a posted message now: read after ``_parent_open`` said no
        open row is left, so a parent delivered between the two reads is seen (D9: replies
        failed permanently when another replica posted the parent in that window)."""
        return await self.store.message_ref(str(row.payload.get("parent_key", ""))) is not None

    async def _outbound(
        self, row: NotificationRow, now: datetime
    ) -> tuple[OutboundNote | None, datetime]:
        """The note to send, or ``None`` and when to look again (parent not posted, edit limit)."""
        kind, target, external_id = row.kind, row.target, None
        payload = {k: v for k, v in row.payload.items() if k != "parent_key"}
        own = await self.store.message_ref(row.message_key) if row.channel == "slack" else None
        if row.channel == "slack" and row.kind == "thread" and own is None:
            ref = await self.store.message_ref(str(row.payload.get("parent_key", "")))
            if ref is None:
                return None, now + timedelta(seconds=self.poll_seconds)
            external_id, target = ref.external_id, ref.target or target
        elif row.channel == "slack":
            ref = own
            kind = "post"
            if ref is not None:
                kind, external_id, target = "update", ref.external_id, ref.target or target
                last = await self.store.last_delivery(row.message_key)
                if last is not None and now < last + self.edit_interval:
                    return None, last + self.edit_interval
        note = OutboundNote(
            channel=row.channel,
            kind=kind,
            target=target,
            payload=payload,
            idempotency_key=row.idempotency_key,
            investigation_id=row.investigation_id,
            external_id=external_id,
        )
        return note, now

    async def _send(
        self, notifier: Notifier, note: OutboundNote, rows: list[NotificationRow]
    ) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):  # total, not per read (D2)
                receipt: DeliveryReceipt = await notifier.send(note)
        except TimeoutError:
            error = f"no answer within {self.send_timeout:g}s"
            await self._failed(rows, note, error, retryable=True, retry_after=None)
            return
        except NotifyError as exc:
            await self._failed(rows, note, str(exc), retryable=exc.retryable, retry_after=None)
            return
        except BackendRateLimited as exc:
            await self._failed(rows, note, str(exc), retryable=True, retry_after=exc.retry_after)
            return
        except BackendError as exc:
            await self._failed(rows, note, str(exc), retryable=exc.transient, retry_after=None)
            return
        self._count(note.channel, "delivered")
        await self.store.finish(
            rows,
            state=DeliveryState.DELIVERED,
            now=self.clock(),
            kind=note.kind,
            external_id=receipt.external_id or note.external_id,
            external_target=receipt.target or note.target,
        )

    async def _failed(
        self,
        rows: list[NotificationRow],
        note: OutboundNote,
        error: str,
        *,
        retryable: bool,
        retry_after: float | None,
    ) -> None:
        now = self.clock()
        attempts = rows[-1].attempts + 1
        if not retryable:
            self._count(note.channel, "failed")
            log.warning("notification %s failed permanently: %s", note.idempotency_key, error)
            await self.store.finish(rows, state=DeliveryState.FAILED, now=now, error=error)
            return
        self._count(note.channel, "retry")
        delay = retry_after if retry_after is not None else self.backoff(attempts)
        await self.store.finish(
            rows,
            state=DeliveryState.RETRYING,
            now=now,
            error=error,
            next_attempt_at=now + timedelta(seconds=delay),
        )

    def _count(self, channel: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.notifications_total.labels(channel=channel, outcome=outcome).inc()


def note_renderer(settings: Settings) -> NoteRenderer:
    """The deployment's note renderer: links to ``public_url``, quotes redacted like prompts."""
    return NoteRenderer(
        public_url=settings.public_url,
        llm_configured=settings.llm.enabled,
        feedback_buttons=settings.slack.signing_secret is not None,
        redact=Redactor(emails=settings.llm.redact_emails).text,
    )


@asynccontextmanager
async def running_outbox(
    settings: Settings,
    engine: AsyncEngine | None,
    notifiers: Mapping[str, Notifier],
    *,
    metrics: Metrics | None = None,
    run_worker: bool = True,
    poll_seconds: float = 1.0,
    flush_on_exit: bool = False,
    owner: str | None = None,
    reclaim_prefix: str | None = None,
) -> AsyncIterator[Outbox]:
    """The outbox on ``engine`` (``None``: its own engine on ``settings.database_url``, for
    a store that is not ``SqlStore``); its delivery worker runs in the background until exit.

    ``flush_on_exit``: one last delivery round of whatever is due once the worker has stopped
    (one-shot runs such as ``replay --notify`` exit right after the last note is published).
    ``owner``: the worker's lease owner name; ``reclaim_prefix``: before delivering, rows
    leased by owners with this prefix (a crashed previous process of this host) are freed.
    """
    used = engine if engine is not None else make_engine(settings.database_url)
    own_engine = used if engine is None else None
    store = OutboxStore(used)
    await store.create_schema()
    opts = channel_options(settings)
    outbox = Outbox(
        store,
        note_renderer(settings),
        channels=tuple(notifiers),
        slack_channel=opts.slack_channel,
        slack_routes=opts.slack_routes,
        pagerduty_mode=opts.pagerduty_mode,
    )
    if reclaim_prefix:
        freed = await store.release_leases(reclaim_prefix)
        if freed:
            log.warning("re-queued %d notification(s) left leased by a crashed process", freed)
    worker = OutboxWorker(
        store,
        notifiers,
        owner=owner,
        metrics=metrics,
        wake=outbox.wake,
        poll_seconds=poll_seconds,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop)) if run_worker else None
    try:
        yield outbox
    finally:
        stop.set()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=30.0)
        if flush_on_exit:
            await worker.run_once()
        for notifier in notifiers.values():
            close = getattr(notifier, "aclose", None)
            if close is not None:
                await close()
        if own_engine is not None:
            await own_engine.dispose()
