"""One structured stage call: render -> redact (safety net) -> cache -> call -> validate -> repair.

``Run`` holds what an investigation's LLM stages share (redacted bundle, settings, runtime,
metrics, the report being built). ``structured`` returns the validated reply, or ``None`` when the
reply stayed invalid after one repair attempt (the caller then keeps the rules result); call
failures (timeouts, 5xx after retries, open circuit) raise ``LLMCallError``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel

from correlator.llm import prompts
from correlator.llm.budget import count_tokens
from correlator.llm.cache import cache_key
from correlator.llm.client import (
    CallResult,
    CallSpec,
    CallStats,
    LLMCallError,
    LLMRuntime,
    call,
    models_for,
)
from correlator.llm.commands import CommandPolicy, default_policy
from correlator.llm.redact import Redactor, placeholder_counts
from correlator.llm.schemas import SchemaViolation, parse, response_format, schema_text
from correlator.metrics import Metrics
from correlator.models import Analysis, EvidenceBundle, LLMCallRecord, LLMReport, LLMStageStats
from correlator.settings import LLMSettings, LLMStageSettings

Emit = Callable[[str, dict[str, object]], Awaitable[None]]
Mode = Literal["stream", "batch"]
T = TypeVar("T", bound=BaseModel)
DELTA_EMIT_CHARS = 64


@dataclass
class Run:
    bundle: EvidenceBundle  # redacted
    analysis: Analysis  # rules result
    settings: LLMSettings
    metrics: Metrics
    runtime: LLMRuntime
    mode: Mode
    redactor: Redactor
    emit: Emit | None = None
    prompts_dir: Path | None = None
    commands: CommandPolicy = field(default_factory=default_policy)
    known_ids: set[str] = field(default_factory=set)
    id_map: dict[str, str] = field(default_factory=dict)  # redacted evidence id -> original id
    report: LLMReport = field(default_factory=lambda: LLMReport(enabled=True))

    def stage_settings(self, stage: str) -> LLMStageSettings:
        s: LLMStageSettings = getattr(self.settings, "rank" if stage == "naive" else stage)
        return s

    def render(self, name: str, **ctx: object) -> str:
        return self.redactor.text(prompts.render(name, prompts_dir=self.prompts_dir, **ctx))

    def messages(self, stage: str, template: str, **ctx: object) -> list[dict[str, str]]:
        system = self.render("system.j2", stage=stage, schema=schema_text(stage))
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": self.render(template, **ctx)},
        ]

    def new_stats(self, stage: str) -> LLMStageStats:
        st = LLMStageStats(
            stage=stage, model=models_for(self.stage_settings(stage), self.settings)[0]
        )
        self.report.stages.append(st)
        return st

    async def event(self, kind: str, payload: dict[str, object]) -> None:
        if self.emit is not None:
            await self.emit(kind, payload)


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(count_tokens(m["content"]) for m in messages)


def _account(run: Run, st: LLMStageStats, res: CallResult) -> None:
    st.calls += 1
    st.tokens_in += res.tokens_in
    st.tokens_out += res.tokens_out
    if res.ttft_ms is not None:
        st.ttft_ms = res.ttft_ms if st.ttft_ms is None else min(st.ttft_ms, res.ttft_ms)
        run.metrics.llm_ttft_seconds.labels(st.stage, res.model).observe(res.ttft_ms / 1000.0)
    if res.cost_usd is not None:
        st.cost_usd = (st.cost_usd or 0.0) + res.cost_usd
        run.metrics.llm_cost_usd_total.labels(res.model).inc(res.cost_usd)
    m = run.metrics
    m.llm_tokens_total.labels(st.stage, res.model, "in").inc(res.tokens_in)
    m.llm_tokens_total.labels(st.stage, res.model, "out").inc(res.tokens_out)
    m.llm_calls_total.labels(st.stage, res.model, "ok").inc()


def call_record(messages: list[dict[str, str]]) -> LLMCallRecord:
    """What a request carries, recorded per call (shown in the UI): sha256 and size of the exact
    messages, and the placeholders in them (how many secrets were redacted, by type)."""
    body = json.dumps(messages, ensure_ascii=False, separators=(",", ":")).encode()
    text = "\n".join(m["content"] for m in messages)
    return LLMCallRecord(
        sha256=hashlib.sha256(body).hexdigest(),
        bytes=len(body),
        redactions=placeholder_counts(text),
    )


async def _one_call(
    run: Run, st: LLMStageStats, messages: list[dict[str, str]], *, stream: bool
) -> CallResult:
    stage_settings = run.stage_settings(st.stage)
    factor = run.settings.batch_concurrency_factor if run.mode == "batch" else 1
    buffered: list[str] = []

    async def on_delta(piece: str) -> None:
        buffered.append(piece)
        if sum(map(len, buffered)) >= DELTA_EMIT_CHARS:
            await run.event("llm.delta", {"stage": st.stage, "text": "".join(buffered)})
            buffered.clear()

    spec = CallSpec(
        stage=st.stage,
        messages=messages,
        response_format=response_format(st.stage),
        stream=stream,
        concurrency=stage_settings.concurrency * factor,
        on_delta=on_delta if stream and run.emit is not None else None,
    )
    st.sent.append(call_record(messages))
    stats = CallStats()
    try:
        res = await call(
            run.runtime, spec, stage=stage_settings, settings=run.settings, stats=stats
        )
    except LLMCallError as e:
        run.metrics.llm_calls_total.labels(st.stage, st.model, e.kind).inc()
        raise
    finally:
        st.retries += stats.retries
        st.failures += stats.failures
        if stats.retries:
            run.metrics.llm_retries_total.labels(st.stage, st.model).inc(stats.retries)
    if buffered:
        await run.event("llm.delta", {"stage": st.stage, "text": "".join(buffered)})
    st.model = res.model
    _account(run, st, res)
    return res


async def structured(
    run: Run, st: LLMStageStats, model: type[T], messages: list[dict[str, str]], *, stream: bool
) -> T | None:
    """Validated reply (cached), or None when still invalid after one repair attempt."""
    key = cache_key(st.model, st.stage, messages)
    if run.settings.cache:
        hit = await run.runtime.cache.get(key)
        if hit is not None:
            st.cache_hits += 1
            run.metrics.llm_cache_hits_total.labels(st.stage).inc()
            return parse(model, hit)
    res = await _one_call(run, st, messages, stream=stream)
    try:
        out = _validated(model, res)
    except SchemaViolation as e:
        repair = [
            *messages,
            {"role": "assistant", "content": res.text or "(no content)"},
            {"role": "user", "content": run.render("repair.j2", error=str(e)[:500])},
        ]
        res = await _one_call(run, st, repair, stream=False)
        try:
            out = _validated(model, res)
        except SchemaViolation as e2:
            st.error = f"invalid output after repair: {str(e2)[:200]}"
            return None
    if run.settings.cache:
        await run.runtime.cache.set(key, out.model_dump_json())
    return out


def _validated(model: type[T], res: CallResult) -> T:
    if res.refusal:
        raise SchemaViolation(f"refused: {res.refusal[:200]}")
    return parse(model, res.text)


class StageClock:
    """Wall time of a stage, recorded into its stats and ``correlator_stage_seconds``."""

    def __init__(self, run: Run, st: LLMStageStats) -> None:
        self.run, self.st, self.started = run, st, time.perf_counter()
        st.status = "running"

    def done(self, status: str) -> None:
        self.st.status = status
        elapsed = time.perf_counter() - self.started
        self.st.wall_ms = elapsed * 1000.0
        self.run.metrics.stage_seconds.labels(f"llm.{self.st.stage}", status).observe(elapsed)
