"""Figure 2, time to first note (rules only) against its lower bound.

Per scenario: a simulator with ``latency_ms`` added to every backend request, then one with no
added latency. The first note exists when the ``rules`` stage ends. The exemplar -> trace ->
logs chain is three sequential round trips, so the bound is ``3 x latency`` plus the local
processing measured at latency 0. Each session starts with one discarded warm-up run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from correlator.lab.bench.scenarios import first_note_seconds, simulator_session
from correlator.lab.bench.stats import median_or_none, ratio
from correlator.models import Investigation
from correlator.wiring import investigate_once

ROUND_TRIPS = 3


async def rules_runs(
    path: Path, *, latency_ms: float, runs: int
) -> tuple[list[float | None], Investigation | None]:
    """First-note seconds of ``runs`` investigations (after a warm-up), and the last one."""

    times: list[float | None] = []
    last: Investigation | None = None
    async with simulator_session(path, latency_ms=latency_ms) as (sim, settings):
        await investigate_once(sim.scenario.webhook, settings)  # warm-up, discarded
        for _ in range(runs):
            invs = await investigate_once(sim.scenario.webhook, settings)
            last = invs[0] if invs else None
            times.append(first_note_seconds(last) if last is not None else None)
    return times, last


async def first_note_case(
    path: Path, *, latency_ms: float, runs: int
) -> tuple[dict[str, Any], Investigation | None]:
    """One scenario's row (every run kept) and the last latency-added investigation."""
    slow, last = await rules_runs(path, latency_ms=latency_ms, runs=runs)
    local, _ = await rules_runs(path, latency_ms=0.0, runs=runs)
    t_slow, t_local = median_or_none(slow), median_or_none(local)
    bound = None if t_local is None else ROUND_TRIPS * latency_ms / 1000.0 + t_local
    r = ratio(t_slow, bound)
    row = {
        "scenario": path.name,
        "latency_ms": latency_ms,
        "first_note_s": _r(t_slow),
        "local_s": _r(t_local),
        "bound_s": _r(bound),
        "ratio": None if r is None else round(r, 3),
        "runs_first_note_s": [_r(v) for v in slow],
        "runs_local_s": [_r(v) for v in local],
    }
    return row, last


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
