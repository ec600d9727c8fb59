"""Notify outbox: ``Outbox`` implements ``NoteSink``; ``OutboxWorker`` delivers with backoff.

``publish`` renders the note for every configured channel and stores one row per notification
(committed before it returns), so a Slack or PagerDuty outage delays notes but loses none. The
worker delivers due rows through ``correlator.ports.Notifier`` connectors: exponential backoff
(``Retry-After`` when the service gives one) until delivered or expired; the first Slack post
stores its ``ts`` so every later phase, also after a restart, becomes a ``chat.update``; pending
edits of one message are coalesced and rate-limited (``edit_interval_seconds``).

Channels: ``slack`` (bot: post, then update, evidence thread), ``slack_webhook`` (one final
post), ``pagerduty`` (Events v2 enrichment or REST incident notes), ``webhook`` (summary JSON).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from correlator.errors import BackendError, BackendRateLimited, NotifyError
from correlator.metrics import Metrics
from correlator.models import DeliveryState, Investigation
from correlator.notes import NoteRenderer, pagerduty_dedup_key
from correlator.ports import DeliveryReceipt, Notifier, OutboundNote
from correlator.store.outbox import NotificationRow, OutboxStore

log = logging.getLogger(__name__)
PHASE_SEQ = {"rules": 1, "llm": 2, "resolved": 3}
CHANNELS = ("slack", "slack_webhook", "pagerduty", "webhook")
_PD_SEVERITY = {"critical": "critical", "page": "critical", "error": "error", "warning": "warning"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def route_channels(
    labels: Mapping[str, str], routes: Mapping[str, str], default: str | None
) -> list[str]:
    """Slack channels for an alert: every route whose matchers (``k=v[,k=v]``) all match.

    Falls back to ``default`` when no route matches. Order follows ``routes``; no duplicates.
    """
    out: list[str] = []
    for matcher, channel in routes.items():
        pairs = [p.split("=", 1) for p in matcher.split(",") if "=" in p]
        matched = bool(pairs) and all(labels.get(k.strip()) == v.strip() for k, v in pairs)
        if matched and channel not in out:
            out.append(channel)
    if not out and default:
        out.append(default)
    return out


class Outbox:
    """``NoteSink``: turns each published phase into durable notification rows."""

    def __init__(
        self,
        store: OutboxStore,
        renderer: NoteRenderer,
        *,
        channels: Collection[str],
        slack_channel: str | None = None,
        slack_routes: Mapping[str, str] | None = None,
        pagerduty_mode: str = "events",
        ttl_seconds: float = 6 * 3600.0,
        clock: Callable[[], datetime] = _utcnow,
        wake: asyncio.Event | None = None,
    ) -> None:
        unknown = set(channels) - set(CHANNELS)
        if unknown:
            raise ValueError(f"unknown notification channels: {sorted(unknown)}")
        self.store = store
        self.renderer = renderer
        self.channels = tuple(c for c in CHANNELS if c in channels)
        self.slack_channel = slack_channel
        self.slack_routes = dict(slack_routes or {})
        self.pagerduty_mode = pagerduty_mode
        self.ttl = timedelta(seconds=ttl_seconds)
        self.clock = clock
        self.wake = wake or asyncio.Event()

    async def publish(self, investigation: Investigation, *, phase: str) -> None:
        if phase not in PHASE_SEQ:
            raise ValueError(f"unknown note phase {phase!r}")
        if phase == "resolved" and "pagerduty" in self.channels:
            # A late enrichment "trigger" would re-open the incident Alertmanager just resolved.
            await self.store.supersede_open(investigation.id, "pagerduty", "enrich")
        rows = self.plan(investigation, phase=phase)
        await self.store.enqueue(rows)
        self.wake.set()

    def plan(self, inv: Investigation, *, phase: str) -> list[dict[str, Any]]:
        """The notification rows for ``inv`` at ``phase`` (pure; nothing is stored)."""
        rows: list[dict[str, Any]] = []
        if "slack" in self.channels:
            rows += self._plan_slack(inv, phase)
        if "slack_webhook" in self.channels:
            llm_on = inv.llm.enabled or self.renderer.llm_configured
            final = phase == "llm" or (phase == "rules" and not llm_on)
            if final:
                note = self.renderer.slack(inv, phase=phase)
                payload = {"text": note.text, "blocks": note.blocks}
                rows.append(self._row(inv, phase, "slack_webhook", "post", "", payload, "final"))
        if "pagerduty" in self.channels and phase != "resolved":
            rows.append(self._plan_pagerduty(inv, phase))
        if "webhook" in self.channels:
            payload = self.renderer.summary_json(inv, phase=phase)
            rows.append(self._row(inv, phase, "webhook", "post", "", payload, phase))
        return rows

    def _plan_slack(self, inv: Investigation, phase: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        targets = route_channels(inv.alert.labels, self.slack_routes, self.slack_channel)
        note = self.renderer.slack(inv, phase=phase)
        thread = self.renderer.slack_thread(inv, phase=phase) if phase != "resolved" else None
        for target in targets:
            kind = "post" if phase == "rules" else "update"
            payload = {"text": note.text, "blocks": note.blocks}
            main = self._row(inv, phase, "slack", kind, target, payload, phase)
            rows.append(main)
            if thread is not None:
                tpayload = {
                    "text": thread.text,
                    "blocks": thread.blocks,
                    "parent_key": main["message_key"],
                }
                # One thread reply per message: the UNIQUE key makes later phases no-ops.
                row = self._row(inv, phase, "slack", "thread", target, tpayload, "thread")
                row["message_key"] = f"{main['message_key']}:thread"
                rows.append(row)
        return rows

    def _plan_pagerduty(self, inv: Investigation, phase: str) -> dict[str, Any]:
        pd = self.renderer.pagerduty(inv, phase=phase)
        dedup = pagerduty_dedup_key(inv.alert.group_key, inv.fingerprint)
        if self.pagerduty_mode == "notes":
            payload: dict[str, Any] = {"incident_key": dedup, "content": pd.note}
            return self._row(inv, phase, "pagerduty", "note", "", payload, phase)
        labels = inv.alert.labels
        payload = {
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": pd.summary,
                "source": labels.get("instance") or labels.get("service") or "correlator",
                "severity": _PD_SEVERITY.get(inv.alert.severity, "error"),
                "timestamp": inv.alert.starts_at.isoformat(),
                "component": labels.get("service", ""),
                "custom_details": pd.custom_details,
            },
            "links": pd.links,
            "client": "correlator",
            "client_url": pd.custom_details["correlator_investigation"],
        }
        return self._row(inv, phase, "pagerduty", "enrich", "", payload, phase)

    def _row(
        self,
        inv: Investigation,
        phase: str,
        channel: str,
        kind: str,
        target: str,
        payload: dict[str, Any],
        idem_suffix: str,
    ) -> dict[str, Any]:
        now = self.clock()
        key = f"{inv.id}:{channel}:{target}" if target else f"{inv.id}:{channel}"
        return {
            "id": str(uuid.uuid4()),
            "investigation_id": inv.id,
            "channel": channel,
            "kind": kind,
            "target": target,
            "message_key": key,
            "phase": phase,
            "seq": PHASE_SEQ[phase],
            "payload": payload,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": now + self.ttl,
            "created_at": now,
            "updated_at": now,
            "idempotency_key": f"{key}:{kind}:{idem_suffix}",
        }

    async def with_notifications(self, inv: Investigation) -> Investigation:
        """``inv`` with its delivery state merged in (``Investigation.notifications``)."""
        return inv.model_copy(update={"notifications": await self.store.states(inv.id)})


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
        lease_seconds: float = 120.0,
        poll_seconds: float = 1.0,
        concurrency: int = 8,
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
        self._sem = asyncio.Semaphore(concurrency)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with up to 10% jitter, capped at ``backoff_max_seconds``."""
        base = min(self.backoff_max, self.backoff_base * 2.0 ** max(attempts - 1, 0))
        return base * (1.0 + 0.1 * random.random())

    async def run_once(self) -> int:
        """Expire old rows, then try every due message once. Returns deliveries attempted."""
        now = self.clock()
        await self.store.expire(now)
        keys = await self.store.due_keys(now)
        attempted = 0
        # Messages first, then thread replies, so a reply finds its parent's ts in the same round.
        for batch in (
            [k for k in keys if not k.endswith(":thread")],
            [k for k in keys if k.endswith(":thread")],
        ):
            attempted += sum(await asyncio.gather(*(self._guarded(k) for k in batch)))
        if self.metrics is not None:
            self.metrics.outbox_pending.set(await self.store.pending_count())
        return attempted

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; wakes on ``wake`` (set by ``Outbox.publish``) or poll."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.run_once()
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

    async def _guarded(self, key: str) -> int:
        async with self._sem:
            return await self.deliver_key(key)

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
            await self.store.finish(
                rows, state=DeliveryState.FAILED, now=now, error="parent message was not posted"
            )
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
        await self._send(notifier, note, rows)
        return 1

    async def _parent_open(self, row: NotificationRow) -> bool:
        """Whether the message a thread reply belongs to may still be posted."""
        return await self.store.has_open(str(row.payload.get("parent_key", "")))

    async def _outbound(
        self, row: NotificationRow, now: datetime
    ) -> tuple[OutboundNote | None, datetime]:
        """The note to send, or ``None`` and when to look again (parent not posted, edit limit)."""
        kind, target, external_id = row.kind, row.target, None
        payload = {k: v for k, v in row.payload.items() if k != "parent_key"}
        if row.channel == "slack" and row.kind == "thread":
            ref = await self.store.message_ref(str(row.payload.get("parent_key", "")))
            if ref is None:
                return None, now + timedelta(seconds=self.poll_seconds)
            external_id, target = ref.external_id, ref.target or target
        elif row.channel == "slack":
            ref = await self.store.message_ref(row.message_key)
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
            receipt: DeliveryReceipt = await notifier.send(note)
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
