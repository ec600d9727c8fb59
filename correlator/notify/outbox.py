"""The notify outbox: ``Outbox`` implements ``NoteSink`` (publishing never waits on a vendor).

``publish`` plans the note for every configured channel (``correlator.notify.channels``) and
stores one row per notification, committed before it returns, so a Slack or PagerDuty outage
delays notes but loses none. ``correlator.notify.delivery`` delivers the rows: backoff until
delivered or expired, Slack edits coalesced, the first post's ``ts`` kept so later phases edit
it. The rows live in ``correlator.store.notifications``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from correlator.models import DeliveryState, Investigation, NotificationState
from correlator.notes import NoteRenderer
from correlator.notify.channels import (
    CHANNELS,
    PLANNERS,
    ChannelOptions,
    Planned,
    group_suffix,
    message_key,
)
from correlator.store.notifications import OutboxStore

PHASE_SEQ = {"running": 0, "rules": 1, "llm": 2, "resolved": 3}


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
        self.options = ChannelOptions(
            slack_channel=slack_channel,
            slack_routes=dict(slack_routes or {}),
            pagerduty_mode=pagerduty_mode,
        )
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

    async def delivery_states(self, investigation_id: str) -> list[NotificationState]:
        """Where each notification of the investigation stands (``NoteSink``)."""
        return await self.store.states(investigation_id)

    def plan(self, inv: Investigation, *, phase: str) -> list[dict[str, Any]]:
        """The notification rows for ``inv`` at ``phase`` (pure; nothing is stored)."""
        rows: list[dict[str, Any]] = []
        # Only Slack can show progress and edit it later: ``running`` goes nowhere else.
        channels = ("slack",) if phase == "running" else self.channels
        for channel in (c for c in channels if c in self.channels):
            planned = PLANNERS[channel](self.renderer, inv, phase, self.options)
            rows += [self._row(inv, phase, p) for p in planned]
        return rows

    def _row(self, inv: Investigation, phase: str, p: Planned) -> dict[str, Any]:
        now = self.clock()
        key = message_key(inv.id, p.channel, p.target)
        group = group_suffix(inv, p.channel, p.idem_suffix)
        return {
            "id": str(uuid.uuid4()),
            "investigation_id": inv.id,
            "channel": p.channel,
            "kind": p.kind,
            "target": p.target,
            "message_key": p.message_key or key,
            "phase": phase,
            "seq": PHASE_SEQ[phase],
            "payload": p.payload,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "expires_at": now + self.ttl,
            "created_at": now,
            "updated_at": now,
            "idempotency_key": f"{key}:{p.kind}:{p.idem_suffix}{group}",
        }
