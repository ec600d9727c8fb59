"""``correlator accuracy`` and ``correlator replay --truth feedback`` on a small stored history."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from correlator.cli import main
from correlator.lab.replay.feedback_truth import load_feedback_truth
from correlator.lab.scenarios import load_scenario
from correlator.models import (
    Alert,
    AlertStatus,
    Analysis,
    FaultType,
    FeedbackIn,
    Hypothesis,
    InvestigationStatus,
    RootCause,
    Verdict,
)
from correlator.settings import Settings
from correlator.store import SqlStore

CASE = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"


async def seed(url: str, history: list[tuple[Alert, str, FaultType, FeedbackIn]]) -> None:
    """Done investigations whose top hypothesis blames (service, fault), each with a verdict."""
    store = SqlStore(url)
    await store.create_schema()
    try:
        for alert, service, fault, verdict in history:
            inv, _ = await store.create_or_get(alert)
            top = Hypothesis(service=service, fault_type=fault, statement="x", confidence=0.7)
            done = {"status": InvestigationStatus.DONE, "analysis": Analysis(hypotheses=[top])}
            await store.save(inv.model_copy(update=done))
            assert await store.add_feedback(inv.id, verdict) is not None
    finally:
        await store.close()


def alert(fp: str, name: str, hour: int) -> Alert:
    return Alert(
        fingerprint=fp,
        status=AlertStatus.FIRING,
        labels={"alertname": name, "service": "checkout"},
        starts_at=datetime(2026, 11, 20, hour, tzinfo=UTC),
    )


def test_accuracy_cli_prints_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    ok, partly, wrong = (FeedbackIn(verdict=v) for v in Verdict)
    history = [
        (alert("a1", "HighErrorRate", 1), "payment", FaultType.CODE_ERROR, ok),
        (alert("a2", "HighErrorRate", 2), "payment", FaultType.CODE_ERROR, ok),
        (alert("a3", "HighErrorRate", 3), "payment", FaultType.RESOURCE_CPU, wrong),
        (alert("a4", "SlowCheckout", 4), "cart", FaultType.RESOURCE_CPU, partly),
    ]
    asyncio.run(seed(url, history))
    monkeypatch.setenv("CORRELATOR_DATABASE_URL", url)
    assert main(["accuracy"]) == 0
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
    assert lines["HighErrorRate"] == ["2", "0", "1", "3", "67%"]
    assert lines["SlowCheckout"] == ["0", "1", "0", "1", "0%"]
    assert lines["code_error"] == ["2", "0", "0", "2", "100%"]
    assert lines["resource_cpu"] == ["0", "1", "1", "2", "0%"]
    assert "overall: 2 of 4 confirmed (50%)" in out
    assert main(["accuracy", "--since", "30d", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["overall"]["total"] == 4
    with pytest.raises(SystemExit):
        main(["accuracy", "--since", "soon"])


def test_feedback_truth_confirms_or_corrects_the_top_hypothesis(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'truth.db'}"
    real = RootCause(service="postgres", fault_type="database_slow")
    history = [
        (alert("c1", "A", 1), "payment", FaultType.CODE_ERROR, FeedbackIn(verdict=Verdict.CORRECT)),
        (
            alert("w1", "A", 2),
            "payment",
            FaultType.CODE_ERROR,
            FeedbackIn(verdict=Verdict.WRONG, root_cause=real),
        ),
        (alert("w2", "A", 3), "payment", FaultType.CODE_ERROR, FeedbackIn(verdict=Verdict.WRONG)),
    ]
    asyncio.run(seed(url, history))
    found = asyncio.run(load_feedback_truth(Settings(database_url=url)))
    assert (found.used, found.skipped) == (2, 1)
    assert found.truth["c1"].root_cause.services == ["payment"]
    assert found.truth["c1@2026-11-20T01:00:00.000Z"].root_cause.fault_type is FaultType.CODE_ERROR
    assert found.truth["w1"].root_cause.services == ["postgres"]
    assert found.truth["w1"].root_cause.fault_type is FaultType.DATABASE_SLOW
    assert "w2" not in found.truth


@pytest.mark.e2e
@pytest.mark.timeout(180)
@pytest.mark.skipif(not shutil.which("prometheus"), reason="needs prometheus (system-deps)")
def test_replay_scores_against_stored_feedback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A person said the checkout alert was really a payment memory problem: the replay, which
    still blames checkout-api, scores 0 against that; with a confirming verdict it scores 1."""
    (am_alert,) = load_scenario(CASE).webhook.to_alerts()
    url = f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}"
    monkeypatch.setenv("CORRELATOR_DATABASE_URL", url)
    real = RootCause(service="payment", fault_type="resource_memory")
    wrong = FeedbackIn(verdict=Verdict.WRONG, root_cause=real, by="alice")
    asyncio.run(seed(url, [(am_alert, "checkout-api", FaultType.DEPLOY_REGRESSION, wrong)]))
    out = tmp_path / "out"
    args = ["replay", "--scenarios", str(CASE), "--truth", "feedback", "--out", str(out), "-j", "1"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["accuracy"]["cases"] == 1
    assert report["accuracy"]["ac_at_1"] == 0.0
    assert "truth: 1 verdicts from the database" in capsys.readouterr().err

    async def confirm() -> None:  # alice changes her mind: the proposal was right
        store = SqlStore(url)
        try:
            (inv,) = await store.list()
            await store.add_feedback(inv.id, FeedbackIn(verdict=Verdict.CORRECT, by="alice"))
        finally:
            await store.close()

    asyncio.run(confirm())
    again = tmp_path / "again"
    assert main([*args[:-4], "--out", str(again), "-j", "1"]) == 0
    report = json.loads((again / "report.json").read_text())
    assert report["accuracy"]["ac_at_1"] == 1.0
