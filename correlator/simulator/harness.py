"""Run scenarios through simulator + pipeline (used by ``correlator eval`` and ``demo``).

Each case starts its own simulator (one real Prometheus per scenario, ~0.2 s on loopback),
builds settings pointing every backend at it, runs the pipeline on the scenario's (time-shifted)
alert and scores the result against ``truth.yaml``. Cases run with bounded concurrency.

The pipeline call, ``investigate_with_deploys``, is ``correlator.wiring.investigate_once`` (same
runtime, temporary SQLite store, no notifications, LLM in batch mode) plus the scenario's
``deploys.json`` recorded in the store first, as CI/CD would have POSTed them to
``/api/v1/deploys`` (``investigate_once`` cannot take them).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from correlator.evaluate import CaseOutcome, Report, evaluate, outcome_from
from correlator.metrics import Metrics
from correlator.models import AlertmanagerWebhook, Deploy, Investigation, InvestigationStatus
from correlator.scenario import Scenario, Truth, discover, load_truth
from correlator.settings import Settings
from correlator.simulator.config import SimulatorConfig
from correlator.simulator.server import RunningSimulator, running_simulator

if TYPE_CHECKING:
    from correlator.wiring import Runtime


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


async def investigate_with_deploys(
    webhook: AlertmanagerWebhook,
    settings: Settings,
    deploys: Sequence[Deploy] = (),
    *,
    schema_lock: asyncio.Lock | None = None,
) -> list[Investigation]:
    """What ``wiring.investigate_once`` does, plus ``deploys`` recorded in the temporary store
    first. ``schema_lock`` serialises opening the runtime: the Alembic schema upgrade is not
    safe to run concurrently within one process."""
    from correlator.wiring import LLMOptions, open_runtime

    results: list[Investigation] = []
    with tempfile.TemporaryDirectory(prefix="correlator-eval-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}"
        once = settings.model_copy(update={"database_url": url})
        cm = open_runtime(once, metrics=Metrics(), notify=False, llm=LLMOptions(mode="batch"))
        async with schema_lock or asyncio.Lock():
            rt = await cm.__aenter__()
        try:
            for deploy in deploys:
                await rt.store.add_deploy(deploy)
            for alert in webhook.to_alerts():
                await rt.store.create_or_get(alert)
            while (claimed := await rt.store.claim_next(rt.owner, 3600.0)) is not None:
                results.append(await _run_claimed(rt, claimed))
        finally:
            await cm.__aexit__(None, None, None)
    return results


async def _run_claimed(rt: Runtime, claimed: Investigation) -> Investigation:
    async def checkpoint(progress: Investigation) -> None:
        await rt.store.save(progress, owner=rt.owner)

    result = await rt.runner()(claimed, checkpoint)
    done = {"status": InvestigationStatus.DONE, "finished_at": datetime.now(UTC)}
    final = result.model_copy(update=done)
    await rt.store.save(final, owner=rt.owner)
    return await rt.store.get(final.id) or final


async def _enter(cm: AbstractContextManager[RunningSimulator]) -> RunningSimulator:
    return await asyncio.to_thread(cm.__enter__)


async def run_case(
    path: Path,
    *,
    base: dict[str, Any] | None = None,
    config: SimulatorConfig | None = None,
    schema_lock: asyncio.Lock | None = None,
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
        investigations = await investigate_with_deploys(
            sim.scenario.webhook, settings, deploys, schema_lock=schema_lock
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
    return truth, outcome


async def run_eval(
    root: Path, *, concurrency: int = 2, base: dict[str, Any] | None = None
) -> Report:
    paths = discover(root)
    gate = asyncio.Semaphore(max(1, concurrency))
    schema_lock = asyncio.Lock()

    async def one(p: Path) -> tuple[Truth, CaseOutcome]:
        async with gate:
            return await run_case(p, base=base, schema_lock=schema_lock)

    pairs = await asyncio.gather(*(one(p) for p in paths))
    return evaluate(pairs)
