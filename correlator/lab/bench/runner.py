"""``run_bench``: every figure, its runs and medians, into one JSON-able dict.

Sizes come from ``BenchPlan`` (``full`` or ``quick``). Figures run one after another (never in
parallel: they measure the same 2-core machine). A figure that fails is recorded with its error
and the others still run.
"""

from __future__ import annotations

import asyncio
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from correlator.lab.bench import figures
from correlator.lab.bench.plan import BenchPlan, Log
from correlator.lab.bench.stats import median, median_or_none, summarize_runs

GOALS = {
    "ingest": (
        "with investigations running, 50 senders: p50 <= 10 ms, p99 <= 50 ms; no loss"
        " (every 202'd id stored)"
    ),
    "first_note": "first note <= 1.3 x (3 x latency + local processing)",
    "llm_vs_naive": (
        "first note <= 1 s; staged final <= 0.6 x naive; staged tokens in <= 0.3 x naive"
    ),
    "storm": (
        "all accepted; one investigation per group; all done <= 60 s; backend requests"
        " <= 1.2 x distinct; peak RSS <= 300 MiB"
    ),
    "replay": "investigations/s with -j 8 (no goal; throughput)",
    "startup": "serve -> /readyz and --help (litellm not imported)",
    "memory": "similar-incident recall p95 < 50 ms with 10,000 stored investigations",
}


def machine() -> dict[str, Any]:
    mem_kib = None
    for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    load = Path("/proc/loadavg").read_text(encoding="ascii").split()[:3]
    return {
        "nproc": _nproc(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "loadavg_at_start": [float(x) for x in load],
        "commit": _git_commit(),
    }


def _nproc() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cpu_model() -> str | None:
    for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH, informative only
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def run_bench(plan: BenchPlan, scenarios_root: Path, *, log: Log = print) -> dict[str, Any]:
    """Run every figure of ``plan`` (or only ``plan.only``); returns the JSON document."""
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["correlator", *sys.argv[1:]]) if sys.argv else "correlator bench",
        "machine": machine(),
        "plan": asdict(plan),
        "figures": {},
    }
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "ingest": lambda: figures.ingest(plan, scenarios_root, log),
        "first_note": lambda: asyncio.run(figures.first_note(plan, scenarios_root, log)),
        "llm_vs_naive": lambda: asyncio.run(figures.llm_vs_naive(plan, scenarios_root, log)),
        "storm": lambda: figures.storm(plan, scenarios_root, log),
        "replay": lambda: figures.replay(plan, scenarios_root, log),
        "startup": lambda: figures.startup(plan, log),
        "memory": lambda: asyncio.run(figures.memory(plan, log)),
    }
    for name, step in steps.items():
        if plan.only and name not in plan.only:
            continue
        log(f"[bench] {name} ...")
        t0 = time.perf_counter()
        try:
            fig = step()
        except Exception as exc:  # noqa: BLE001 - documented boundary: one failing figure is recorded, the rest still run
            fig = {"error": f"{type(exc).__name__}: {exc}"}
        fig["goal"] = GOALS[name]
        fig["elapsed_s"] = round(time.perf_counter() - t0, 1)
        doc["figures"][name] = fig
        log(f"[bench] {name} done in {fig['elapsed_s']} s")
    doc["duration_s"] = round(time.perf_counter() - started, 1)
    return doc


__all__ = ["BenchPlan", "machine", "median", "median_or_none", "run_bench", "summarize_runs"]
