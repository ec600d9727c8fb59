"""Transport failures and concurrency limits through the real litellm HTTP path."""

from __future__ import annotations

from typing import Literal

import pytest

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply, auto_reply, schema_name
from correlator.llm import LLMRuntime, refine
from correlator.metrics import Metrics
from tests.llm.bundles import checkout_bundle, rules_analysis
from tests.llm.conftest import llm_settings


class NoSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.mark.parametrize("mode", ["stream", "batch"])
async def test_connection_dropped_mid_answer_is_retried(
    server: FakeOpenAI, mode: Literal["stream", "batch"]
) -> None:
    server.responder = auto_reply
    server.script(Reply.drop())
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=Metrics(),
        mode=mode,
        runtime=LLMRuntime(sleep=NoSleep()),
    )
    rank = next(s for s in out.report.stages if s.stage == "rank")
    assert rank.retries == 1
    assert rank.status == "ok"
    assert not out.report.degraded


async def test_refused_connection_degrades_to_rules() -> None:
    with FakeOpenAI() as stopped:
        pass  # started then stopped: its port now refuses connections
    sleep = NoSleep()
    rules = rules_analysis()
    out = await refine(
        checkout_bundle(),
        rules,
        settings=llm_settings(stopped, retries=1),
        metrics=Metrics(),
        mode="stream",
        runtime=LLMRuntime(sleep=sleep),
    )
    assert len(sleep.delays) == 1  # refused = transient: retried once, then given up
    assert out.analysis == rules
    assert out.report.degraded
    assert "rules result kept" in (out.report.reason or "")


@pytest.mark.parametrize("concurrency", [1, 2])
async def test_digest_fan_out_respects_stage_concurrency(concurrency: int) -> None:
    with FakeOpenAI(
        ttft_ms=50, prefill_ms_per_token=0, tokens_per_second=0, responder=auto_reply
    ) as srv:
        settings = llm_settings(
            srv,
            rank={"max_input_tokens": 1500},
            digest={"concurrency": concurrency, "max_input_tokens": 6000},
        )
        out = await refine(
            checkout_bundle(extra_services=4),
            rules_analysis(),
            settings=settings,
            metrics=Metrics(),
            mode="stream",
        )
        digests = [b for b in srv.bodies() if schema_name(b) == "digest"]
        assert len(digests) >= 5
        assert srv.max_in_flight <= concurrency
    assert not out.report.degraded
