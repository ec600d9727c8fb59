"""run_replay: rows appended as alerts finish, resume skips done keys, errors are retried.

Runs the real in-process pipeline (``investigate_once``) with no backends configured: every
evidence item is ``not_configured``, which is enough to exercise the runner end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

from correlator.lab.replay.runner import ROWS_FILE, Progress, load_rows, quiet_settings, run_replay
from correlator.lab.replay.sources import jsonl_items
from correlator.settings import Settings
from tests.notify.fakes import FakeSlack
from tests.replay.test_sources import BODIES, body, write_jsonl


def lines(out: Path) -> list[str]:
    return (out / ROWS_FILE).read_text().splitlines()


async def test_second_run_does_no_work(tmp_path: Path) -> None:
    items = jsonl_items(write_jsonl(tmp_path / "h.jsonl", [body(n) for n in BODIES]))
    out = tmp_path / "out"
    seen: list[Progress] = []
    rows = await run_replay(items, Settings(), out, concurrency=2, on_progress=seen.append)
    assert [r.key for r in rows] == [i.key for i in items]
    assert len(lines(out)) == 2
    assert [p.done for p in seen] == [0, 1, 2]
    assert all(r.error is None and r.status == "done" for r in rows)
    assert {r.alertname for r in rows} == {"DemoQueueBacklog", "DemoSlowCheckout"}
    assert rows[0].evidence  # statuses recorded per kind (not_configured here)
    assert rows[0].stages_ms

    again: list[Progress] = []
    rows2 = await run_replay(items, Settings(), out, concurrency=2, on_progress=again.append)
    assert len(lines(out)) == 2  # nothing appended
    assert [(p.done, p.total, p.skipped) for p in again] == [(0, 0, 2)]
    assert [r.model_dump() for r in rows2] == [r.model_dump() for r in rows]


async def test_rows_with_errors_are_retried_and_last_row_wins(tmp_path: Path) -> None:
    items = jsonl_items(write_jsonl(tmp_path / "h.jsonl", [body(BODIES[0])]))
    out = tmp_path / "out"
    await run_replay(items, Settings(), out)
    (row,) = load_rows(out).values()
    failed = row.model_copy(update={"error": "boom", "status": "error"})
    with (out / ROWS_FILE).open("a") as fh:
        fh.write(failed.model_dump_json() + "\n")
        fh.write('{"key": "cut mid-wri')  # a crash mid-line is ignored
    assert load_rows(out)[row.key].error == "boom"
    seen: list[Progress] = []
    rows = await run_replay(items, Settings(), out, on_progress=seen.append)
    assert seen[-1].done == 1
    assert rows[0].error is None
    assert load_rows(out)[row.key].error is None


def test_replays_do_not_notify_unless_asked() -> None:
    loud = Settings(
        slack={"bot_token": "xoxb-1", "channel": "#oncall"},
        pagerduty={"routing_key": "r" * 32},
        webhook={"url": "http://127.0.0.1:9/hook"},
    )
    quiet = quiet_settings(loud)
    assert quiet.slack.bot_token is None
    assert quiet.pagerduty.routing_key is None
    assert quiet.webhook.url is None
    assert quiet_settings(loud, notify=True).slack.channel == "#oncall"
    assert loud.slack.bot_token is not None  # the caller's settings are not mutated


async def test_row_json_round_trips(tmp_path: Path) -> None:
    items = jsonl_items(write_jsonl(tmp_path / "h.jsonl", [body(BODIES[1]), body(BODIES[0])]))
    rows = await run_replay(items, Settings(), tmp_path / "o")
    data = {json.loads(x)["key"]: json.loads(x) for x in lines(tmp_path / "o")}
    assert set(data) == {r.key for r in rows}
    slow = data["aa2cfb79103b1c93@2026-11-21T16:32:55.914Z"]
    assert slow["outcome"]["id"] == slow["key"]
    assert slow["service"] is None  # no service label on DemoSlowCheckout
    assert data["cb14fc0c00f5862f@2026-11-21T16:32:54.914Z"]["service"] == "checkout"


async def test_replay_notify_delivers_to_the_configured_webhook(tmp_path: Path) -> None:
    """Issue #21 item 8: ``replay --notify`` posts each note to the configured channel (a real
    HTTP server on 127.0.0.1 receiving the generic webhook's POST); without it, nothing arrives."""
    items = jsonl_items(write_jsonl(tmp_path / "h.jsonl", [body(BODIES[0])]))
    server = FakeSlack().start()
    try:
        loud = Settings(webhook={"url": f"{server.url}{FakeSlack.WEBHOOK_PATH}"})
        await run_replay(items, loud, tmp_path / "quiet")
        assert server.webhook_posts == []

        (row,) = await run_replay(items, loud, tmp_path / "loud", notify=True)
    finally:
        server.stop()
    assert row.error is None
    assert server.webhook_posts, "no note reached the webhook channel"
    ids = {post["investigation_id"] for post in server.webhook_posts}
    assert len(ids) == 1
    assert {post["fingerprint"] for post in server.webhook_posts} == {row.fingerprint}
