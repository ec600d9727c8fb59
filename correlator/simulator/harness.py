"""Run scenarios through simulator + pipeline (used by ``correlator eval`` and ``demo``).

Each case starts its own simulator (one real Prometheus per scenario, ~0.2 s on loopback),
builds settings pointing every backend at it, runs ``correlator.wiring.investigate_once`` on
the scenario's (time-shifted) alert and scores the result against ``truth.yaml``. Cases run with
bounded concurrency.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from correlator.evaluate import CaseOutcome, Report, evaluate, outcome_from
from correlator.scenario import Scenario, Truth, discover, load_truth
from correlator.settings import Settings
from correlator.simulator.config import SimulatorConfig
from correlator.simulator.server import RunningSimulator, running_simulator


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def simulator_settings(
    sim_url: str, scenario: Scenario, base: dict[str, Any] | None = None
) -> Settings:
    """Settings with every backend at the simulator plus the scenario's operator settings."""
    backends = {name: {"url": sim_url} for name in ("prometheus", "tempo", "loki", "grafana")}
    merged = _merge(_merge(backends, base or {}), scenario.meta.settings)
    return Settings(**merged)


async def _enter(cm: AbstractContextManager[RunningSimulator]) -> RunningSimulator:
    return await asyncio.to_thread(cm.__enter__)


async def run_case(
    path: Path, *, base: dict[str, Any] | None = None, config: SimulatorConfig | None = None
) -> tuple[Truth, CaseOutcome]:
    from correlator.wiring import investigate_once

    truth = load_truth(path)
    cm = running_simulator(path, config or SimulatorConfig())
    started = time.perf_counter()
    try:
        sim = await _enter(cm)
    except Exception as exc:  # noqa: BLE001 - documented boundary: a broken case is scored, not fatal
        return truth, CaseOutcome(id=path.name, error=f"simulator: {exc}")
    try:
        settings = simulator_settings(sim.url, sim.scenario, base)
        started = time.perf_counter()
        investigations = await investigate_once(sim.scenario.webhook, settings)
        outcome = outcome_from(path.name, investigations, time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - documented boundary: one failing case must not stop eval
        outcome = CaseOutcome(
            id=path.name,
            seconds=time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}",
        )
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)
    return truth, outcome


async def run_eval(
    root: Path, *, concurrency: int = 2, base: dict[str, Any] | None = None
) -> Report:
    paths = discover(root)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(p: Path) -> tuple[Truth, CaseOutcome]:
        async with gate:
            return await run_case(p, base=base)

    pairs = await asyncio.gather(*(one(p) for p in paths))
    return evaluate(pairs)
