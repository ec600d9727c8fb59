"""Backend faults during an investigation (reliability report D14), on the real simulator with a
real Prometheus behind it and a real socket for the failing backend.

- Tempo hangs (accepts the connection, never answers): the rules still rank the deploy
  regression from deploys and metrics, and the evidence stage says ``degraded`` naming Tempo.
- Every backend refuses connections: the evidence stage is ``failed`` with each backend's reason.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from correlator.lab.simulator.harness import investigate_with_deploys, simulator_settings
from correlator.lab.simulator.server import running_simulator
from correlator.models import AlertmanagerWebhook, Investigation
from correlator.settings import Settings
from correlator.wiring import investigate_once

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "scenarios" / "checkout-deploy-regression"
needs_prometheus = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("promtool")),
    reason="needs prometheus + promtool (scripts/system-deps.sh)",
)
pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """A TCP server that accepts connections and reads requests but never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()
    for conn in held:
        conn.close()
    thread.join(timeout=5)


def refused_url() -> str:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def stage(inv: Investigation, name: str) -> tuple[str, str]:
    (found,) = [s for s in inv.stages if s.name == name]
    return found.status, found.detail


@needs_prometheus
async def test_tempo_hanging_keeps_the_deploy_regression(hanging_url: str) -> None:
    """D14: with Tempo hanging, deploys and metrics still give the top hypothesis (the report saw
    ``None``), and the evidence stage is ``degraded`` naming Tempo, not ``ok``."""
    cm = running_simulator(CHECKOUT)
    sim = await asyncio.to_thread(cm.__enter__)
    try:
        tempo = {"url": hanging_url, "timeout_seconds": 0.5, "retries": 0}
        settings = simulator_settings(sim.url, sim.scenario, {"tempo": tempo})
        deploys = sim.scenario.deploy_models()
        (inv,) = await investigate_with_deploys(sim.scenario.webhook, settings, deploys)
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)
    assert inv.analysis is not None
    assert inv.analysis.top is not None
    assert inv.analysis.top.service == "checkout-api"
    assert str(inv.analysis.top.fault_type) == "deploy_regression"
    status, detail = stage(inv, "evidence")
    assert status == "degraded"
    assert "tempo: " in detail
    assert "timeout" in detail
    assert "prometheus" not in detail


async def test_every_backend_down_fails_the_evidence_stage() -> None:
    """D14: when every configured backend refuses connections the evidence stage is ``failed``
    (it said ``ok``), with one reason per backend; the pipeline still finishes."""
    webhook = AlertmanagerWebhook.model_validate_json((CHECKOUT / "alert.json").read_text())
    backend = {"url": refused_url(), "retries": 0}
    settings = Settings(**dict.fromkeys(("prometheus", "tempo", "loki", "grafana"), backend))
    (inv,) = await investigate_once(webhook, settings)
    status, detail = stage(inv, "evidence")
    assert status == "failed", detail
    assert detail.startswith("every backend query failed: ")
    for name in ("prometheus", "tempo", "loki"):
        assert f"{name}: " in detail
