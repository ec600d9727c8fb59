"""refine(): staged calls through the real litellm HTTP path against the local server."""

from __future__ import annotations

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply, schema_name
from correlator.llm import InvestigationRefiner, LLMRuntime, naive, refine
from correlator.metrics import Metrics
from correlator.models import Analysis
from tests.llm.bundles import checkout_bundle, rules_analysis
from tests.llm.conftest import llm_settings
from tests.llm.helpers import (
    DEPLOY,
    RANK,
    REMEDIATE,
    TRACE,
    good,
    sent,
    stages,
)


async def test_stream_mode_records_usage_ttft_and_ranks_with_citations(server: FakeOpenAI) -> None:
    server.responder = good
    metrics = Metrics()
    events: list[tuple[str, dict[str, object]]] = []

    async def emit(kind: str, payload: dict[str, object]) -> None:
        events.append((kind, payload))

    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=metrics,
        mode="stream",
        emit=emit,
    )
    st = stages(out)
    assert st["digest"].status == "skipped"
    assert not sent(server, "digest")
    for name in ("rank", "remediate"):
        assert st[name].status == "ok"
        assert st[name].tokens_in > 0
        assert st[name].tokens_out > 0
        assert st[name].ttft_ms is not None
        (body,) = sent(server, name)
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert body["response_format"]["type"] == "json_schema"
    assert not out.report.degraded
    top = out.analysis.top
    assert top is not None
    assert top.source == "llm"
    assert top.service == "payment"
    assert top.evidence_ids == [DEPLOY, TRACE]  # unknown id dropped
    assert [h.service for h in out.analysis.hypotheses] == ["payment"]  # uncited claim dropped
    assert out.remediation is not None
    assert out.remediation.source == "llm"
    assert out.remediation.target_version == "1.4.2"
    assert out.remediation.proposed is True
    assert out.remediation.compare_url == (
        "https://git.example.com/org/payment/compare/9f3c2ab...c0ffee1"
    )
    tokens = metrics.registry.get_sample_value(
        "correlator_llm_tokens_total",
        {"stage": "rank", "model": "openai/test-model", "direction": "out"},
    )
    assert tokens == st["rank"].tokens_out
    assert metrics.registry.get_sample_value(
        "correlator_llm_time_to_first_token_seconds_count",
        {"stage": "rank", "model": "openai/test-model"},
    )
    assert any(k == "llm.delta" and p["stage"] == "rank" for k, p in events)
    assert events[-1][0] == "llm.done"


async def test_batch_mode_does_not_stream(server: FakeOpenAI) -> None:
    server.responder = good
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=Metrics(),
        mode="batch",
    )
    assert not out.report.degraded
    assert all("stream" not in b for b in server.bodies())
    assert stages(out)["rank"].tokens_in > 0


async def test_only_uncited_hypotheses_keep_rules_ranking(server: FakeOpenAI) -> None:
    bad = {"hypotheses": [{**RANK["hypotheses"][1]}]}
    server.responder = lambda b: Reply.json(REMEDIATE if schema_name(b) == "remediate" else bad)
    rules = rules_analysis()
    out = await refine(
        checkout_bundle(), rules, settings=llm_settings(server), metrics=Metrics(), mode="batch"
    )
    assert out.analysis == rules
    assert stages(out)["rank"].status == "invalid"


async def test_rollback_to_unknown_version_keeps_rules_remediation(server: FakeOpenAI) -> None:
    invented = {**REMEDIATE, "target_version": "0.9.9-invented", "target_commit": None}
    server.responder = lambda b: Reply.json(invented if schema_name(b) == "remediate" else RANK)
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=Metrics(),
        mode="batch",
    )
    assert out.remediation is not None
    assert out.remediation.source == "rules"
    assert stages(out)["remediate"].status == "invalid"


async def test_second_run_is_served_from_cache(server: FakeOpenAI) -> None:
    server.responder = good
    runtime = LLMRuntime()
    settings = llm_settings(server)
    first = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=settings,
        metrics=Metrics(),
        mode="batch",
        runtime=runtime,
    )
    calls = len(server.bodies())
    metrics = Metrics()
    second = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=settings,
        metrics=metrics,
        mode="batch",
        runtime=runtime,
    )
    assert len(server.bodies()) == calls
    assert stages(second)["rank"].cache_hits == 1
    assert stages(second)["rank"].calls == 0
    assert second.analysis == first.analysis
    assert second.remediation == first.remediation
    assert (
        metrics.registry.get_sample_value("correlator_llm_cache_hits_total", {"stage": "rank"}) == 1
    )


