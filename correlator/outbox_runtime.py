"""Running the notify outbox inside an entry point (``correlator.wiring`` calls this).

``configured_channels`` says which notification channels the settings enable;
``correlator.wiring`` builds one connector per channel (it is the only module that may import
``connectors``) and hands them to ``running_outbox``, which creates the outbox table, returns
the ``Outbox`` (the pipeline's ``NoteSink``) and runs an ``OutboxWorker`` until exit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from correlator.metrics import Metrics
from correlator.notes import NoteRenderer
from correlator.outbox import Outbox, OutboxWorker
from correlator.ports import Notifier
from correlator.settings import Settings
from correlator.store.outbox import OutboxStore


def configured_channels(settings: Settings) -> list[str]:
    """``slack`` (bot token and a channel or routes), ``slack_webhook``, ``pagerduty``
    (routing key in events mode; API token and From address in notes mode), ``webhook``."""
    out: list[str] = []
    s, pd = settings.slack, settings.pagerduty
    if s.bot_token is not None and (s.channel or s.routes):
        out.append("slack")
    if s.webhook_url is not None:
        out.append("slack_webhook")
    if (pd.mode == "events" and pd.routing_key is not None) or (
        pd.mode == "notes" and pd.api_token is not None and pd.from_email
    ):
        out.append("pagerduty")
    if settings.webhook.url:
        out.append("webhook")
    return out


@asynccontextmanager
async def running_outbox(
    settings: Settings,
    engine: AsyncEngine,
    notifiers: Mapping[str, Notifier],
    *,
    metrics: Metrics | None = None,
    run_worker: bool = True,
    poll_seconds: float = 1.0,
) -> AsyncIterator[Outbox]:
    """The outbox on ``engine``; its delivery worker runs in the background until exit."""
    store = OutboxStore(engine)
    await store.create_schema()
    outbox = Outbox(
        store,
        NoteRenderer(public_url=settings.public_url, llm_configured=settings.llm.enabled),
        channels=tuple(notifiers),
        slack_channel=settings.slack.channel,
        slack_routes=settings.slack.routes,
        pagerduty_mode=settings.pagerduty.mode,
    )
    worker = OutboxWorker(
        store, notifiers, metrics=metrics, wake=outbox.wake, poll_seconds=poll_seconds
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
        for notifier in notifiers.values():
            close = getattr(notifier, "aclose", None)
            if close is not None:
                await close()
