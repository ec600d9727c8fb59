"""Same backend data, same answer, under any load (issue #19, item 4).

Three imported Nezha cases (one error-ratio alert whose exemplars lead to traces, two latency
alerts that fall back to a Tempo search) run through simulator + pipeline twice: once on an
idle machine, once with every core kept busy by spinning subprocesses. The per-case rankings,
top fault types and the number of evidence items read must be identical. No timing is asserted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from correlator.lab.simulator.harness import run_eval
from tests.lab.conftest import Imported

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]


def _pick(nezha: Imported, dest: Path) -> list[str]:
    by_alert: dict[str, list[str]] = {}
    for case in sorted(nezha.result.cases, key=lambda c: c.id):
        by_alert.setdefault(case.alert["alerts"][0]["labels"]["alertname"], []).append(case.id)
    chosen = by_alert["FrontendErrorRatioHigh"][:1] + by_alert["FrontendLatencyHigh"][:2]
    for cid in chosen:
        shutil.copytree(nezha.out / cid, dest / cid)
    return chosen


@contextmanager
def busy_cpus() -> Iterator[None]:
    """One spinning process per core, stopped by PID afterwards."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)


def test_rankings_are_identical_on_an_idle_and_a_loaded_machine(
    nezha: Imported, tmp_path: Path
) -> None:
    chosen = _pick(nezha, tmp_path)
    idle = asyncio.run(run_eval(tmp_path, concurrency=1))
    with busy_cpus():
        loaded = asyncio.run(run_eval(tmp_path, concurrency=1))
    assert sorted(c.id for c in idle.per_case) == sorted(chosen)
    assert all(c.error is None for c in idle.per_case), [c.error for c in idle.per_case]
    assert {c.id: c.ranked for c in loaded.per_case} == {c.id: c.ranked for c in idle.per_case}
    assert {c.id: c.fault_type for c in loaded.per_case} == {
        c.id: c.fault_type for c in idle.per_case
    }
    assert {c.id: c.evidence for c in loaded.per_case} == {c.id: c.evidence for c in idle.per_case}
