"""A real Prometheus on loopback with a scenario's metrics backfilled (test/demo double helper).

``promtool tsdb create-blocks-from openmetrics <file.om> <dir>`` writes TSDB blocks from the
(time-shifted) ``metrics.om``; then ``prometheus --storage.tsdb.path=<dir>`` serves them with an
empty scrape config. Retention is set to ten years so unshifted (old) scenarios stay queryable.
The process is stopped by its PID (``stop``), never by name.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _die_with_parent() -> None:
    """Linux: SIGTERM the child when the process that started it dies (no orphans)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except OSError:
        return


_EXEMPLAR_OK = {"counter": ("_total",), "histogram": ("_bucket",), "gaugehistogram": ("_bucket",)}


def backfill_text(text: str) -> str:
    """``metrics.om`` minus the exemplars promtool 2.42 refuses to backfill.

    OpenMetrics allows exemplars on counter ``_total`` and histogram ``_bucket`` samples only;
    real exporters also put them on gauges (OTel) and promtool then fails the whole file
    ("metric name ... does not support exemplars"). The simulator answers
    ``/api/v1/query_exemplars`` from the scenario itself, so nothing is lost by stripping them
    from the copy Prometheus gets.
    """
    types: dict[str, str] = {}
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
        elif line and not line.startswith("#") and " # " in line:
            name = line.split("{", 1)[0].split(" ", 1)[0]
            family = next((f for f in types if name == f or name.startswith(f + "_")), None)
            allowed = _EXEMPLAR_OK.get(types[family], ()) if family is not None else ("",)
            if not any(name.endswith(suffix) for suffix in allowed):
                line = line.split(" # ", 1)[0]
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


class PrometheusUnavailable(RuntimeError):
    """prometheus/promtool missing or failed to start."""


def find_binaries() -> tuple[str, str]:
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    if not prom or not tool:
        raise PrometheusUnavailable(
            "prometheus and promtool are required: `sudo apt-get install prometheus` "
            "(Debian/Ubuntu) or `make system-deps`"
        )
    return prom, tool


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrometheusProcess:
    """Backfill + start; ``url`` once ``start`` returned; ``stop`` kills by PID and cleans up."""

    def __init__(self, metrics_text: str, *, workdir: Path | None = None) -> None:
        self._text = metrics_text
        self._own_dir = workdir is None
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="correlator-prom-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backfill(self, promtool: str) -> None:
        om = self.dir / "metrics.om"
        om.write_text(backfill_text(self._text), encoding="utf-8")
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        done = subprocess.run(  # noqa: S603 - fixed argv, our own temp paths
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise PrometheusUnavailable(f"promtool backfill failed: {done.stderr.decode()[-2000:]}")
        om.unlink()

    def start(self, *, ready_timeout: float = 30.0) -> str:
        prom, promtool = find_binaries()
        self.backfill(promtool)
        config = self.dir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n", encoding="utf-8")
        self.port = free_port()
        log = (self.dir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                prom,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                "--storage.tsdb.retention.time=3650d",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log.close()
        self._wait_ready(ready_timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # polling a bounded condition, not waiting blindly
        tail = (self.dir / "prometheus.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise PrometheusUnavailable(f"prometheus did not become ready: {tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
