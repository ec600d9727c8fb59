"""A failing LLM gives the rules-only answer on a real scenario (simulator + real Prometheus)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply
from correlator.lab.simulator.harness import run_case

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

CASE = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"


@pytest.mark.parametrize(
    "reply",
    [Reply.error(429, retry_after=0), Reply.text("cause: payment {oops")],
    ids=["429_forever", "invalid_json"],
)
async def test_failing_llm_scores_like_rules_only(reply: Reply) -> None:
    """D1: with an LLM answering 429 forever or garbage, the scenario's outcome (ranking,
    culprit change) equals the rules-only one and no error is recorded."""
    _, rules = await run_case(CASE)
    assert rules.error is None, rules.error
    with FakeOpenAI(ttft_ms=0, prefill_ms_per_token=0, tokens_per_second=0) as srv:
        srv.default = reply
        llm = {"model": "openai/x", "api_base": srv.api_base, "api_key": "x", "retries": 1}
        _, failing = await run_case(CASE, base={"llm": llm})
        assert srv.bodies(), "the LLM was never asked"
    assert failing.error is None, failing.error
    assert failing.ranked == rules.ranked
    assert rules.top_change is not None
    assert failing.top_change is not None  # times shift with the run: compare what it names
    keep = {"kind", "service", "version", "commit"}
    assert failing.top_change.model_dump(include=keep) == rules.top_change.model_dump(include=keep)
    assert failing.llm is not None
