"""Process and polling helpers for the stack end-to-end test (loopback only, stop by PID)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")
# what a probe of a starting process may raise: refused connection, half-written JSON, ...
PROBE_ERRORS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.2,
    procs: Sequence[Proc] = (),
) -> T:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout``.

    Exceptions from ``check`` count as "not yet" (the last one is reported). If one of
    ``procs`` dies meanwhile, fail at once with the tail of its log.
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    pause = threading.Event()
    while True:
        try:
            result = check()
        except PROBE_ERRORS as exc:
            last, result = exc, None
        if result:
            return result
        for proc in procs:
            proc.assert_alive()
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last!r}")
        pause.wait(interval)  # poll interval, not a wait for timing


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def assert_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with {code}:\n{self.tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        os.kill(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=timeout)


def start(
    name: str,
    args: Sequence[str | Path],
    *,
    log_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(a) for a in args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    return Proc(name, popen, log)


def prometheus_config(tmp: Path, demo_port: int, am_port: int, cluster: str) -> Path:
    """The shipped rules at test speed (1 s groups, ``for: 0s``); same expressions and labels."""
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"cluster": cluster},
        },
        "rule_files": ["rules.yml"],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "checkout-api",
                "scrape_interval": "1s",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{demo_port}"],
                        "labels": {"service": "checkout-api", "team": "payments"},
                    }
                ],
            }
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_config(tmp: Path, correlator_url: str, token: str) -> Path:
    """The shipped receiver and route, pointed at this correlator, with 1 s grouping."""
    config = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    token_file = tmp / "correlator-webhook-token"
    token_file.write_text(token + "\n")  # trailing newline as editors write it
    config["route"].update({"group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"})
    (hook,) = [h for r in config["receivers"] for h in r.get("webhook_configs", [])]
    hook["url"] = f"{correlator_url}/api/v1/webhooks/alertmanager"
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prom_query(client: httpx.Client, prom: str, expr: str) -> list[dict[str, Any]]:
    body = client.get(f"{prom}/api/v1/query", params={"query": expr}).json()
    return list(body["data"]["result"])


def exemplar_trace_ids(client: httpx.Client, prom: str, expr: str) -> set[str]:
    now = time.time()
    body = client.get(
        f"{prom}/api/v1/query_exemplars",
        params={"query": expr, "start": now - 600, "end": now + 60},
    ).json()
    return {
        ex["labels"]["trace_id"]
        for series in body["data"]
        for ex in series["exemplars"]
        if "trace_id" in ex["labels"]
    }


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not installed: run scripts/system-deps.sh (Debian packages)")
    return path


def correlator_cmd() -> list[str]:
    script = Path(sys.executable).with_name("correlator")
    return [str(script)] if script.exists() else [sys.executable, "-m", "correlator.cli"]


def start_simulator(tmp: Path, port: int) -> Proc | None:
    """The simulator's push endpoints (OTLP ``/v1/traces``, Loki push) stand in for Tempo/Loki."""
    help_run = subprocess.run(
        [*correlator_cmd(), "simulate", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if help_run.returncode != 0:
        return None
    scenario = ROOT / "tests/scenarios/checkout-deploy-regression"
    return start(
        "simulator",
        [*correlator_cmd(), "simulate", scenario, "--port", str(port)],
        log_dir=tmp,
        cwd=ROOT,
    )
