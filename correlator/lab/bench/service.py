"""A real ``correlator serve`` subprocess on loopback for the benchmarks.

``running_service(env)`` starts the console script (uvicorn inside) on a free 127.0.0.1 port
with a fresh SQLite file, waits for ``/readyz`` (polled, bounded) and stops it by PID on exit.
It records the launch-to-ready time; ``peak_rss_kib`` reads ``VmHWM`` from ``/proc``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


class ServiceError(RuntimeError):
    """The service did not start or answer in time."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cli_command() -> list[str]:
    """The installed ``correlator`` console script next to this interpreter (else ``-c``)."""
    script = Path(sys.executable).with_name("correlator")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from correlator.cli import main; sys.exit(main())"]


def peak_rss_kib(pid: int) -> int | None:
    """``VmHWM`` (peak resident set) of a live process in KiB, None if unreadable."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def child_pids(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (``/proc``): the service's worker processes."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def peak_rss_tree_kib(pid: int) -> int | None:
    """Sum of ``VmHWM`` over the service and its children (worker processes, and
    multiprocessing's resource tracker): an upper bound of the tree's peak footprint."""
    own = peak_rss_kib(pid)
    if own is None:
        return None
    return own + sum(peak_rss_kib(c) or 0 for c in child_pids(pid))


@dataclass
class Service:
    url: str
    pid: int
    db_path: Path
    ready_seconds: float


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll ``/readyz`` until 200 (bounded); raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceError(f"correlator serve exited with {proc.returncode}")
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.005)  # polling a bounded condition
    raise ServiceError(f"/readyz not 200 within {timeout:g}s")


def wait_workers(url: str, count: int, timeout: float) -> None:
    """Poll ``/readyz`` until ``count`` worker processes are up (bounded): a storm or a load
    hits a service that has been running, not one still importing its workers."""
    if count <= 0:
        return
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            body = client.get(f"{url}/readyz").json()
            if int(body.get("worker_processes_ready", 0)) >= count:
                return
            time.sleep(0.1)  # polling a bounded condition
    raise ServiceError(f"{count} worker process(es) not ready within {timeout:g}s")


@contextmanager
def running_service(
    env: dict[str, str] | None = None,
    *,
    timeout: float = 60.0,
    log_path: Path | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[Service]:
    """``correlator serve [args]`` with ``env`` (CORRELATOR_* settings) over a temporary SQLite
    file."""
    with tempfile.TemporaryDirectory(prefix="correlator-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        port = free_port()
        full = {k: v for k, v in os.environ.items() if not k.startswith("CORRELATOR_")}
        full.update(
            {
                "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                "CORRELATOR_LOG_LEVEL": "WARNING",
                **(env or {}),
            }
        )
        log = (log_path or Path(tmp) / "serve.log").open("wb")
        started = time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - fixed argv (our console script)
            [*cli_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc, timeout)
            ready = time.perf_counter() - started
            yield Service(url=url, pid=proc.pid, db_path=db, ready_seconds=ready)
        finally:
            _stop(proc)
            log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
