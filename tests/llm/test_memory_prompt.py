"""The rank stage sees the memory of past incidents, redacted like the rest of the evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from correlator.llm import start_run
from correlator.llm.stages import chunks_for, rank_messages
from correlator.metrics import Metrics
from correlator.models import IncidentMemory, PastIncident, Tally, Verdict
from correlator.settings import LLMSettings
from tests.llm.bundles import checkout_bundle, rules_analysis

SECRET_NOTE = "rolled back; password=hunter2hunter2 in the config"


def test_rank_prompt_lists_similar_incidents_with_redacted_fixes() -> None:
    past = PastIncident(
        investigation_id="inv-1",
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
        similarity=0.9,
        verdict=Verdict.CORRECT,
        cause="payment deploy regression",
        cause_service="payment",
        fix=SECRET_NOTE,
    )
    memory = IncidentMemory(
        similar_count=2, similar=[past], alert_record=Tally(confirmed=1, total=1)
    )
    bundle = checkout_bundle().model_copy(update={"memory": memory})
    run = start_run(
        bundle,
        rules_analysis(),
        LLMSettings(model="openai/x"),
        Metrics(),
        "batch",
        None,
        None,
        None,
    )
    prompt = "\n".join(m["content"] for m in rank_messages(run, chunks_for(run), None))
    assert "Memory of past incidents of this alert rule and service (memory:similar" in prompt
    assert "2 similar in 30 days" in prompt
    assert "2026-11-20 similarity 0.90: verdict correct; cause payment deploy regression" in prompt
    assert "hunter2hunter2" not in prompt
    assert "[REDACTED:" in prompt


def test_rank_prompt_without_memory_has_no_memory_block() -> None:
    run = start_run(
        checkout_bundle(),
        rules_analysis(),
        LLMSettings(model="openai/x"),
        Metrics(),
        "batch",
        None,
        None,
        None,
    )
    prompt = "\n".join(m["content"] for m in rank_messages(run, chunks_for(run), None))
    assert "Memory of past incidents" not in prompt
