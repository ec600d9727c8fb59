"""A failing LLM gives the rules-only answer on a real scenario (simulator + real Prometheus).

``correlator eval`` runs in a subprocess, as a user runs it: the failing model's client state
(litellm keeps process-wide clients) cannot leak into the other tests of this process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(400),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

CASE = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"
FIGURES = ("ac_at_1", "ac_at_3", "fault_type_accuracy", "culprit_change_top1")


def _eval(env: dict[str, str] | None = None) -> dict[str, Any]:
    code = "import sys; from correlator.cli import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, "eval", str(CASE), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "LITELLM_LOCAL_MODEL_COST_MAP": "True", **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize(
    "reply",
    [Reply.error(429, retry_after=0), Reply.text("cause: payment {oops")],
    ids=["429_forever", "invalid_json"],
)
def test_failing_llm_scores_like_rules_only(reply: Reply) -> None:
    """D1: with an LLM answering 429 forever or garbage, the scenario's outcome (ranking,
    figures) equals the rules-only one and no error is recorded."""
    rules = _eval()
    with FakeOpenAI(ttft_ms=0, prefill_ms_per_token=0, tokens_per_second=0) as srv:
        srv.default = reply
        failing = _eval(
            {
                "CORRELATOR_LLM__MODEL": "openai/x",
                "CORRELATOR_LLM__API_BASE": srv.api_base,
                "CORRELATOR_LLM__API_KEY": "x",
                "CORRELATOR_LLM__RETRIES": "1",
            }
        )
        assert srv.bodies(), "the LLM was never asked"
    (rules_case,) = rules["per_case"]
    (failing_case,) = failing["per_case"]
    assert rules_case.get("error") is None
    assert failing_case.get("error") is None, failing_case.get("error")
    assert failing_case["ranked"] == rules_case["ranked"]
    assert {k: failing[k] for k in FIGURES} == {k: rules[k] for k in FIGURES}
    assert rules["culprit_change_top1"] == 1.0
