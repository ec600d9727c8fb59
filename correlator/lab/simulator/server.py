"""Run the simulator (real Prometheus + the double's app) on loopback, in-process.

``running_simulator(path, config)`` loads the scenario, time-shifts it (alert fired
``config.alert_age`` before ``config.now``, default: now), backfills and starts Prometheus, and
serves the app with uvicorn in a background thread on a free 127.0.0.1 port. On exit both are
stopped (Prometheus by PID).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from correlator.lab.scenarios import Scenario, load_scenario
from correlator.lab.simulator.app import create_simulator_app
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.promproc import PrometheusProcess


@dataclass
class RunningSimulator:
    url: str
    scenario: Scenario  # time-shifted
    prometheus_url: str | None


def replay(scenario: Scenario, config: SimulatorConfig) -> Scenario:
    if not config.shift:
        return scenario
    now = config.now or datetime.now(UTC)
    return scenario.shifted(scenario.offset_to(now - config.alert_age))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # running in a thread
        return None


@contextmanager
def serve_app(app: object, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an ASGI app in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)  # type: ignore[arg-type]
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20.0
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a bounded condition
    if not server.started:
        server.should_exit = True
        sock.close()
        raise RuntimeError("server did not start")
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def running_simulator(
    path: Path | str, config: SimulatorConfig | None = None, *, port: int = 0
) -> Iterator[RunningSimulator]:
    cfg = config or SimulatorConfig()
    scenario = replay(load_scenario(path), cfg)
    prom: PrometheusProcess | None = None
    if cfg.prometheus and scenario.meta.simulate.prometheus == "up":
        prom = PrometheusProcess(scenario.metrics_text)
    try:
        prom_url = prom.start() if prom is not None else None
        app = create_simulator_app(scenario, cfg, prometheus_url=prom_url)
        with serve_app(app, port=port) as url:
            yield RunningSimulator(url, scenario, prom_url)
    finally:
        if prom is not None:
            prom.stop()
