"""Every scenario directory follows the format; the generator is deterministic."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from correlator.lab.scenarios import (
    ScenarioError,
    discover,
    load_scenario,
    load_truth,
    parse_exemplars,
    shift_openmetrics,
)
from correlator.models.analysis import FaultType

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DIRS = discover(SCENARIOS)


def test_corpus_is_not_empty() -> None:
    assert (SCENARIOS / "checkout-deploy-regression") in DIRS


@pytest.mark.parametrize("path", DIRS, ids=[p.name for p in DIRS])
def test_scenario_validates(path: Path) -> None:
    s = load_scenario(path)
    truth = load_truth(path)
    assert isinstance(truth.root_cause.fault_type, FaultType)
    assert s.webhook.alerts
    # every exemplar trace id resolves to a trace file (checked by the loader too)
    for ex in parse_exemplars(s.metrics_text):
        assert ex.labels["trace_id"] in s.traces


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    subprocess.run(
        [sys.executable, str(SCENARIOS / "generate.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    generated = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert generated, "generator wrote nothing"
    for name in generated:
        cmp = filecmp.dircmp(out / name, SCENARIOS / name)
        _assert_same(cmp, name)


def _assert_same(cmp: filecmp.dircmp[str], where: str) -> None:
    assert not cmp.left_only, (where, cmp.left_only)
    assert not cmp.right_only, (where, cmp.right_only)
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    assert not mismatch, (where, mismatch)
    assert not errors, (where, errors)
    for sub_name, sub in cmp.subdirs.items():
        _assert_same(sub, f"{where}/{sub_name}")


def test_checkout_scenario_contract() -> None:
    s = load_scenario(SCENARIOS / "checkout-deploy-regression")
    truth = load_truth(s.root).root_cause
    assert truth.services == ["checkout-api"]
    assert truth.change is not None
    assert truth.change.commit == "7a3f9c2"
    assert any(d["version"] == "2.4.1" and d["commit"] == "7a3f9c2" for d in s.deploys)
    text = str(s.traces)
    assert "new_checkout" in text
    assert "FROM orders" in text
    assert "seq scan on orders" in str(s.logs)


def test_shift_moves_every_timestamp() -> None:
    s = load_scenario(SCENARIOS / "checkout-deploy-regression")
    now = datetime(2030, 1, 1, tzinfo=UTC)
    shifted = s.shifted(s.offset_to(now))
    assert abs((shifted.alert_time - now).total_seconds()) < 1
    delta = (shifted.alert_time - s.alert_time).total_seconds()
    ex0, ex1 = parse_exemplars(s.metrics_text)[0], parse_exemplars(shifted.metrics_text)[0]
    assert ex1.timestamp - ex0.timestamp == pytest.approx(delta)
    first = s.logs["data"]["result"][0]["values"][0][0]
    moved = shifted.logs["data"]["result"][0]["values"][0][0]
    assert int(moved) - int(first) == round(delta * 1e9)
    assert shifted.annotations[0]["time"] - s.annotations[0]["time"] == round(delta * 1000)


def test_shift_openmetrics_keeps_values() -> None:
    text = 'a_total{x="1"} 5 100 # {trace_id="ab"} 1 99.5\nb 2 100.250\n# EOF\n'
    assert shift_openmetrics(text, 1500) == (
        'a_total{x="1"} 5 101.500 # {trace_id="ab"} 1 101.000\nb 2 101.750\n# EOF\n'
    )


def test_invalid_scenario_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad-one"
    bad.mkdir()
    (bad / "scenario.yaml").write_text("id: bad-one\ntitle: x\norigin: invented\n")
    with pytest.raises(ScenarioError):
        load_scenario(bad)


def _copy(tmp_path: Path, name: str = "checkout-deploy-regression") -> Path:
    import shutil

    dst = tmp_path / name
    shutil.copytree(SCENARIOS / "checkout-deploy-regression", dst)
    return dst


def test_missing_exemplar_trace_is_rejected(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    s = load_scenario(root)
    tid = parse_exemplars(s.metrics_text)[0].labels["trace_id"]
    (root / "traces" / f"{tid}.json").unlink()
    with pytest.raises(ScenarioError, match="has no traces/"):
        load_scenario(root)


def test_id_must_match_directory_and_trace_file_names(tmp_path: Path) -> None:
    root = _copy(tmp_path, "renamed")
    with pytest.raises(ScenarioError, match="differs from directory name"):
        load_scenario(root)
    root = _copy(tmp_path)
    victim = sorted((root / "traces").glob("*.json"))[0]
    victim.rename(victim.with_name("0" * 32 + ".json"))
    with pytest.raises(ScenarioError, match="contains trace ids"):
        load_scenario(root)


def test_no_fault_truth_must_not_name_a_service(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "truth.yaml").write_text("root_cause: {service: a, fault_type: none, change: null}\n")
    with pytest.raises(ScenarioError):
        load_truth(root)
