"""End to end delivery through the real connectors to fake Slack/PagerDuty servers on 127.0.0.1.

The outbox clock is simulated (backoff and edit spacing need no waiting); HTTP is real sockets.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from connectors.pagerduty import PagerDutyNotifier
from connectors.slack import SlackNotifier, SlackWebhookNotifier
from connectors.webhook import WebhookNotifier
from correlator.models import AlertStatus
from correlator.notes import NoteRenderer
from correlator.notify.channels import configured_channels
from correlator.notify.delivery import OutboxWorker, running_outbox
from correlator.notify.outbox import Outbox
from correlator.ports import Notifier
from correlator.settings import (
    PagerDutySettings,
    Settings,
    SlackSettings,
    WebhookNotifierSettings,
)
from correlator.store.notifications import OutboxStore
from tests.notify import factory
from tests.notify.fakes import (
    PD_API_TOKEN,
    PD_FROM,
    PD_ROUTING_KEY,
    SLACK_TOKEN,
    FakePagerDuty,
    FakeSlack,
)
from tests.notify.test_outbox import Clock


class Sleeps:
    """Records the delays the shared HTTP policy asks for (and does not wait)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDuty]:
    server = FakePagerDuty().start()
    yield server
    server.stop()


class Env:
    """An outbox + worker on one SQLite file; ``restart`` builds fresh ones (a new process)."""

    def __init__(self, db: Path, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.closers: list[Any] = []
        self.store: OutboxStore | None = None

    async def open(
        self, notifiers: dict[str, Notifier], **outbox: Any
    ) -> tuple[Outbox, OutboxWorker]:
        engine = create_async_engine(f"sqlite+aiosqlite:///{self.db}")
        self.closers.append(engine.dispose)
        self.store = OutboxStore(engine)
        await self.store.create_schema()
        box = Outbox(
            self.store,
            NoteRenderer(public_url="http://127.0.0.1:8080"),
            channels=tuple(notifiers),
            clock=self.clock,
            **outbox,
        )
        worker = OutboxWorker(self.store, notifiers, clock=self.clock, edit_interval_seconds=1.0)
        for n in notifiers.values():
            self.closers.append(n.aclose)  # type: ignore[attr-defined]
        return box, worker

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()
        self.closers.clear()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = Env(tmp_path / "outbox.db", Clock())
    yield e
    await e.close()


def slack_notifier(server: FakeSlack, sleeps: Sleeps | None = None) -> SlackNotifier:
    settings = SlackSettings(bot_token=SecretStr(SLACK_TOKEN), api_url=f"{server.url}/api")
    return SlackNotifier.from_settings(settings, sleep=sleeps or Sleeps())


async def row_states(env: Env) -> list[tuple[str, str, str]]:
    assert env.store is not None
    return sorted((r["channel"], r["kind"], r["state"]) for r in await env.store.all_rows())


async def test_post_then_update_same_message_with_thread_reply(env: Env, slack: FakeSlack) -> None:
    box, worker = await env.open({"slack": slack_notifier(slack)}, slack_channel="#alerts")
    inv = factory.rich()
    await box.publish(inv, phase="rules")
    await worker.run_once()
    (top,) = slack.top_level()
    assert "LLM analysis in progress" in str(top["blocks"])
    (reply,) = slack.replies()
    assert reply["thread_ts"] in {ts for (_, ts) in slack.messages}
    assert "Details for CheckoutErrorRate" in reply["text"]

    await box.publish(inv, phase="llm")
    env.clock.advance(2)
    await worker.run_once()
    await box.publish(
        inv.model_copy(update={"alert_status": AlertStatus.RESOLVED}), phase="resolved"
    )
    env.clock.advance(2)
    await worker.run_once()
    (top,) = slack.top_level()  # still one message: edited in place, twice
    assert top["updates"] == 2
    assert top["text"].startswith("[RESOLVED] CheckoutErrorRate")
    (reply,) = slack.replies()  # the details reply is edited in place too
    assert reply["updates"] == 2
    assert reply["text"].startswith("*Details for CheckoutErrorRate*")
    methods = [r.path.rsplit("/", 1)[-1] for r in slack.requests]
    assert methods == ["chat.postMessage", "chat.postMessage"] + ["chat.update"] * 4
    updates = [r.body for r in slack.requests if r.path.endswith("chat.update")]
    assert {u["channel"] for u in updates} == {"C1H9RESGL"}  # the id the post returned
    assert all(s == "delivered" for *_, s in await row_states(env))


async def test_http_429_retry_after_is_honoured(env: Env, slack: FakeSlack) -> None:
    sleeps = Sleeps()
    box, worker = await env.open({"slack": slack_notifier(slack, sleeps)}, slack_channel="#alerts")
    inv = factory.rich()
    # a post is never retried in place (it could appear twice): the outbox waits Retry-After
    slack.fail_next(429, {"ok": False, "error": "ratelimited"}, Retry_After="7")
    await box.publish(inv, phase="rules")
    await worker.run_once()
    assert env.store is not None
    post = next(r for r in await env.store.all_rows() if r["kind"] == "post")
    assert post["state"] == "retrying"
    assert (post["next_attempt_at"] - env.clock.now).total_seconds() == pytest.approx(7.0)
    env.clock.advance(6)
    assert await worker.run_once() == 0
    env.clock.advance(1)
    await worker.run_once()
    assert len(slack.top_level()) == 1
    # an edit is retried in place by the shared HTTP policy after Retry-After seconds
    slack.fail_next(429, {"ok": False, "error": "ratelimited"}, Retry_After="3")
    await box.publish(inv, phase="llm")
    env.clock.advance(2)
    await worker.run_once()
    assert sleeps.delays
    assert sleeps.delays[-1] >= 3.0
    assert slack.top_level()[0]["updates"] == 1


async def test_ok_false_errors_are_typed(env: Env, slack: FakeSlack) -> None:
    box, worker = await env.open({"slack": slack_notifier(slack)}, slack_channel="#nowhere")
    await box.publish(factory.rich(), phase="rules")
    await worker.run_once()
    env.clock.advance(3600)
    await worker.run_once()
    assert env.store is not None
    post = next(r for r in await env.store.all_rows() if r["kind"] == "post")
    assert post["state"] == "failed"
    assert "channel_not_found" in post["last_error"]
    assert len(slack.requests) == 1  # not retried

    # ok:false "ratelimited" with HTTP 200 is retryable, like HTTP 429
    box2, worker2 = await env.open({"slack": slack_notifier(slack)}, slack_channel="#alerts")
    slack.fail_next(200, {"ok": False, "error": "ratelimited"}, Retry_After="5")
    inv = factory.rich(inv_id="22222222-0000-0000-0000-000000000000")
    await box2.publish(inv, phase="rules")
    await worker2.run_once()
    rows = [r for r in await env.store.all_rows() if r["investigation_id"] == inv.id]
    post = next(r for r in rows if r["kind"] == "post")
    assert post["state"] == "retrying"
    assert "ratelimited" in post["last_error"]


async def test_outage_and_restart_deliver_once_without_duplicates(
    env: Env, slack: FakeSlack
) -> None:
    inv = factory.rich()
    slack.stop()  # Slack is down: connections refused
    box, worker = await env.open({"slack": slack_notifier(slack)}, slack_channel="#alerts")
    await box.publish(inv, phase="rules")
    for _ in range(3):
        await worker.run_once()
        env.clock.advance(600)
    assert ("slack", "post", "retrying") in await row_states(env)
    await env.close()  # the correlator process stops

    slack.start()  # Slack is back, same port
    box, worker = await env.open({"slack": slack_notifier(slack)}, slack_channel="#alerts")
    await box.publish(inv, phase="rules")  # the pipeline re-publishes after its restart: no-op
    env.clock.advance(600)
    await worker.run_once()
    assert len(slack.top_level()) == 1
    await env.close()

    box, worker = await env.open({"slack": slack_notifier(slack)}, slack_channel="#alerts")
    await box.publish(inv, phase="llm")
    env.clock.advance(5)
    await worker.run_once()
    await worker.run_once()
    assert len(slack.top_level()) == 1  # the llm phase edited the stored ts, no second post
    assert slack.top_level()[0]["updates"] == 1
    assert len(slack.replies()) == 1
    assert all(s == "delivered" for *_, s in await row_states(env))


async def test_incoming_webhook_single_final_post(env: Env, slack: FakeSlack) -> None:
    url = f"{slack.url}{FakeSlack.WEBHOOK_PATH}"
    hook = SlackWebhookNotifier.from_settings(SlackSettings(webhook_url=SecretStr(url)))
    box, worker = await env.open({"slack_webhook": hook})
    inv = factory.rich()
    for phase in ("rules", "llm", "resolved"):
        await box.publish(inv, phase=phase)
        env.clock.advance(5)
        await worker.run_once()
    assert len(slack.webhook_posts) == 1
    assert "CheckoutErrorRate" in slack.webhook_posts[0]["text"]


async def test_incoming_webhook_error_hides_the_secret_url(env: Env, slack: FakeSlack) -> None:
    url = f"{slack.url}/services/T000/B000/WRONGSECRET"
    hook = SlackWebhookNotifier.from_settings(SlackSettings(webhook_url=SecretStr(url)))
    box, worker = await env.open({"slack_webhook": hook})
    await box.publish(factory.rich(llm=False), phase="rules")
    await worker.run_once()
    assert env.store is not None
    (row,) = await env.store.all_rows()
    assert row["state"] == "failed"
    assert "HTTP 404" in row["last_error"]
    assert "WRONGSECRET" not in row["last_error"]


def pd_settings(server: FakePagerDuty, mode: str = "events") -> PagerDutySettings:
    return PagerDutySettings(
        routing_key=SecretStr(PD_ROUTING_KEY),
        events_url=f"{server.url}/v2/enqueue",
        api_url=server.url,
        api_token=SecretStr(PD_API_TOKEN),
        from_email=PD_FROM,
        mode=mode,
    )


async def test_pagerduty_events_enrichment_202(env: Env, pagerduty: FakePagerDuty) -> None:
    pd = PagerDutyNotifier.from_settings(pd_settings(pagerduty), sleep=Sleeps())
    box, worker = await env.open({"pagerduty": pd})
    inv = factory.rich()
    await box.publish(inv, phase="rules")
    await worker.run_once()
    (event,) = pagerduty.events
    assert event["routing_key"] == PD_ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == hashlib.sha256(inv.alert.group_key.encode()).hexdigest()
    details = event["payload"]["custom_details"]
    assert details["likely_cause"] == "checkout 1.4.2 (deployed 16:29) broke payment calls"
    assert details["proposed_action"]["executed"] is False
    assert event["links"][0]["href"].endswith(f"/ui/investigations/{inv.id}")
    assert event["payload"]["severity"] == "critical"
    assert await row_states(env) == [("pagerduty", "enrich", "delivered")]


async def test_pagerduty_400_is_not_retried_and_5xx_is(env: Env, pagerduty: FakePagerDuty) -> None:
    pd = PagerDutyNotifier.from_settings(pd_settings(pagerduty), sleep=Sleeps())
    box, worker = await env.open({"pagerduty": pd})
    error = {"status": "Unrecognized object", "message": "x", "errors": ["JSON parse error"]}
    pagerduty.fail_next(400, error)
    await box.publish(factory.rich(), phase="rules")
    await worker.run_once()
    env.clock.advance(3600)
    await worker.run_once()
    assert await row_states(env) == [("pagerduty", "enrich", "failed")]
    assert len(pagerduty.requests) == 1

    for _ in range(3):  # 1 try + 2 in-place retries, all 503: the outbox retries later
        pagerduty.fail_next(503, {"status": "unavailable"})
    inv = factory.rich(inv_id="33333333-0000-0000-0000-000000000000")
    await box.publish(inv, phase="rules")
    await worker.run_once()
    assert ("pagerduty", "enrich", "retrying") in await row_states(env)
    env.clock.advance(60)
    await worker.run_once()
    assert len(pagerduty.events) == 1


async def test_pagerduty_rest_note_found_by_incident_key(
    env: Env, pagerduty: FakePagerDuty
) -> None:
    pd = PagerDutyNotifier.from_settings(pd_settings(pagerduty, "notes"), sleep=Sleeps())
    box, worker = await env.open({"pagerduty": pd}, pagerduty_mode="notes")
    inv = factory.rich()
    await box.publish(inv, phase="rules")
    await worker.run_once()  # Alertmanager has not opened the incident yet: retry later
    assert await row_states(env) == [("pagerduty", "note", "retrying")]
    key = hashlib.sha256(inv.alert.group_key.encode()).hexdigest()
    pagerduty.incidents[key] = "PT4KHLK"
    env.clock.advance(60)
    await worker.run_once()
    (content,) = pagerduty.notes["PT4KHLK"]
    assert "Proposed action (proposed, not executed)" in content
    post = next(r for r in pagerduty.requests if r.method == "POST")
    assert post.headers["from"] == PD_FROM
    assert post.headers["authorization"] == f"Token token={PD_API_TOKEN}"


async def test_generic_webhook_posts_summary_json(env: Env, slack: FakeSlack) -> None:
    target = f"{slack.url}{FakeSlack.WEBHOOK_PATH}"
    hook = WebhookNotifier.from_settings(WebhookNotifierSettings(url=target))
    box, worker = await env.open({"webhook": hook})
    await box.publish(factory.rich(), phase="rules")
    await worker.run_once()
    (body,) = slack.webhook_posts
    assert body["investigation_id"] == factory.rich().id
    assert body["top"]["confidence"] == 82
    assert body["remediation"]["commands"]
    assert slack.requests[0].headers["idempotency-key"].endswith(":post:rules")


async def test_running_outbox_delivers_in_the_background(tmp_path: Path, slack: FakeSlack) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bg.db'}",
        slack=SlackSettings(
            bot_token=SecretStr(SLACK_TOKEN), channel="#alerts", api_url=f"{slack.url}/api"
        ),
        webhook=WebhookNotifierSettings(url=f"{slack.url}{FakeSlack.WEBHOOK_PATH}"),
    )
    assert configured_channels(settings) == ["slack", "webhook"]
    engine = create_async_engine(settings.database_url)
    notifiers: dict[str, Notifier] = {
        "slack": SlackNotifier.from_settings(settings.slack),
        "webhook": WebhookNotifier.from_settings(settings.webhook),
    }
    async with running_outbox(settings, engine, notifiers, poll_seconds=0.2) as outbox:
        await outbox.publish(factory.rich(), phase="rules")
        deadline = time.monotonic() + 20
        while len(slack.top_level()) < 1 or len(slack.webhook_posts) < 1:
            assert time.monotonic() < deadline, "not delivered in time"
            await asyncio.sleep(0.05)  # polling the fake server's record, bounded above
        states = await outbox.delivery_states(factory.rich().id)
    await engine.dispose()
    assert {n.channel for n in states} == {"slack", "webhook"}


def test_configured_channels_follow_settings() -> None:
    assert configured_channels(Settings()) == []
    pd_notes = PagerDutySettings(mode="notes", api_token=SecretStr("t"))
    assert configured_channels(Settings(pagerduty=pd_notes)) == []  # From: address missing
    pd_notes = pd_notes.model_copy(update={"from_email": "a@b.c"})
    assert configured_channels(Settings(pagerduty=pd_notes)) == ["pagerduty"]
    hook = SlackSettings(webhook_url=SecretStr("http://127.0.0.1:1/services/x"))
    assert configured_channels(Settings(slack=hook)) == ["slack_webhook"]
