"""The replay report: rows, summary by alertname/service, evidence counts, truth accuracy, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from correlator.cli import main
from correlator.lab.evaluate import CaseOutcome
from correlator.lab.replay.report import TruthError, build_report, load_truth_map, render_markdown
from correlator.lab.replay.runner import ReplayRow
from correlator.models.analysis import FaultType
from tests.replay.test_sources import BODIES, body, write_jsonl


def row(key: str, alertname: str, service: str, ranked: list[str], **extra: object) -> ReplayRow:
    fp = key.split("@")[0]
    faults = [FaultType.DEPLOY_REGRESSION] * len(ranked)
    outcome = CaseOutcome(id=key, ranked=ranked, fault_types=faults, evidence=3, seconds=1.5)
    fields: dict[str, object] = {
        "key": key,
        "source": "jsonl",
        "alertname": alertname,
        "service": service,
        "fingerprint": fp,
        "starts_at": datetime(2026, 11, 1, 12, tzinfo=UTC),
        "status": "done",
        "outcome": outcome,
        "seconds": 1.5,
        "top_service": ranked[0] if ranked else None,
        "fault_type": "deploy_regression" if ranked else None,
        "confidence": 0.8 if ranked else None,
        "hypotheses": [f"{s}:deploy_regression" for s in ranked],
    }
    fields.update(extra)
    return ReplayRow.model_validate(fields)


ROWS = [
    row(
        "aaaa@t1",
        "HighLatency",
        "checkout-api",
        ["checkout-api", "db"],
        proposed_action="Roll back checkout-api to 2.4.0",
        evidence={"exemplars": {"ok": 1}, "trace": {"ok": 3, "timeout": 1}},
        counts={"exemplars": 4, "traces": 3, "log_lines": 10, "changes": 1},
    ),
    row(
        "bbbb@t2",
        "HighLatency",
        "orders",
        ["cache", "orders"],
        counts={"exemplars": 0, "traces": 2, "log_lines": 0, "changes": 0},
    ),
    row("cccc@t3", "ErrorBudget", "orders", [], error="TimeoutError: evidence", status="error"),
]


def test_summary_counts_and_groups() -> None:
    s = build_report(ROWS).summary
    assert (s.alerts, s.errors, s.with_hypothesis) == (3, 1, 2)
    assert s.with_evidence == {"exemplars": 1, "traces": 2, "log_lines": 1, "changes": 1}
    assert s.by_alertname["HighLatency"].alerts == 2
    assert s.by_alertname["HighLatency"].top_services == {"checkout-api": 1, "cache": 1}
    assert s.by_service["orders"].alerts == 2
    assert s.by_service["orders"].errors == 1
    assert s.mean_seconds == 1.5


def test_markdown_has_one_row_per_alert_with_the_columns() -> None:
    md = render_markdown(build_report(ROWS))
    md = md.split("## By alertname")[0]
    table = [
        ln
        for ln in md.splitlines()
        if ln.startswith("| HighLatency") or ln.startswith("| ErrorBudget")
    ]
    assert len(table) == 3
    first = table[0]
    for expected in (
        "checkout-api",
        "deploy_regression",
        "0.80",
        "Roll back checkout-api",
        "trace:ok=3,timeout",
        "2026-11-01T12:00:00+00:00",
    ):
        assert expected in first
    assert "error: TimeoutError: evidence" in table[2]
    full = render_markdown(build_report(ROWS))
    assert "## By alertname" in full
    assert "## By service" in full
    assert "## Accuracy" not in full


def test_truth_gives_eval_accuracy(tmp_path: Path) -> None:
    truth = tmp_path / "truth.yaml"
    truth.write_text(
        "aaaa: {service: checkout-api, fault_type: deploy_regression}\n"
        "bbbb:\n  root_cause: {service: orders, fault_type: deploy_regression}\n"
        "zzzz: {service: nobody, fault_type: deploy_regression}\n"  # not replayed
    )
    report = build_report(ROWS, load_truth_map(truth))
    acc = report.accuracy
    assert acc is not None
    assert acc.cases == 2
    assert acc.ac_at_1 == 0.5
    assert acc.ac_at_3 == 1.0
    assert [c.hit_rank for c in acc.per_case] == [1, 2]
    assert "AC@1 0.500  AC@3 1.000" in render_markdown(report)


def test_bad_truth_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("aaaa: {service: x, fault_type: not_a_fault}\n")
    with pytest.raises(TruthError, match="aaaa"):
        load_truth_map(bad)
    bad.write_text("- a list\n")
    with pytest.raises(TruthError, match="mapping"):
        load_truth_map(bad)


def test_cli_jsonl_replay_writes_reports_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hooks = write_jsonl(tmp_path / "h.jsonl", [body(n) for n in BODIES])
    truth = tmp_path / "truth.json"
    truth.write_text(
        json.dumps({"cb14fc0c00f5862f": {"service": "checkout", "fault_type": "deploy_regression"}})
    )
    out = tmp_path / "out"
    argv = ["replay", "--jsonl", str(hooks), "--out", str(out), "-j", "2", "--truth", str(truth)]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "replay: 2 alerts" in printed.err
    assert "2/2" in printed.err
    assert "| DemoQueueBacklog | checkout |" in printed.out
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["alerts"] == 2
    assert report["accuracy"]["cases"] == 1
    assert (out / "report.md").read_text().startswith("# Replay report")

    assert main(argv) == 0  # resumed: nothing left to do
    assert "2/2" not in capsys.readouterr().err
    assert len((out / "replay.jsonl").read_text().splitlines()) == 2


def test_cli_rejects_a_broken_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert main(["replay", "--jsonl", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
