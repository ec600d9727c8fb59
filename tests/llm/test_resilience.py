"""Retries, Retry-After, timeouts, deadline, repair, breaker, fallback: rules kept on failure."""

from __future__ import annotations

from typing import Any

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply
from correlator.llm import LLMRuntime, refine
from correlator.metrics import Metrics
from tests.llm.bundles import checkout_bundle, rules_analysis
from tests.llm.conftest import llm_settings
from tests.llm.helpers import (
    RecordingSleep,
    good,
    sent,
    stages,
)


async def test_429_then_success_honours_retry_after(server: FakeOpenAI) -> None:
    server.responder = good
    server.script(Reply.error(429, retry_after=1))
    sleep = RecordingSleep()
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=Metrics(),
        mode="batch",
        runtime=LLMRuntime(sleep=sleep),
    )
    assert sleep.delays == [1.0]
    assert len(sent(server, "rank")) == 2
    assert stages(out)["rank"].retries == 1
    assert not out.report.degraded
    assert out.analysis.top is not None
    assert out.analysis.top.source == "llm"


async def test_500_is_retried_then_succeeds(server: FakeOpenAI) -> None:
    server.responder = good
    server.script(Reply.error(500), Reply.error(503))
    sleep = RecordingSleep()
    metrics = Metrics()
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server, retries=2),
        metrics=metrics,
        mode="batch",
        runtime=LLMRuntime(sleep=sleep),
    )
    assert len(sent(server, "rank")) == 3
    assert len(sleep.delays) == 2
    assert stages(out)["rank"].retries == 2
    assert not out.report.degraded
    assert (
        metrics.registry.get_sample_value(
            "correlator_llm_retries_total", {"stage": "rank", "model": "openai/test-model"}
        )
        == 2
    )


async def test_4xx_is_not_retried(server: FakeOpenAI) -> None:
    server.default = Reply.error(400)
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server, retries=3),
        metrics=Metrics(),
        mode="batch",
        runtime=LLMRuntime(sleep=RecordingSleep()),
    )
    assert len(server.bodies()) == 1
    assert out.report.degraded
    assert out.analysis == rules_analysis()


async def test_timeout_degrades_to_rules_only(server: FakeOpenAI) -> None:
    server.default = Reply.hang()
    settings = llm_settings(
        server, retries=0, rank={"timeout_seconds": 0.3}, remediate={"timeout_seconds": 0.3}
    )
    rules = rules_analysis()
    out = await refine(
        checkout_bundle(), rules, settings=settings, metrics=Metrics(), mode="stream"
    )
    assert out.analysis == rules
    assert out.remediation == rules.hypotheses[0].remediation
    assert out.report.degraded
    assert out.report.reason is not None
    assert "rules result kept" in out.report.reason
    assert stages(out)["rank"].status == "timeout"


async def test_investigation_deadline_degrades(server: FakeOpenAI) -> None:
    server.default = Reply.hang()
    settings = llm_settings(server, deadline_seconds=0.3)
    rules = rules_analysis()
    out = await refine(checkout_bundle(), rules, settings=settings, metrics=Metrics(), mode="batch")
    assert out.analysis == rules
    assert out.report.reason is not None
    assert "deadline" in out.report.reason
    assert stages(out)["rank"].status == "timeout"


async def test_invalid_json_gets_one_repair_then_rules_kept(server: FakeOpenAI) -> None:
    server.default = Reply.text("The root cause is probably payment {not json")
    rules = rules_analysis()
    out = await refine(
        checkout_bundle(), rules, settings=llm_settings(server), metrics=Metrics(), mode="stream"
    )
    ranks = sent(server, "rank")
    assert len(ranks) == 2  # the call and exactly one repair
    assert ranks[1]["messages"][-2]["role"] == "assistant"
    assert "did not validate" in ranks[1]["messages"][-1]["content"]
    assert out.analysis == rules
    assert stages(out)["rank"].status == "invalid"
    assert out.report.degraded


async def test_repair_that_succeeds_is_used(server: FakeOpenAI) -> None:
    server.responder = good
    server.script(Reply.json({"hypotheses": [{"service": "payment"}]}))  # schema violation
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=Metrics(),
        mode="batch",
    )
    assert len(sent(server, "rank")) == 2
    assert out.analysis.top is not None
    assert out.analysis.top.source == "llm"
    assert stages(out)["rank"].status == "ok"


async def test_refusal_is_treated_as_invalid(server: FakeOpenAI) -> None:
    server.default = Reply.refusal()
    rules = rules_analysis()
    out = await refine(
        checkout_bundle(), rules, settings=llm_settings(server), metrics=Metrics(), mode="batch"
    )
    assert len(sent(server, "rank")) == 2
    assert out.analysis == rules
    assert "refused" in (stages(out)["rank"].error or "")


async def test_breaker_opens_after_repeated_failures(server: FakeOpenAI) -> None:
    server.default = Reply.error(500)
    runtime = LLMRuntime(sleep=RecordingSleep())
    settings = llm_settings(server, retries=0, breaker_failures=2, breaker_reset_seconds=300)
    for _ in range(2):
        out = await refine(
            checkout_bundle(),
            rules_analysis(),
            settings=settings,
            metrics=Metrics(),
            mode="batch",
            runtime=runtime,
        )
        assert out.report.degraded
    calls = len(server.bodies())
    assert calls == 2
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=settings,
        metrics=Metrics(),
        mode="batch",
        runtime=runtime,
    )
    assert len(server.bodies()) == calls  # skipped, no request
    assert out.report.reason is not None
    assert "circuit open" in out.report.reason
    assert out.analysis == rules_analysis()


async def test_fallback_model_answers_when_primary_fails(server: FakeOpenAI) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        return Reply.error(500) if body["model"] == "test-model" else good(body)

    server.responder = responder
    settings = llm_settings(server, retries=0, fallback_models=["openai/backup-model"])
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=settings,
        metrics=Metrics(),
        mode="batch",
        runtime=LLMRuntime(sleep=RecordingSleep()),
    )
    assert stages(out)["rank"].model == "openai/backup-model"
    assert stages(out)["rank"].failures == 1
    assert out.analysis.top is not None
    assert out.analysis.top.source == "llm"


def test_breaker_half_open_trial_failure_reopens_at_once() -> None:
    from correlator.llm.client import Breaker

    b = Breaker(failures_to_open=3, reset_seconds=10)
    for _ in range(3):
        b.record(False, now=0.0)
    assert b.is_open(5.0)
    assert not b.is_open(10.0)  # cool-down over: one trial call
    b.record(False, now=10.0)
    assert b.is_open(11.0)  # a single failed trial reopens
    b.record(True, now=21.0)
    assert not b.is_open(21.0)
    b.record(False, now=22.0)
    assert not b.is_open(22.0)  # closed again: needs 3 failures
