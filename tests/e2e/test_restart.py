"""kill -9 of a real ``correlator serve`` mid-investigation loses nothing.

Two ways to be sure work is in flight when the process dies, both observable, no timing:
- the test takes SQLite's write lock from outside (``BEGIN IMMEDIATE`` on the same WAL
  database) at a moment when an investigation is ``running``: its worker cannot finish while
  the lock is held, so the kill interrupts it;
- the worker is inside a backend call to a loopback "Prometheus" that never answers (the test
  sees the request arrive, then kills).
After a restart on the same database every alert that got a 202 ends ``done``, exactly once.
"""

from __future__ import annotations

import copy
import json
import socket
import sqlite3
import threading
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
            "CORRELATOR_GROUPING": "alert",  # distinct alerts of one group: one each
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


class HangingBackend:
    """A loopback TCP server that reads requests and never answers (records what it got)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.requests.append(conn.recv(65536))

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()


LEGACY = FIXTURE.parent / "prometheus-msteams_prom_post_request.json"


def test_kill_9_while_a_backend_call_hangs(service: Service, tmp_path: Path) -> None:
    """The legacy alert has no generatorURL, so the evidence chain asks Prometheus for the rule
    expression; Prometheus never answers, the process is killed mid-call, and the restarted
    service (Prometheus now refusing connections) finishes it with the failure recorded."""
    hang = HangingBackend()
    service.env |= {
        "CORRELATOR_PROMETHEUS__URL": hang.url,
        "CORRELATOR_PROMETHEUS__TIMEOUT_SECONDS": "600",
        "CORRELATOR_EVIDENCE_DEADLINE_SECONDS": "600",
    }
    first = service.start()
    procs = [first]
    try:
        with httpx.Client(timeout=10) as client:
            inv_id = service.post(client, json.loads(LEGACY.read_text()))
            poll(
                lambda: any(b"/api/v1/rules" in r for r in hang.requests),
                timeout=30,
                what="the worker's call to the hanging Prometheus",
            )
            assert service.statuses(client)[inv_id] == "running"
            first.kill9()
            hang.close()
            service.env["CORRELATOR_PROMETHEUS__URL"] = f"http://127.0.0.1:{free_port()}"
            service.env["CORRELATOR_PROMETHEUS__RETRIES"] = "0"
            procs.append(service.start())
            poll(
                lambda: service.statuses(client).get(inv_id) == "done",
                timeout=60,
                what="the interrupted investigation to finish after the restart",
            )
            inv = client.get(f"{service.url}/api/v1/investigations/{inv_id}").json()
            assert inv["attempts"] == 2
            (rule_expr,) = [i for i in inv["evidence"]["items"] if i["kind"] == "rule_expr"]
            assert rule_expr["source"] == "prometheus"
            assert rule_expr["status"] == "error"
            assert rule_expr["error"]
            assert inv["evidence"]["expr"] is None
    finally:
        hang.close()
        for proc in procs:
            if proc.alive():
                proc.stop()
