"""kill -9 of a real ``correlator serve --worker-processes`` while a group is being updated.

Senders keep posting notifications of one Alertmanager group that grows by one alert each time
(as Alertmanager re-notifies a group whose alert set changed); the test kills the HTTP process
with SIGKILL once enough of them got a 202, while more are in flight. After a restart on the
same SQLite file, every alert that was part of a 202'd notification is in the group's one
investigation, which ends ``done``. The worker process of the killed service exits by itself
(it sees its parent's socket close), so no orphan keeps claiming work.
"""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._proc import free_port, poll, start_correlator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIXTURE = (
    Path(__file__).parent.parent
    / "fixtures"
    / "alertmanager"
    / "alertmanager_webhook_01_firing.json"
)
TOKEN = "group-restart-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def notification(size: int) -> dict[str, Any]:
    """The captured notification with the group grown to ``size`` alerts (one per instance)."""
    body = json.loads(FIXTURE.read_text())
    template = body["alerts"][0]
    body["alerts"] = []
    for i in range(size):
        alert = copy.deepcopy(template)
        alert["labels"]["instance"] = f"10.0.0.{i}:8080"
        alert["fingerprint"] = f"{i:016x}"
        body["alerts"].append(alert)
    return body


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Senders:
    """Threads posting ever larger notifications of one group; records the 202'd sizes."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = f"{url}/api/v1/webhooks/alertmanager"
        self.accepted: list[int] = []
        self.ids: set[str] = set()
        self._next = 1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Senders:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                with self._lock:
                    size, self._next = self._next, self._next + 1
                try:
                    r = client.post(self.url, json=notification(size), headers=AUTH)
                except httpx.HTTPError:
                    continue  # the service died mid-request: not acknowledged, not counted
                if r.status_code == 202:
                    with self._lock:
                        self.accepted.append(size)
                        self.ids.update(i["id"] for i in r.json()["investigations"])


def test_kill_9_while_a_group_is_updated_loses_no_alert(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        "CORRELATOR_WEBHOOK_TOKEN": TOKEN,
        "CORRELATOR_WORKER_PROCESSES": "1",
        "CORRELATOR_GROUP_DEBOUNCE_SECONDS": "0",
    }
    first = start_correlator(tmp_path, port, env, "correlator-1")
    procs = [first]
    try:
        poll(lambda: bool(children_of(first.pid)), timeout=30, what="the worker process")
        workers = children_of(first.pid)
        with Senders(url) as senders:
            poll(lambda: len(senders.accepted) >= 30, timeout=60, what="30 accepted notifications")
            first.kill9()
        assert len(senders.ids) == 1  # every notification mapped to the group's investigation
        poll(
            lambda: not any(alive(p) for p in workers),
            timeout=30,
            what="the orphaned worker process to exit",
        )
        second = start_correlator(tmp_path, port, env, "correlator-2")
        procs.append(second)
        (inv_id,) = senders.ids
        with httpx.Client(timeout=10) as client:

            def done() -> bool:
                doc = client.get(f"{url}/api/v1/investigations/{inv_id}").json()
                return bool(doc["status"] == "done")

            poll(done, timeout=60, what="the group's investigation to finish after the restart")
            doc = client.get(f"{url}/api/v1/investigations/{inv_id}").json()
            total = client.get(f"{url}/api/v1/investigations").json()["total"]
        stored = {a["fingerprint"] for a in doc["group"]["alerts"]}
        acknowledged = {f"{i:016x}" for i in range(max(senders.accepted))}
        assert acknowledged <= stored
        assert total == 1
    finally:
        for proc in procs:
            if proc.alive():
                proc.stop()
