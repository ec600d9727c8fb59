"""Run scenarios through simulator + pipeline (used by ``correlator eval`` and ``demo``).

Each case starts its own simulator (one real Prometheus per scenario, ~0.2 s on loopback),
builds settings pointing every backend at it, runs the pipeline on the scenario's (time-shifted)
alert and scores the result against ``truth.yaml``. Cases run with bounded concurrency.

The pipeline call is ``correlator.wiring.investigate_once`` (temporary SQLite store, no
notifications, LLM in batch mode) with the scenario's ``deploys.json`` recorded in the store
first, as CI/CD would have POSTed them to ``/api/v1/deploys``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from correlator.lab.evaluate import CaseOutcome, Report, evaluate, outcome_from
from correlator.lab.scenarios import Scenario, Truth, discover, load_truth
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.server import RunningSimulator, running_simulator
from correlator.models import AlertmanagerWebhook, Deploy, Investigation
from correlator.settings import Settings
from correlator.wiring import investigate_once


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def simulator_settings(
    sim_url: str, scenario: Scenario, base: dict[str, Any] | None = None
) -> Settings:
    """Settings with every backend at the simulator plus the scenario's operator settings
    (a scenario with ``git/`` also gets the simulator as its Git provider's API)."""
    backends: dict[str, Any] = {
        name: {"url": sim_url} for name in ("prometheus", "tempo", "loki", "grafana")
    }
    if scenario.git:  # recorded compare responses: the simulator is the Git provider
        gitlab = any(name.startswith("gitlab/") for name in scenario.git)
        api = f"{sim_url}/api/v4" if gitlab else sim_url
        backends["git"] = {"provider": "gitlab" if gitlab else "github", "api_url": api}
    merged = _merge(_merge(backends, base or {}), scenario.meta.settings)
    return Settings(**merged)


async def investigate_with_deploys(
    webhook: AlertmanagerWebhook, settings: Settings, deploys: Sequence[Deploy] = ()
) -> list[Investigation]:
    """``wiring.investigate_once`` with the scenario's ``deploys.json`` recorded first."""

    return await investigate_once(webhook, settings, deploys=deploys)


async def _enter(cm: AbstractContextManager[RunningSimulator]) -> RunningSimulator:
    return await asyncio.to_thread(cm.__enter__)


async def run_case(
    path: Path,
    *,
    base: dict[str, Any] | None = None,
    config: SimulatorConfig | None = None,
) -> tuple[Truth, CaseOutcome]:
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
        deploys = sim.scenario.deploy_models()
        investigations = await investigate_with_deploys(sim.scenario.webhook, settings, deploys)
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
