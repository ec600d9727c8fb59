"""Outbox semantics with a scripted in-process Notifier (the HTTP side is in test_delivery.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from correlator.errors import BackendRateLimited, BackendUnavailable, NotifyError
from correlator.models import AlertStatus, DeliveryState
from correlator.notes import NoteRenderer
from correlator.notify.channels import route_channels
from correlator.notify.delivery import OutboxWorker
from correlator.notify.outbox import Outbox
from correlator.ports import DeliveryReceipt, OutboundNote
from correlator.store.notifications import OutboxStore
from tests.notify import factory


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ScriptedNotifier:
    """Answers from a script of outcomes (exceptions or None = success), records every call."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[OutboundNote] = []
        self.counter = 0

    async def send(self, note: OutboundNote) -> DeliveryReceipt:
        self.calls.append(note)
        if self.outcomes:
            outcome = self.outcomes.pop(0)
            if outcome is not None:
                raise outcome
        self.counter += 1
        if note.kind == "update":
            return DeliveryReceipt(external_id=note.external_id, target=note.target)
        return DeliveryReceipt(external_id=f"1700000000.{self.counter:06d}", target="C0CHECKOUT")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[OutboxStore]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    s = OutboxStore(engine)
    await s.create_schema()
    yield s
    await engine.dispose()


def make(store: OutboxStore, clock: Clock, channels: tuple[str, ...] = ("slack",)) -> Outbox:
    return Outbox(
        store,
        NoteRenderer(public_url="http://127.0.0.1:8080"),
        channels=channels,
        slack_channel="#alerts",
        clock=clock,
    )


def worker(store: OutboxStore, clock: Clock, **notifiers: ScriptedNotifier) -> OutboxWorker:
    return OutboxWorker(
        store,
        notifiers,
        clock=clock,
        edit_interval_seconds=1.0,
        backoff_base_seconds=2.0,
        poll_seconds=0.5,
    )


async def test_post_then_update_card_and_thread_reply_in_place(store: OutboxStore) -> None:
    clock = Clock()
    outbox, slack = make(store, clock), ScriptedNotifier()
    w = worker(store, clock, slack=slack)
    await outbox.publish(factory.rich(), phase="rules")
    assert await w.run_once() == 2  # the post, then the thread reply under its ts
    await outbox.publish(factory.rich(), phase="llm")
    clock.advance(5)
    await w.run_once()
    kinds = [(c.kind, c.external_id) for c in slack.calls]
    assert kinds == [
        ("post", None),
        ("thread", "1700000000.000001"),
        ("update", "1700000000.000001"),  # the card
        ("update", "1700000000.000002"),  # the thread reply, edited in place (its own ts)
    ]
    assert slack.calls[2].target == "C0CHECKOUT"  # chat.update needs the channel id from the post
    assert slack.calls[3].target == "C0CHECKOUT"
    states = await store.states(factory.rich().id)
    assert {s.state for s in states} == {DeliveryState.DELIVERED}


async def test_running_card_is_posted_then_edited_into_the_verdict(store: OutboxStore) -> None:
    clock = Clock()
    outbox = make(store, clock, ("slack", "pagerduty", "webhook"))
    slack, pd, hook = ScriptedNotifier(), ScriptedNotifier(), ScriptedNotifier()
    w = worker(store, clock, slack=slack, pagerduty=pd, webhook=hook)
    running = factory.rich().model_copy(update={"analysis": None, "evidence": None})
    await outbox.publish(running, phase="running")
    assert [r["kind"] for r in await store.all_rows()] == ["post"]  # Slack only, no thread yet
    await w.run_once()
    assert "*Investigating:*" in str(slack.calls[0].payload["blocks"])
    clock.advance(2)
    await outbox.publish(factory.rich(), phase="rules")
    await w.run_once()
    kinds = [(c.kind, c.external_id) for c in slack.calls]
    assert kinds == [
        ("post", None),
        ("update", "1700000000.000001"),  # the same card, now with the verdict
        ("thread", "1700000000.000001"),
    ]
    assert "*Verdict (82%):*" in str(slack.calls[1].payload["blocks"])
    assert len(pd.calls) == len(hook.calls) == 1  # they start at the verdict


async def test_pending_edits_coalesce_and_are_rate_limited(store: OutboxStore) -> None:
    clock = Clock()
    outbox, slack = make(store, clock), ScriptedNotifier()
    w = worker(store, clock, slack=slack)
    inv = factory.rich()
    await outbox.publish(inv, phase="rules")
    await w.run_once()
    await outbox.publish(inv, phase="llm")
    await outbox.publish(
        inv.model_copy(update={"alert_status": AlertStatus.RESOLVED}), phase="resolved"
    )
    await w.run_once()  # within edit_interval of the post: deferred, nothing sent
    assert [c.kind for c in slack.calls] == ["post", "thread"]
    clock.advance(1.5)
    await w.run_once()
    updates = [c for c in slack.calls if c.kind == "update"]
    assert len(updates) == 2  # the card and its thread reply, each edited once
    assert "RESOLVED" in str(updates[0].payload["blocks"])
    states = await store.states(inv.id)
    assert sorted(s.state.value for s in states) == [
        "delivered",
        "delivered",
        "delivered",
        "delivered",
        "superseded",
        "superseded",
    ]


