"""Figure 3, staged LLM vs the naive baseline, against ``FakeOpenAI`` (a modelled provider).

The provider model is the test server's default: 500 ms to first token, 0.05 ms prefill per
input token, 60 output tokens/s; replies come from ``auto_reply`` (valid and cited for every
stage). Staged = the pipeline with ``refine`` in stream mode (first note = end of the rules
stage, final note = end of the llm stage). Naive = the same evidence (the rules-only run's
bundle) in one prompt, one non-streaming call: its only note arrives at evidence end + the call.
Every run uses a fresh ``LLMRuntime`` so no stage cache is shared between runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from correlator.lab.bench.scenarios import (
    evidence_seconds,
    final_note_seconds,
    first_note_seconds,
    simulator_session,
)
from correlator.lab.bench.stats import median_or_none
from correlator.llm import LLMRuntime, naive, totals
from correlator.metrics import Metrics
from correlator.models import Investigation
from correlator.settings import LLMSettings
from correlator.wiring import LLMOptions, investigate_once

MODEL = "openai/bench-provider"


TUNED_DIGEST_CONCURRENCY = 16  # = MAX_DIGEST_CHUNKS: every digest call in one wave


def llm_settings(api_base: str) -> LLMSettings:
    return LLMSettings(model=MODEL, api_base=api_base, api_key="bench", cache=False)


def tuned(llm: LLMSettings) -> LLMSettings:
    """The same settings with ``digest.concurrency`` raised (the measured bottleneck)."""
    digest = llm.digest.model_copy(update={"concurrency": TUNED_DIGEST_CONCURRENCY})
    return llm.model_copy(update={"digest": digest})


async def staged_run(webhook: Any, settings: Any) -> dict[str, float | None]:
    opts = LLMOptions(mode="stream", runtime=LLMRuntime())
    invs = await investigate_once(webhook, settings, llm=opts)
    inv = invs[0]
    t = totals(inv.llm)
    return {
        "first_note_s": first_note_seconds(inv),
        "final_note_s": final_note_seconds(inv),
        "tokens_in": t["tokens_in"],
        "tokens_out": t["tokens_out"],
        "calls": t["calls"],
    }


async def naive_run(inv: Investigation, llm: LLMSettings) -> dict[str, float | None]:
    assert inv.evidence is not None
    assert inv.analysis is not None
    started = time.perf_counter()
    out = await naive(
        inv.evidence, inv.analysis, settings=llm, metrics=Metrics(), runtime=LLMRuntime()
    )
    wall = time.perf_counter() - started
    ev = evidence_seconds(inv)
    t = totals(out.report)
    final = None if ev is None else ev + wall
    return {
        "first_note_s": final,
        "final_note_s": final,
        "tokens_in": t["tokens_in"],
        "tokens_out": t["tokens_out"],
        "calls": t["calls"],
        "llm_wall_s": wall,
    }


async def llm_case(path: Path, *, api_base: str, latency_ms: float, runs: int) -> dict[str, Any]:
    """Staged and naive ``runs`` times each on one scenario (one simulator session)."""

    llm = llm_settings(api_base)
    staged: list[dict[str, float | None]] = []
    staged_tuned: list[dict[str, float | None]] = []
    naive_rows: list[dict[str, float | None]] = []
    async with simulator_session(path, latency_ms=latency_ms) as (sim, rules_settings):
        llm_on = rules_settings.model_copy(update={"llm": llm})
        llm_tuned = rules_settings.model_copy(update={"llm": tuned(llm)})
        hook = sim.scenario.webhook
        await staged_run(hook, llm_on)  # warm-up (imports litellm), discarded
        for _ in range(runs):
            staged.append(await staged_run(hook, llm_on))
            staged_tuned.append(await staged_run(hook, llm_tuned))
            inv = (await investigate_once(hook, rules_settings))[0]
            naive_rows.append(await naive_run(inv, llm))
    return {
        "scenario": path.name,
        "staged": _median_row(staged),
        "naive": _median_row(naive_rows),
        "staged_tuned": _median_row(staged_tuned),
        "tuned": {"digest.concurrency": TUNED_DIGEST_CONCURRENCY},
        "runs_staged": staged,
        "runs_staged_tuned": staged_tuned,
        "runs_naive": naive_rows,
    }


def _median_row(rows: list[dict[str, float | None]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in rows[0] if rows else []:
        v = median_or_none([r.get(key) for r in rows])
        out[key] = None if v is None else round(v, 4)
    return out
