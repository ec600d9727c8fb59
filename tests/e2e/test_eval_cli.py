"""`correlator eval DIR --json`: the output contract and the threshold exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
KEYS = {
    "cases",
    "ac_at_1",
    "ac_at_3",
    "avg_at_5",
    "fault_type_accuracy",
    "culprit_change_top1",
    "false_accusation_rate",
    "per_case",
}


def _eval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from correlator.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "eval", *args],
        capture_output=True,
        text=True,
        timeout=200,
        env={"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})},
        check=False,
    )


def test_eval_json_contract_on_two_scenarios(tmp_path: Path) -> None:
    for name in ("checkout-deploy-regression", "control-steady-error-noise"):
        shutil.copytree(SCENARIOS / name, tmp_path / name)
    done = _eval(str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert set(report) >= KEYS
    assert report["cases"] == 2
    by_id = {c["id"]: c for c in report["per_case"]}
    assert set(by_id) == {"checkout-deploy-regression", "control-steady-error-noise"}
    for case in by_id.values():
        assert {"id", "expected", "ranked", "hit_rank"} <= set(case)
    assert by_id["checkout-deploy-regression"]["expected"] == ["checkout-api"]
    assert by_id["control-steady-error-noise"]["expected"] == []
    assert by_id["control-steady-error-noise"]["hit_rank"] is None


def test_eval_exits_non_zero_below_threshold() -> None:
    done = _eval(str(SCENARIOS / "control-steady-error-noise"), "--min-ac1", "0.5")
    # a no-fault control has no fault cases: AC@1 is undefined and counts as 0 for the gate
    assert done.returncode == 1
    assert "threshold failed: AC@1" in done.stderr


def test_eval_with_an_llm_reports_calls_tokens_and_seconds_per_case(tmp_path: Path) -> None:
    """The real litellm HTTP path against the local OpenAI-compatible test server."""
    from correlator.lab.fakes.openai_server import FakeOpenAI

    shutil.copytree(
        SCENARIOS / "checkout-deploy-regression", tmp_path / "checkout-deploy-regression"
    )
    with FakeOpenAI(ttft_ms=0, prefill_ms_per_token=0, tokens_per_second=0) as server:
        env = {
            "CORRELATOR_LLM__MODEL": "openai/test-model",
            "CORRELATOR_LLM__API_BASE": server.api_base,
            "CORRELATOR_LLM__API_KEY": "test-key",
        }
        done = _eval(str(tmp_path), "--json", env=env)
        calls_seen = len(server.bodies())
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    (case,) = report["per_case"]
    assert case["error"] is None
    assert case["llm"]["calls"] == calls_seen > 0
    assert case["llm"]["tokens_in"] > 0
    assert case["llm"]["tokens_out"] > 0
    assert case["llm"]["seconds"] > 0
    assert report["llm_mean"]["calls"] == case["llm"]["calls"]


def test_eval_without_an_llm_reports_no_llm_figures(tmp_path: Path) -> None:
    shutil.copytree(
        SCENARIOS / "control-steady-error-noise", tmp_path / "control-steady-error-noise"
    )
    report = json.loads(_eval(str(tmp_path), "--json").stdout)
    assert report["llm_mean"] is None
    assert report["per_case"][0]["llm"] is None
