"""Three ``correlator serve`` processes on one real PostgreSQL database.

- the same alerts POSTed concurrently to every replica make one investigation each; every
  replica serves every investigation (read API and SSE), whoever ran it;
- the periodic jobs run on one replica only (the advisory-lock leader): ``prune`` (due at start,
  hourly) ran exactly once across the three, ``requeue_stuck`` (every second) on one replica;
- each note reaches the webhook notifier once (a loopback HTTP server counting POSTs);
- ``kill -9`` of the replica whose worker is inside a backend call (a loopback Prometheus that
  never answers the first request) leads another replica to take the expired lease and finish.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e._proc import Proc, free_port, poll, start_correlator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ALERTS = Path(__file__).parent.parent / "fixtures" / "alertmanager"
FIRING = ALERTS / "alertmanager_webhook_01_firing.json"
LEGACY = ALERTS / "prometheus-msteams_prom_post_request.json"
TOKEN = "replicas-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def bodies(n: int) -> list[dict[str, Any]]:
    base = json.loads(FIRING.read_text())
    start = datetime(2026, 11, 21, 16, 32, 54, tzinfo=UTC)
    out = []
    for i in range(n):
        body = copy.deepcopy(base)
        alert = body["alerts"][0]
        alert["fingerprint"] = f"{i:016x}"
        alert["labels"]["instance"] = f"10.0.0.{i}:8080"
        alert["startsAt"] = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        out.append(body)
    return out


class NotifierSink:
    """A loopback webhook receiver that records every POSTed JSON body."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                sink.posts.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HangFirst:
    """A loopback 'Prometheus': the first request never gets an answer, later ones get 503."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.requests.append(conn.recv(65536))
            if len(self.requests) == 1:
                self._held.append(conn)  # in flight until the replica dies
                continue
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


class SseReader:
    """Reads an SSE stream in a thread until the server ends it."""

    def __init__(self, url: str) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self.thread.start()

    def _read(self, url: str) -> None:
        with httpx.stream("GET", url, timeout=httpx.Timeout(120.0)) as r:
            for line in r.iter_lines():
                self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines)


class Cluster:
    def __init__(self, tmp: Path, database_url: str, **env: str) -> None:
        self.tmp = tmp
        self.env = {
            "CORRELATOR_DATABASE_URL": database_url,
            "CORRELATOR_WEBHOOK_TOKEN": TOKEN,
            "CORRELATOR_WORKERS": "2",
            "CORRELATOR_GROUPING": "alert",  # distinct alerts of one group: one each
            "CORRELATOR_STUCK_AFTER_SECONDS": "4",  # lease 4 s; requeue job every 1.3 s
            **env,
        }
        self.ports = [free_port() for _ in range(3)]
        self.procs: list[Proc] = []

    def start(self) -> None:
        with ThreadPoolExecutor(3) as pool:
            self.procs = list(
                pool.map(
                    lambda i: start_correlator(self.tmp, self.ports[i], self.env, f"replica-{i}"),
                    range(3),
                )
            )

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.stop()

    def statuses(self, client: httpx.Client, i: int = 0) -> dict[str, str]:
        r = client.get(f"{self.url(i)}/api/v1/investigations", params={"limit": 500})
        return {item["id"]: item["status"] for item in r.json()["items"]}


def metric(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)"
    found = re.search(r"^" + pattern + r"$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def query(url: str, sql: str) -> list[Any]:
    async def run() -> list[Any]:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def sink() -> Iterator[NotifierSink]:
    s = NotifierSink()
    yield s
    s.close()


def test_three_replicas_one_investigation_one_scheduler_one_note(
    pg_url: str, tmp_path: Path, sink: NotifierSink
) -> None:
    cluster = Cluster(tmp_path, pg_url, CORRELATOR_WEBHOOK__URL=sink.url)
    cluster.start()
    try:
        with httpx.Client(timeout=30) as client:
            sends = [(i % 3, body) for body in bodies(10) for i in range(6)]

            def post(item: tuple[int, dict[str, Any]]) -> tuple[str, str]:
                i, body = item
                r = client.post(
                    f"{cluster.url(i)}/api/v1/webhooks/alertmanager", json=body, headers=AUTH
                )
                assert r.status_code == 202, r.text
                return body["alerts"][0]["fingerprint"], r.json()["investigations"][0]["id"]

            with ThreadPoolExecutor(12) as pool:
                answers = list(pool.map(post, sends))
            ids: dict[str, set[str]] = {}
            for fingerprint, inv_id in answers:
                ids.setdefault(fingerprint, set()).add(inv_id)
            assert len(ids) == 10
            assert all(len(v) == 1 for v in ids.values()), ids
            expected = {next(iter(v)) for v in ids.values()}

            poll(
                lambda: cluster.statuses(client, 2) == dict.fromkeys(expected, "done"),
                timeout=120,
                what="all ten investigations done",
            )
            # any replica serves any investigation, its event stream included
            for n, inv_id in enumerate(sorted(expected)):
                i = n % 3
                got = client.get(f"{cluster.url(i)}/api/v1/investigations/{inv_id}").json()
                assert got["status"] == "done"
                events = client.get(f"{cluster.url(i)}/api/v1/investigations/{inv_id}/events")
                assert "event: finished" in events.text

            poll(
                lambda: (
                    len(sink.posts) >= 10
                    and not query(
                        pg_url, "SELECT 1 FROM notifications WHERE state IN ('pending','retrying')"
                    )
                ),
                timeout=60,
                what="every note delivered",
            )
            per_note = Counter((p["investigation_id"], p["phase"]) for p in sink.posts)
            assert {inv for inv, _ in per_note} == expected
            assert set(per_note.values()) == {1}, per_note

            def scrape() -> list[str]:
                return [client.get(f"{cluster.url(i)}/metrics").text for i in range(3)]

            job = 'job="requeue_stuck"'
            poll(
                lambda: (
                    sum(metric(t, "correlator_scheduler_job_runs_total", job) for t in scrape())
                    >= 4
                ),
                timeout=60,
                what="a few requeue_stuck periods",
            )
            texts = scrape()
            runs = [metric(t, "correlator_scheduler_job_runs_total", job) for t in texts]
            assert sum(1 for r in runs if r > 0) == 1, runs  # one replica runs the job
            prunes = [
                metric(t, "correlator_scheduler_job_runs_total", 'job="prune"') for t in texts
            ]
            assert sum(prunes) == 1, prunes  # due at every start, hourly: run once in all
            leaders = [metric(t, "correlator_scheduler_leader") for t in texts]
            assert leaders.count(1.0) == 1, leaders
    finally:
        cluster.stop()


def test_kill_9_of_the_replica_holding_work_lets_another_finish_it(
    pg_url: str, tmp_path: Path
) -> None:
    hang = HangFirst()
    cluster = Cluster(
        tmp_path,
        pg_url,
        CORRELATOR_PROMETHEUS__URL=hang.url,
        CORRELATOR_PROMETHEUS__TIMEOUT_SECONDS="600",
        CORRELATOR_PROMETHEUS__RETRIES="0",
    )
    cluster.start()
    try:
        with httpx.Client(timeout=30) as client:
            r = client.post(
                f"{cluster.url(0)}/api/v1/webhooks/alertmanager",
                json=json.loads(LEGACY.read_text()),
                headers=AUTH,
            )
            assert r.status_code == 202, r.text
            inv_id = r.json()["investigations"][0]["id"]
            poll(lambda: len(hang.requests) >= 1, timeout=30, what="the hanging backend call")
            (row,) = query(
                pg_url, f"SELECT status, lease_owner FROM investigations WHERE id = '{inv_id}'"
            )
            assert row["status"] == "running"
            pid = int(row["lease_owner"].split(":")[1])
            (holder,) = [p for p in cluster.procs if p.pid == pid]
            others = [i for i, p in enumerate(cluster.procs) if p is not holder]
            # a live SSE stream on a replica that is not running the investigation
            stream = SseReader(f"{cluster.url(others[1])}/api/v1/investigations/{inv_id}/events")
            poll(lambda: "event: started" in stream.text(), timeout=30, what="live SSE event")
            holder.kill9()

            poll(
                lambda: cluster.statuses(client, others[0]).get(inv_id) == "done",
                timeout=90,
                what="another replica to finish the killed replica's investigation",
            )
            inv = client.get(f"{cluster.url(others[1])}/api/v1/investigations/{inv_id}").json()
            assert inv["attempts"] == 2  # claimed by the dead replica, then by a live one
            assert [s["name"] for s in inv["stages"]] == ["alert", "evidence", "rules", "llm"]
            assert len(hang.requests) >= 2  # the live replica asked the backend again (503)
            stream.thread.join(timeout=30)  # the stream ends by itself once the run is finished
            assert not stream.thread.is_alive()
            assert stream.text().count("event: started") == 2  # both attempts, live
            assert "event: finished" in stream.text()
    finally:
        hang.close()
        cluster.stop()
