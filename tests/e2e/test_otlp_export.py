"""A real ``correlator serve`` exports its own traces over OTLP/HTTP when (and only when) the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` variable is set."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e._proc import free_port, poll, start_correlator

pytestmark = [pytest.mark.e2e]

FIXTURE = Path(__file__).parent.parent / "fixtures" / "alertmanager"


class Collector(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.bodies: list[tuple[str, bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, fmt: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_investigation_trace_is_exported(tmp_path: Path, collector: Collector) -> None:
    port = free_port()
    env = {
        "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "correlator-e2e",
    }
    proc = start_correlator(tmp_path, port, env, "correlator")
    try:
        body = (FIXTURE / "alertmanager_webhook_01_firing.json").read_bytes()
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 202
        inv_id = r.json()["investigations"][0]["id"].encode()

        needles = (b"investigation", b"stage alert", b"DemoQueueBacklog", b"payments")

        def exported() -> bool:
            # the batch span processor may split one trace's spans over several exports
            seen = b"".join(b for _, b in collector.bodies)
            return inv_id in seen and all(n in seen for n in needles)

        poll(exported, timeout=30, what="OTLP exports carrying the investigation's spans")
        assert {p for p, _ in collector.bodies} == {"/v1/traces"}
        trace = b"".join(b for _, b in collector.bodies)
        assert b"correlator-e2e" in trace
    finally:
        proc.stop()
    # the JSON log line of the run carries the investigation id and the exported trace id
    lines = [json.loads(ln) for ln in (tmp_path / "correlator.log").read_text().splitlines()]
    (done,) = [ln for ln in lines if ln.get("msg") == "pipeline finished"]
    assert done["investigation_id"] == inv_id.decode()
    assert bytes.fromhex(done["trace_id"]) in trace  # OTLP protobuf carries the raw 16 bytes
