"""kill -9 of a real ``correlator serve`` mid-investigation loses nothing.

To be sure work is in flight when the process dies, the test takes SQLite's write lock from
outside (``BEGIN IMMEDIATE`` on the same WAL database) at a moment when an investigation is
``running``: its worker cannot finish while the lock is held, so the kill interrupts it. After a
restart on the same database every alert that got a 202 ends ``done``, exactly once.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._proc import Proc, free_port, poll, start_correlator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURE = (
    Path(__file__).parent.parent
    / "fixtures"
    / "alertmanager"
    / "alertmanager_webhook_01_firing.json"
)
TOKEN = "restart-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def bodies(n: int, offset: int = 0) -> Iterator[dict[str, Any]]:
    """``n`` distinct alerts: the real webhook with a new fingerprint and startsAt each."""
    base = json.loads(FIXTURE.read_text())
    start = datetime(2026, 11, 21, 16, 32, 54, tzinfo=UTC)
    for i in range(offset, offset + n):
        body = copy.deepcopy(base)
        alert = body["alerts"][0]
        alert["fingerprint"] = f"{i:016x}"
        alert["labels"]["instance"] = f"10.0.0.{i}:8080"
        alert["startsAt"] = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        yield body


class Service:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "correlator.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{self.db}",
            "CORRELATOR_WEBHOOK_TOKEN": TOKEN,
            "CORRELATOR_WORKERS": "2",
        }
        self.runs = 0

    def start(self) -> Proc:
        self.runs += 1
        return start_correlator(self.tmp, self.port, self.env, f"correlator-{self.runs}")

    def post(self, client: httpx.Client, body: dict[str, Any]) -> str:
        r = client.post(f"{self.url}/api/v1/webhooks/alertmanager", json=body, headers=AUTH)
        assert r.status_code == 202, r.text
        inv_id: str = r.json()["investigations"][0]["id"]
        return inv_id

    def statuses(self, client: httpx.Client) -> dict[str, str]:
        r = client.get(f"{self.url}/api/v1/investigations", params={"limit": 500})
        return {i["id"]: i["status"] for i in r.json()["items"]}


def lock_while_running(db: Path, deadline_s: float = 30.0) -> sqlite3.Connection:
    """Hold SQLite's write lock at a moment when some investigation is running (returned open)."""
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    found: list[sqlite3.Connection] = []

    def caught() -> bool:
        conn.execute("BEGIN IMMEDIATE")
        (running,) = conn.execute(
            "SELECT count(*) FROM investigations WHERE status = 'running'"
        ).fetchone()
        if running:
            found.append(conn)
            return True
        conn.execute("COMMIT")
        return False

    poll(caught, timeout=deadline_s, what="an investigation in status running", every=0.001)
    return found[0]


@pytest.fixture
def service(tmp_path: Path) -> Service:
    return Service(tmp_path)


def test_kill_9_mid_investigation_loses_nothing(service: Service) -> None:
    first = service.start()
    procs = [first]
    try:
        with httpx.Client(timeout=10) as client:
            accepted = [service.post(client, b) for b in bodies(40)]
            lock = lock_while_running(service.db)
            interrupted = {
                row[0]
                for row in lock.execute("SELECT id FROM investigations WHERE status = 'running'")
            }
            first.kill9()
            lock.execute("COMMIT")
            lock.close()
            assert interrupted
            assert len(set(accepted)) == 40

            second = service.start()
            procs.append(second)
            poll(
                lambda: (
                    set(service.statuses(client).values()) == {"done"}
                    and len(service.statuses(client)) == 40
                ),
                timeout=60,
                what="every investigation done after the restart",
            )
            assert set(service.statuses(client)) == set(accepted)
            for inv_id in interrupted:
                inv = client.get(f"{service.url}/api/v1/investigations/{inv_id}").json()
                assert inv["status"] == "done"
                assert inv["attempts"] == 2  # claimed before the kill, resumed after it
                assert [s["name"] for s in inv["stages"]] == ["alert", "evidence", "rules", "llm"]
            # re-sends after the restart still map to the same investigations
            assert service.post(client, next(bodies(1))) == accepted[0]
    finally:
        for proc in procs:
            if proc.alive():
                proc.stop()


def test_sigterm_shuts_down_cleanly_and_restart_finishes_the_queue(service: Service) -> None:
    first = service.start()
    procs = [first]
    try:
        with httpx.Client(timeout=10) as client:
            accepted = [service.post(client, b) for b in bodies(20)]
            # uvicorn re-raises the signal after its graceful shutdown: -SIGTERM is a clean exit
            assert first.stop() in {0, -15}, first.output()
            assert "Application shutdown complete" in first.output()
            conn = sqlite3.connect(service.db)
            (running,) = conn.execute(
                "SELECT count(*) FROM investigations WHERE status = 'running'"
            ).fetchone()
            conn.close()
            assert running == 0  # drained or released, never left running
            second = service.start()
            procs.append(second)
            poll(
                lambda: set(service.statuses(client).values()) == {"done"},
                timeout=60,
                what="every investigation done after the restart",
            )
            assert set(service.statuses(client)) == set(accepted)
    finally:
        for proc in procs:
            if proc.alive():
                proc.stop()