async def test_republishing_a_phase_inserts_nothing(store: OutboxStore) -> None:
    clock = Clock()
    outbox = make(store, clock, ("slack", "pagerduty", "webhook"))
    await outbox.publish(factory.rich(), phase="rules")
    before = len(await store.all_rows())
    await outbox.publish(factory.rich(), phase="rules")
    assert len(await store.all_rows()) == before == 4  # slack post + thread, pagerduty, webhook


async def test_transient_errors_back_off_then_deliver(store: OutboxStore) -> None:
    clock = Clock()
    outbox = make(store, clock, ("webhook",))
    hook = ScriptedNotifier(
        BackendUnavailable("webhook", "connection refused"),
        BackendRateLimited("webhook", "429", retry_after=30.0),
    )
    w = worker(store, clock, webhook=hook)
    await outbox.publish(factory.rich(), phase="rules")
    await w.run_once()
    (row,) = await store.all_rows()
    assert row["state"] == "retrying"
    assert row["next_attempt_at"] >= clock.now + timedelta(seconds=2.0)
    assert await w.run_once() == 0  # not due yet
    clock.advance(2.5)
    await w.run_once()
    (row,) = await store.all_rows()
    assert row["next_attempt_at"] == clock.now + timedelta(seconds=30.0)  # Retry-After honoured
    clock.advance(29)
    assert await w.run_once() == 0
    clock.advance(1)
    await w.run_once()
    (row,) = await store.all_rows()
    assert (row["state"], row["attempts"]) == ("delivered", 3)


async def test_permanent_error_fails_and_expiry_gives_up(store: OutboxStore) -> None:
    clock = Clock()
    outbox = make(store, clock, ("slack", "webhook"))
    slack = ScriptedNotifier(NotifyError("slack", "channel_not_found", retryable=False))
    hook = ScriptedNotifier(*[BackendUnavailable("webhook", "down")] * 100)
    w = worker(store, clock, slack=slack, webhook=hook)
    await outbox.publish(factory.rich(), phase="rules")
    await w.run_once()
    rows = {(r["channel"], r["kind"]): r for r in await store.all_rows()}
    assert rows[("slack", "post")]["state"] == "failed"
    assert "channel_not_found" in rows[("slack", "post")]["last_error"]
    clock.advance(1)
    await w.run_once()  # the thread reply has no message to hang under: fails, no busy retry
    rows = {(r["channel"], r["kind"]): r for r in await store.all_rows()}
    assert rows[("slack", "thread")]["state"] == "failed"
    clock.advance(7 * 3600)
    await w.run_once()
    rows = {(r["channel"], r["kind"]): r for r in await store.all_rows()}
    assert rows[("webhook", "post")]["state"] == "expired"


async def test_resolved_supersedes_pending_pagerduty_enrichment(store: OutboxStore) -> None:
    clock = Clock()
    outbox = make(store, clock, ("pagerduty",))
    inv = factory.rich()
    await outbox.publish(inv, phase="rules")
    await outbox.publish(inv, phase="resolved")
    rows = await store.all_rows()
    assert [r["state"] for r in rows] == ["superseded"]


def test_routes_by_labels() -> None:
    routes = {"team=payments": "#pay", "severity=critical": "#incidents", "team=web": "#web"}
    labels = {"team": "payments", "severity": "critical"}
    assert route_channels(labels, routes, "#alerts") == ["#pay", "#incidents"]
    assert route_channels({"team": "x"}, routes, "#alerts") == ["#alerts"]
    assert route_channels({"team": "x"}, routes, None) == []
    both = {"team=payments,severity=critical": "#pay-crit"}
    assert route_channels({"team": "payments", "severity": "warning"}, both, None) == []


async def test_prune_keeps_open_rows(store: OutboxStore) -> None:
    clock = Clock()
    outbox = make(store, clock, ("webhook", "pagerduty"))
    hook = ScriptedNotifier()
    w = worker(store, clock, webhook=hook)
    await outbox.publish(factory.rich(), phase="rules")
    await w.run_once()  # webhook delivered; pagerduty has no notifier configured -> failed
    outbox2 = make(store, clock, ("webhook",))
    await outbox2.publish(
        factory.rich(inv_id="44444444-0000-0000-0000-000000000000"), phase="rules"
    )
    clock.advance(10)
    assert await store.prune(clock.now) == 2
    assert [r["state"] for r in await store.all_rows()] == ["pending"]
