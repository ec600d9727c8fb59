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
from datetime import datetime
from pathlib import Path
from typing import Any

from correlator.lab.evaluate import CaseOutcome, Report, evaluate, outcome_from
from correlator.lab.scenarios import (
    Scenario,
    ScenarioError,
    Truth,
    discover,
    load_meta,
    load_truth,
)
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.server import RunningSimulator, running_simulator
from correlator.models import AlertmanagerWebhook, Deploy, Investigation
from correlator.settings import Settings
from correlator.wiring import LLMOptions, investigate_once

# Eval replays recorded data to measure the method, not the machine: wall-clock budgets are
# set far above what any case needs, so a loaded CI runner reads the same evidence as an idle
# laptop. (In service, a deadline that drops evidence leaves a ``timeout`` envelope that the
# note lists as unchecked.) ``base`` and the scenario's own settings still override them.
EVAL_BUDGETS: dict[str, Any] = {
    "evidence_deadline_seconds": 600.0,
    **{
        name: {"timeout_seconds": 120.0, "connect_timeout_seconds": 30.0}
        for name in ("prometheus", "tempo", "loki", "grafana")
    },
}


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
    webhook: AlertmanagerWebhook,
    settings: Settings,
    deploys: Sequence[Deploy] = (),
    *,
    now: datetime | None = None,
) -> list[Investigation]:
    """``wiring.investigate_once`` with the scenario's ``deploys.json`` recorded first.

    ``now`` pins the pipeline's clock (the evidence window ends at ``min(startsAt + grace,
    now)``): eval passes the simulator's replay instant, so the window, and with it which
    exemplars and search hits are read, depends on the scenario only, not on how long the
    simulator took to start on a loaded machine.
    """
    llm = LLMOptions(mode="batch", now=now)
    return await investigate_once(webhook, settings, deploys=deploys, llm=llm)


async def _enter(cm: AbstractContextManager[RunningSimulator]) -> RunningSimulator:
    return await asyncio.to_thread(cm.__enter__)


async def run_case(
    path: Path,
    *,
    base: dict[str, Any] | None = None,
    config: SimulatorConfig | None = None,
) -> tuple[Truth, CaseOutcome]:
    truth = load_truth(path)
    cfg = config or SimulatorConfig()
    cm = running_simulator(path, cfg)
    started = time.perf_counter()
    try:
        sim = await _enter(cm)
    except Exception as exc:  # noqa: BLE001 - documented boundary: a broken case is scored, not fatal
        return truth, _tagged(CaseOutcome(id=path.name, error=f"simulator: {exc}"), path)
    try:
        settings = simulator_settings(sim.url, sim.scenario, _merge(EVAL_BUDGETS, base or {}))
        started = time.perf_counter()
        deploys = sim.scenario.deploy_models()
        replay_now = sim.scenario.alert_time + cfg.alert_age
        investigations = await investigate_with_deploys(
            sim.scenario.webhook, settings, deploys, now=replay_now
        )
        outcome = outcome_from(path.name, investigations, time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - documented boundary: one failing case must not stop eval
        outcome = CaseOutcome(
            id=path.name,
            seconds=time.perf_counter() - started,
            error=f"{type(exc).__name__}: {exc}",
        )
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)
    return truth, _tagged(outcome, path)


def _tagged(outcome: CaseOutcome, path: Path) -> CaseOutcome:
    """The outcome with the scenario's origin and dataset (for ``by_origin``/``by_dataset``)."""
    try:
        meta = load_meta(path)
    except ScenarioError:
        return outcome
    ds = meta.dataset
    return outcome.model_copy(
        update={
            "origin": meta.origin,
            "dataset": ds.name if ds else None,
            "dataset_case": dict(ds.case) if ds else None,
        }
    )


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
