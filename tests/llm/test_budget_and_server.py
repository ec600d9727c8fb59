"""Budgets (compaction, per-stage input caps), the cache, and the test server's auto replies."""

from __future__ import annotations

import pytest

from correlator.lab.fakes.openai_server import FakeOpenAI, auto_reply, schema_name
from correlator.llm import LLMRuntime, MemoryCache, refine, start_run, totals
from correlator.llm.budget import compact, count_tokens, fit
from correlator.llm.runner import prompt_tokens
from correlator.llm.stages import chunks_for, digest_messages, rank_messages
from correlator.metrics import Metrics
from correlator.settings import LLMSettings
from tests.llm.bundles import checkout_bundle, rules_analysis
from tests.llm.conftest import llm_settings


def test_count_tokens_is_conservative_for_text() -> None:
    assert count_tokens("") == 0
    assert count_tokens("a" * 350) == 100


def test_compaction_levels_shrink_and_keep_every_chunk() -> None:
    bundle = checkout_bundle(extra_services=3)
    sizes = [sum(len("".join(c.facts + c.data)) for c in compact(bundle, lvl)) for lvl in range(4)]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] < sizes[0]
    assert {c.id for c in compact(bundle, 3)} == {c.id for c in compact(bundle, 0)}
    assert compact(bundle, 0)[0].kind == "changes"  # changes first: most important


def test_fit_drops_trailing_chunks_when_levels_are_not_enough() -> None:
    bundle = checkout_bundle(extra_services=3)

    def render(cs: list[object]) -> str:
        return "x" * 350 * len(cs)  # 100 tokens per chunk

    text, used, truncated = fit(render, bundle, 250)  # type: ignore[arg-type]
    assert truncated
    assert len(used) == 2
    assert count_tokens(text) <= 250


def test_rank_and_digest_prompts_respect_max_input_tokens() -> None:
    for budget in (1500, 3000):
        settings = LLMSettings(
            model="openai/x", rank={"max_input_tokens": budget}, digest={"max_input_tokens": budget}
        )
        run = start_run(
            checkout_bundle(extra_services=4),
            rules_analysis(),
            settings,
            Metrics(),
            "batch",
            None,
            None,
            None,
        )
        chunks = chunks_for(run)
        assert prompt_tokens(rank_messages(run, chunks, None)) <= budget
        for c in chunks:
            assert prompt_tokens(digest_messages(run, c)) <= budget


async def test_budget_too_small_for_any_prompt_skips_the_call(server: FakeOpenAI) -> None:
    server.responder = auto_reply
    tiny = {"max_input_tokens": 300}
    settings = llm_settings(server, rank=tiny, remediate=tiny, digest=tiny)
    rules = rules_analysis()
    out = await refine(checkout_bundle(), rules, settings=settings, metrics=Metrics(), mode="batch")
    assert server.bodies() == []
    assert out.analysis == rules
    assert out.report.degraded
    assert {s.stage: s.status for s in out.report.stages}["rank"] == "over_budget"


async def test_memory_cache_is_lru_bounded() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", "1")
    await cache.set("b", "2")
    assert await cache.get("a") == "1"
    await cache.set("c", "3")
    assert await cache.get("b") is None
    assert await cache.get("a") == "1"
    assert len(cache) == 2


async def test_auto_reply_drives_every_stage_to_a_cited_result() -> None:
    with FakeOpenAI(
        ttft_ms=1, prefill_ms_per_token=0.0, tokens_per_second=0, responder=auto_reply
    ) as srv:
        settings = llm_settings(srv, rank={"max_input_tokens": 1500})
        out = await refine(
            checkout_bundle(extra_services=2),
            rules_analysis(),
            settings=settings,
            metrics=Metrics(),
            mode="stream",
            runtime=LLMRuntime(),
        )
        names = {schema_name(b) for b in srv.bodies()}
    assert names == {"digest", "rank", "remediate"}
    assert not out.report.degraded, out.report.reason
    assert out.analysis.top is not None
    assert out.analysis.top.source == "llm"
    assert out.remediation is not None
    assert out.remediation.source == "llm"


async def test_totals_sum_the_stages(server: FakeOpenAI) -> None:
    server.responder = auto_reply
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server),
        metrics=Metrics(),
        mode="batch",
    )
    t = totals(out.report)
    assert t["calls"] == len(server.bodies()) == 2
    assert t["tokens_in"] == sum(s.tokens_in for s in out.report.stages) > 0
    assert t["cost_usd"] == 0.0  # openai/test-model is not in litellm's price map


async def test_cost_is_reported_when_litellm_knows_the_model(server: FakeOpenAI) -> None:
    server.responder = auto_reply
    metrics = Metrics()
    out = await refine(
        checkout_bundle(),
        rules_analysis(),
        settings=llm_settings(server, model="openai/gpt-4o-mini"),
        metrics=metrics,
        mode="stream",
    )
    rank = next(s for s in out.report.stages if s.stage == "rank")
    assert rank.cost_usd is not None
    assert rank.cost_usd > 0
    assert metrics.registry.get_sample_value(
        "correlator_llm_cost_usd_total", {"model": "openai/gpt-4o-mini"}
    ) == pytest.approx(totals(out.report)["cost_usd"])