async def test_large_bundle_digests_in_parallel_then_ranks_facts(server: FakeOpenAI) -> None:
    server.responder = good
    settings = llm_settings(server, rank={"max_input_tokens": 1500})
    out = await refine(
        checkout_bundle(extra_services=3),
        rules_analysis(),
        settings=settings,
        metrics=Metrics(),
        mode="batch",
    )
    digests = sent(server, "digest")
    assert len(digests) == stages(out)["digest"].calls >= 4
    (rank,) = sent(server, "rank")
    assert "payment errors start at onset" in rank["messages"][1]["content"]
    assert stages(out)["digest"].status == "ok"


async def test_disabled_llm_returns_rules_without_calls(server: FakeOpenAI) -> None:
    rules = rules_analysis()
    out = await refine(
        checkout_bundle(),
        rules,
        settings=llm_settings(server, model=""),
        metrics=Metrics(),
        mode="stream",
    )
    assert out.report.enabled is False
    assert out.analysis == rules
    assert server.bodies() == []


async def test_naive_baseline_is_one_unstreamed_call_with_all_evidence(server: FakeOpenAI) -> None:
    server.responder = good
    out = await naive(
        checkout_bundle(), rules_analysis(), settings=llm_settings(server), metrics=Metrics()
    )
    (body,) = server.bodies()
    assert "stream" not in body
    assert schema_name(body) == "naive"
    assert "UPDATE accounts SET token='[REDACTED:api_key]'" in body["messages"][1]["content"]
    assert [s.stage for s in out.report.stages] == ["naive"]
    assert isinstance(out.analysis, Analysis)
    assert out.analysis.top is not None
    assert out.analysis.top.source == "llm"


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, object]]] = []

    async def emit(self, investigation_id: str, kind: str, payload: dict[str, object]) -> None:
        self.events.append((investigation_id, kind, payload))


async def test_investigation_refiner_updates_the_investigation(server: FakeOpenAI) -> None:
    from datetime import UTC, datetime

    from correlator.models import Investigation, InvestigationStatus

    server.responder = good
    bundle = checkout_bundle()
    now = datetime(2026, 11, 21, 14, 1, tzinfo=UTC)
    inv = Investigation(
        id="inv-1",
        fingerprint=bundle.alert.fingerprint,
        alert=bundle.alert,
        alert_status=bundle.alert.status,
        status=InvestigationStatus.RUNNING,
        created_at=now,
        updated_at=now,
        evidence=bundle,
        analysis=rules_analysis(),
    )
    sink = RecordingSink()
    refiner = InvestigationRefiner(llm_settings(server), Metrics(), LLMRuntime(), events=sink)
    out = await refiner(inv)
    assert out.llm.enabled
    assert not out.llm.degraded
    assert out.analysis is not None
    assert out.analysis.top is not None
    assert out.analysis.top.source == "llm"
    assert out.remediation is not None
    assert out.remediation.source == "llm"
    assert {i for i, _, _ in sink.events} == {"inv-1"}
    assert sink.events[-1][1] == "llm.done"
    untouched = await refiner(inv.model_copy(update={"evidence": None}))
    assert untouched.llm.enabled is False


async def test_uncited_digest_facts_fall_back_to_compacted_evidence(server: FakeOpenAI) -> None:
    junk = {"facts": [{"statement": "dns is down", "evidence_ids": ["made-up:1"]}]}
    server.responder = lambda b: Reply.json(junk) if schema_name(b) == "digest" else good(b)
    settings = llm_settings(server, rank={"max_input_tokens": 1500})
    out = await refine(
        checkout_bundle(extra_services=3),
        rules_analysis(),
        settings=settings,
        metrics=Metrics(),
        mode="batch",
    )
    st = stages(out)
    assert st["digest"].status == "invalid"
    (rank,) = sent(server, "rank")
    prompt = rank["messages"][1]["content"]
    assert "dns is down" not in prompt
    assert "Evidence deploy:payment:1.5.0 (changes)" in prompt
    assert st["rank"].status == "ok"


async def test_params_a_model_rejects_are_dropped(server: FakeOpenAI) -> None:
    server.responder = good
    settings = llm_settings(server, model="openai/o3-mini")  # reasoning model: no temperature
    out = await refine(
        checkout_bundle(), rules_analysis(), settings=settings, metrics=Metrics(), mode="batch"
    )
    assert not out.report.degraded
    body = server.bodies()[0]
    assert "temperature" not in body
    assert body["max_completion_tokens"] == settings.rank.max_output_tokens
