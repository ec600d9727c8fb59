"""``correlator demo``: the checkout scenario end to end on one machine.

Starts the simulator (test/demo double + a real Prometheus) on
``tests/scenarios/checkout-deploy-regression``, starts the service (``correlator.api.create_app``,
SQLite in a temp dir, rules only unless an LLM is configured) with uvicorn in-process, POSTs the
scenario's deploys and its alert exactly as CI and Alertmanager would, waits for the
investigation, prints the note and its URL. ``--once`` exits after that; otherwise it keeps
serving until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

APT_HINT = "sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus"


def ensure_prometheus() -> bool:
    """prometheus + promtool on PATH; installs them with apt when root, else says how."""
    if shutil.which("prometheus") and shutil.which("promtool"):
        return True
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing prometheus (apt-get) ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for argv in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"],
        ):
            subprocess.run(argv, check=False, env=env)  # noqa: S603 - fixed argv
        if shutil.which("prometheus") and shutil.which("promtool"):
            return True
    print(f"prometheus and promtool are needed for the demo. Install them with:\n  {APT_HINT}")
    print("(or run `make system-deps`; other systems: https://prometheus.io/download/)")
    return False


def _wait_investigation(client: httpx.Client, inv_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/investigations/{inv_id}")
        if r.status_code == 200:
            body = r.json()
            if body.get("status") in ("done", "failed"):
                return body
        time.sleep(0.2)  # polling a bounded condition
    return body


def _post_alert(client: httpx.Client, alert: dict[str, Any]) -> str:
    r = client.post(
        "/api/v1/webhooks/alertmanager",
        content=json.dumps(alert).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"},
    )
    r.raise_for_status()
    return str(r.json()["investigations"][0]["id"])


def run_demo(scenario: Path, *, port: int, once: bool, timeout: float) -> int:
    if not ensure_prometheus():
        return 2
    from correlator.api import create_app
    from correlator.lab.simulator.harness import simulator_settings
    from correlator.lab.simulator.promproc import free_port
    from correlator.lab.simulator.server import running_simulator, serve_app

    with (
        tempfile.TemporaryDirectory(prefix="correlator-demo-") as tmp,
        running_simulator(scenario) as sim,
    ):
        print(f"simulator (test/demo double) for {sim.scenario.id}: {sim.url}")
        port = port if port and _port_free(port) else free_port()
        base = {
            "database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
            "port": port,
            "public_url": f"http://127.0.0.1:{port}",
        }
        app = create_app(simulator_settings(sim.url, sim.scenario, base))
        with serve_app(app, port=port) as url:
            return _drive(url, sim.scenario, once=once, timeout=timeout)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _drive(url: str, scenario: Any, *, once: bool, timeout: float) -> int:
    print(f"correlator: {url}")
    with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
        for deploy in scenario.deploys:
            client.post("/api/v1/deploys", json=deploy).raise_for_status()
        inv_id = _post_alert(client, scenario.alert)
        print(f"alert posted as Alertmanager would; investigation {inv_id}")
        body = _wait_investigation(client, inv_id, timeout)
    link = f"{url}/ui/investigations/{inv_id}"
    if body.get("note"):
        print()
        print(body["note"])
        print()
    else:
        print(
            f"no note (status: {body.get('status')}, error: {body.get('error')})", file=sys.stderr
        )
        for h in ((body.get("analysis") or {}).get("hypotheses") or [])[:3]:
            print(f"  - {h.get('service')}: {h.get('fault_type')} ({h.get('confidence')})")
    print(f"investigation: {link}")
    ok = bool(body.get("note")) and body.get("status") == "done"
    if once:
        return 0 if ok else 1
    print("running; Ctrl-C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping")
    return 0 if ok else 1
