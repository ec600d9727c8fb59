"""Helpers for tests that run real processes on loopback (free ports, start, poll, stop by PID)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

CORRELATOR = [sys.executable, "-c", "from correlator.cli import main; raise SystemExit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def poll(cond: Callable[[], bool], *, timeout: float, what: str, every: float = 0.05) -> None:
    """Wait for ``cond`` with a bounded deadline (checks every ``every`` seconds)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRELATOR_", "OTEL_"))}
    env.update(extra)
    return env


class Proc:
    def __init__(self, name: str, argv: list[str], *, log: Path, env: dict[str, str], cwd: Path):
        self.name = name
        self.log = log
        self._fh = log.open("ab")
        self.popen = subprocess.Popen(
            argv, stdout=self._fh, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._fh.close()

    def stop(self, timeout: float = 20.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._fh.close()
        return int(self.popen.returncode)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_correlator(tmp: Path, port: int, env: dict[str, str], name: str) -> Proc:
    argv = [*CORRELATOR, "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = Proc(name, argv, log=tmp / f"{name}.log", env=clean_env(**env), cwd=tmp)
    try:
        poll(
            lambda: not proc.alive() or http_ok(f"http://127.0.0.1:{port}/readyz"),
            timeout=60,
            what=f"{name} /readyz",
        )
    except AssertionError:
        proc.stop()
        raise AssertionError(f"{name} did not become ready:\n{proc.output()}") from None
    if not proc.alive():
        raise AssertionError(f"{name} exited early:\n{proc.output()}")
    return proc
