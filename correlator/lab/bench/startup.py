"""Figure 6, start-up: ``correlator serve`` launch to ``/readyz`` 200, and ``correlator --help``.

Both are wall times of fresh processes (the console script), so they include interpreter start
and imports. ``--help`` must not import litellm (asserted in ``tests/bench``).
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from correlator.lab.bench.service import cli_command, running_service


def help_seconds() -> float:
    started = time.perf_counter()
    argv = [*cli_command(), "--help"]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603 - fixed argv
    return time.perf_counter() - started


def run_startup() -> dict[str, Any]:
    """One run: serve-to-ready seconds and ``--help`` seconds."""
    with running_service() as svc:
        ready = svc.ready_seconds
    return {"serve_to_ready_s": round(ready, 3), "help_s": round(help_seconds(), 3)}
