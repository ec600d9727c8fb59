"""Channels deliver independently: a drip-feeding Slack on a real loopback socket does not hold
PagerDuty back, and its own call ends at the total send deadline (reliability report D2)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.pagerduty import PagerDutyNotifier
from connectors.slack import SlackNotifier
from correlator.notes import NoteRenderer
from correlator.notify.delivery import OutboxWorker
from correlator.notify.outbox import Outbox
from correlator.settings import SlackSettings
from correlator.store.notifications import OutboxStore
from tests.notify import factory
from tests.notify.fakes import SLACK_TOKEN, FakePagerDuty
from tests.notify.test_delivery import Sleeps, pd_settings
from tests.notify.test_outbox import Clock


@contextlib.asynccontextmanager
async def dripping_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """Answers headers with ``Content-Length: 100000`` and then one byte at a time."""
    started = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            started.set()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            writer.write(b"Content-Length: 100000\r\n\r\n")
            for _ in range(100000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.02)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api", started
    finally:
        server.close()


@pytest.mark.timeout(60)
async def test_a_dripping_slack_does_not_delay_pagerduty(tmp_path: Path) -> None:
    """D2: PagerDuty is delivered while the Slack call is still dripping; the Slack call is then
    cut by the worker's total send deadline and retried later, not waited on forever."""
    pd_server = FakePagerDuty().start()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with dripping_server() as (slack_url, slack_started):
        slack = SlackNotifier.from_settings(
            SlackSettings(bot_token=SecretStr(SLACK_TOKEN), api_url=slack_url), sleep=Sleeps()
        )
        pd = PagerDutyNotifier.from_settings(pd_settings(pd_server), sleep=Sleeps())
        store = OutboxStore(engine)
        await store.create_schema()
        clock = Clock()
        box = Outbox(
            store,
            NoteRenderer(public_url="http://127.0.0.1:8080"),
            channels=("slack", "pagerduty"),
            slack_channel="#alerts",
            clock=clock,
        )
        worker = OutboxWorker(
            store, {"slack": slack, "pagerduty": pd}, clock=clock, send_timeout_seconds=1.0
        )
        try:
            await box.publish(factory.rich(), phase="rules")
            tasks = {t.get_name(): t for t in await worker.dispatch()}
            (slack_task,) = [t for n, t in tasks.items() if ":slack:" in n and "thread" not in n]
            (pd_task,) = [t for n, t in tasks.items() if ":pagerduty" in n]
            assert await pd_task == 1
            assert len(pd_server.requests) == 1
            await slack_started.wait()
            assert not slack_task.done()  # still dripping while PagerDuty is already delivered
            assert await slack_task == 1
            rows = {r["channel"] + ":" + r["kind"]: r for r in await store.all_rows()}
            assert rows["pagerduty:enrich"]["state"] == "delivered"
            assert rows["slack:post"]["state"] == "retrying"
            assert "no answer within" in rows["slack:post"]["last_error"]
        finally:
            await worker.drain()
            await slack.aclose()
            await pd.aclose()
            await engine.dispose()
            pd_server.stop()
