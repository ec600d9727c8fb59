"""Figure 5, replay throughput: investigations/s over recorded scenarios with ``-j`` workers.

Uses ``correlator.lab.replay.runner.run_replay`` (what ``correlator replay`` runs) on scenario work
items, the 37-scenario corpus cycled to ``items`` keys (each item starts its own simulator with
a real Prometheus, as ``correlator replay``/``eval`` do), into a temporary output directory.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from correlator.lab.replay.runner import run_replay
from correlator.lab.replay.sources import WorkItem
from correlator.lab.scenarios import discover
from correlator.settings import Settings


def run_replay_throughput(root: Path, *, items: int = 100, jobs: int = 8) -> dict[str, Any]:
    paths = discover(root)
    work = [
        WorkItem(f"scenario:{p.name}#{n}", "scenario", scenario=p)
        for n, p in zip(range(items), itertools.cycle(paths), strict=False)
    ]
    settings = Settings.model_validate({"llm": {"model": ""}})
    with tempfile.TemporaryDirectory(prefix="correlator-bench-replay-") as tmp:
        started = time.perf_counter()
        rows = asyncio.run(run_replay(work, settings, Path(tmp), concurrency=jobs))
        elapsed = time.perf_counter() - started
    errors = sum(1 for r in rows if r.error)
    return {
        "runner": "correlator.lab.replay.runner.run_replay",
        "items": len(work),
        "jobs": jobs,
        "seconds": round(elapsed, 3),
        "investigations_per_s": round(len(rows) / elapsed, 3) if elapsed else None,
        "errors": errors,
    }
