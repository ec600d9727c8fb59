"""Shared per-scenario plumbing: a simulator session and timings read from stage records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.harness import simulator_settings
from correlator.lab.simulator.server import RunningSimulator, running_simulator
from correlator.models import Investigation
from correlator.settings import Settings

RULES_ONLY: dict[str, Any] = {"llm": {"model": ""}}


@asynccontextmanager
async def simulator_session(
    path: Path, *, latency_ms: float, base: dict[str, Any] | None = None
) -> AsyncIterator[tuple[RunningSimulator, Settings]]:
    """A simulator (real Prometheus) for ``path`` with ``latency_ms`` per backend request, and
    settings pointing every backend at it (LLM off unless ``base`` configures it)."""
    cm = running_simulator(path, SimulatorConfig(latency_ms=latency_ms))
    sim = await asyncio.to_thread(cm.__enter__)
    try:
        yield sim, simulator_settings(sim.url, sim.scenario, {**RULES_ONLY, **(base or {})})
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)


def _end(inv: Investigation, name: str) -> float | None:
    """Seconds from the first stage's start to the end of stage ``name`` (None if absent)."""
    if not inv.stages:
        return None
    origin = inv.stages[0].started_at
    for st in inv.stages:
        if st.name == name:
            return (st.started_at - origin).total_seconds() + st.elapsed_ms / 1000.0
    return None


def first_note_seconds(inv: Investigation) -> float | None:
    """When the rules note exists: the end of the ``rules`` stage, relative to the start."""
    return _end(inv, "rules")


def evidence_seconds(inv: Investigation) -> float | None:
    return _end(inv, "evidence")


def final_note_seconds(inv: Investigation) -> float | None:
    """The end of the ``llm`` stage (the refined note), relative to the start."""
    return _end(inv, "llm")
