"""Memory across incidents: the second occurrence of a problem carries the first, with the cause
someone confirmed, as evidence; the note shows the track record beside the confidence.

Real parts: the scenario simulator (a real Prometheus behind it), the full pipeline through
``correlator.wiring.open_runtime`` and one SQLite store shared by both incidents.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from correlator.lab.simulator.harness import simulator_settings
from correlator.lab.simulator.server import RunningSimulator, running_simulator
from correlator.metrics import Metrics
from correlator.models import FeedbackIn, Investigation, InvestigationStatus, Verdict
from correlator.wiring import Runtime, open_runtime

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

CASE = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(CASE) as running:
        yield running


async def investigate(rt: Runtime, sim: RunningSimulator, shift: timedelta) -> Investigation:
    """Run the scenario's alert (its start moved by ``shift``: a new occurrence) to the end."""
    (alert,) = sim.scenario.webhook.to_alerts()
    alert = alert.model_copy(update={"starts_at": alert.starts_at + shift})
    await rt.store.create_or_get(alert)
    claimed = await rt.store.claim_next(rt.owner, 600.0)
    assert claimed is not None

    async def checkpoint(progress: Investigation) -> None:
        await rt.store.save(progress, owner=rt.owner)

    result = await rt.runner()(claimed, checkpoint)
    await rt.store.save(
        result.model_copy(update={"status": InvestigationStatus.DONE}), owner=rt.owner
    )
    got = await rt.store.get(result.id)
    assert got is not None
    return got


async def test_second_similar_incident_carries_the_confirmed_first(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    base = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'memory.db'}"}
    settings = simulator_settings(sim.url, sim.scenario, base)
    async with open_runtime(settings, metrics=Metrics(), notify=False) as rt:
        for deploy in sim.scenario.deploy_models():
            await rt.store.add_deploy(deploy)
        first = await investigate(rt, sim, timedelta(0))
        assert first.evidence is not None
        assert first.evidence.memory is None  # nothing remembered yet
        top = first.analysis.top if first.analysis else None
        assert top is not None
        assert rt.feedback is not None
        note = FeedbackIn(verdict=Verdict.CORRECT, by="alice", note="rolled back to 2.4.0")
        assert await rt.feedback.add_feedback(first.id, note) is not None

        second = await investigate(rt, sim, timedelta(minutes=1))

    assert second.evidence is not None
    memory = second.evidence.memory
    assert memory is not None
    assert memory.similar_count == 1
    (past,) = memory.similar
    assert past.investigation_id == first.id
    assert past.verdict is Verdict.CORRECT
    assert past.cause_service == top.service
    assert past.fix == "rolled back to 2.4.0"
    item = next(e for e in second.evidence.items if e.id == memory.evidence_id)
    assert item.summary.startswith("1 similar incident in 30 days; 1 confirmed: " + top.service)
    assert item.summary.endswith("fixed by rolled back to 2.4.0")
    second_top = second.analysis.top if second.analysis else None
    assert second_top is not None
    assert second_top.service == top.service  # the evidence decides; the prior agrees
    assert memory.evidence_id in second_top.evidence_ids
    assert second.note is not None
    assert "confidence; this alert: 1 of 1 confirmed" in second.note
