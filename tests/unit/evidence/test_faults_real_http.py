"""``gather`` with the REAL connectors against misbehaving HTTP backends on 127.0.0.1 sockets.

One loopback server plays every backend: Prometheus answers exemplars (the captured response) but
500 on ``query_range``; Tempo accepts the connection and never answers; Loki closes the connection
without a response; Grafana answers 429 with ``Retry-After``. The investigation must still come
back within the evidence deadline, with the exemplars it got and every failure named.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors._http import build_client
from connectors.grafana import GrafanaAnnotations
from connectors.loki import LokiSource
from connectors.prometheus import PrometheusSource
from connectors.tempo import TempoSource
from correlator.evidence import EvidenceSources, gather
from correlator.models import AlertmanagerWebhook, EvidenceStatus
from correlator.settings import Settings

pytestmark = pytest.mark.timeout(60)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
EXEMPLARS = (FIX / "evidence" / "prometheus_query_exemplars.json").read_bytes()


class Backends:
    """A raw asyncio HTTP/1.1 server; behaviour chosen by path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.hung = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for w in list(self._writers):
            w.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                self.paths.append(path)
                if not await self._answer(path, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return  # client gone, or the test is tearing the server down
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        if path.startswith("/api/v1/query_exemplars"):
            self._send(writer, 200, EXEMPLARS)
        elif path.startswith("/api/v1/"):
            self._send(writer, 500, b'{"status":"error","errorType":"internal","error":"boom"}')
        elif path.startswith("/api/v2/traces/") or path.startswith("/api/traces/"):
            self.hung.set()
            await asyncio.Event().wait()  # accept, never answer
        elif path.startswith("/loki/"):
            return False  # close without a response
        elif path.startswith("/api/annotations"):
            self._send(writer, 429, b"slow down", extra=b"Retry-After: 1\r\n")
        else:
            self._send(writer, 404, b"not found")
        await writer.drain()
        return True

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, body: bytes, extra: bytes = b"") -> None:
        writer.write(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%b\r\n%b"
            % (status, len(body), extra, body)
        )


@pytest.fixture
async def backends() -> AsyncIterator[tuple[Backends, str]]:
    b = Backends()
    url = await b.start()
    yield b, url
    await b.close()


async def test_faulty_backends_still_yield_a_bundle_naming_what_is_missing(
    backends: tuple[Backends, str],
) -> None:
    server, url = backends
    fast = {"url": url, "timeout_seconds": 0.4, "connect_timeout_seconds": 0.4, "retries": 1}
    settings = Settings(
        prometheus={**fast, "external_labels": ["env"], "max_exemplars": 2},
        tempo=fast,
        loki=fast,
        grafana=fast,
        evidence_deadline_seconds=4.0,
    )  # type: ignore[arg-type]
    clients = [
        build_client(b)
        for b in (settings.prometheus, settings.tempo, settings.loki, settings.grafana)
    ]
    prom = PrometheusSource(clients[0], settings.prometheus)
    tempo = TempoSource(clients[1], settings.tempo)
    sources = EvidenceSources(
        exemplars=prom,
        metrics=prom,
        rule_exprs=prom,
        traces=tempo,
        trace_search=tempo,
        logs=LokiSource(clients[2], settings.loki),
        annotations=GrafanaAnnotations(clients[3], settings.grafana),
    )
    hook = AlertmanagerWebhook.model_validate_json(
        (FIX / "alertmanager" / "alertmanager_webhook_02_firing.json").read_text()
    )
    try:
        bundle = await gather(hook.to_alerts()[0], sources=sources, settings=settings)
    finally:
        for c in clients:
            await c.aclose()

    assert server.hung.is_set()
    by_id = {e.id: e for e in bundle.items}
    assert len(bundle.exemplars) == 2
    ex = next(e for e in bundle.items if e.id.startswith("exemplars:"))
    assert ex.status is EvidenceStatus.OK
    for e in bundle.exemplars:
        assert by_id[f"trace:{e.trace_id}"].status is EvidenceStatus.TIMEOUT  # Tempo hangs
        assert by_id[f"logs:{e.trace_id}"].status in (EvidenceStatus.ERROR, EvidenceStatus.TIMEOUT)
    assert by_id["metric:alert"].status is EvidenceStatus.ERROR  # Prometheus 500
    assert "500" in (by_id["metric:alert"].error or "")
    assert by_id["deploys:grafana"].status in (EvidenceStatus.ERROR, EvidenceStatus.TIMEOUT)
    assert by_id["deploys:deploy_api"].status is EvidenceStatus.NOT_CONFIGURED
    missing = {e.id for e in bundle.missing()}
    assert {f"trace:{e.trace_id}" for e in bundle.exemplars} <= missing
    assert {"metric:alert", "deploys:grafana", "deploys:deploy_api"} <= missing
    assert bundle.traces == []
    assert bundle.trace_logs == []
    assert any(p.startswith("/loki/api/v1/query_range") for p in server.paths)
