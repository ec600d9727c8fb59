"""The one place correlator talks to litellm: one chat call, with our own resilience around it.

- litellm comes from ``llm/importer.py``: imported once per process in a daemon thread, configured
  there (cost map local, debug output and aiohttp transport off); calls await it (D12).
- litellm's and the openai SDK's retries are off (``max_retries=0``, ``num_retries=0``); we retry
  429, 5xx, connection errors and timeouts ourselves, honouring ``Retry-After``. 4xx is final.
- Per-model concurrency (semaphore) and rate limit (``aiolimiter``), a per-model circuit breaker
  that skips the model for a cool-down after repeated failures, and an optional fallback list.
- Every third-party error is mapped here to ``LLMCallError`` (an ``LLMError``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from correlator.errors import LLMError
from correlator.llm.cache import MemoryCache, StageCache
from correlator.llm.importer import litellm_module
from correlator.settings import LLMSettings, LLMStageSettings

Sleep = Callable[[float], Awaitable[None]]
OnDelta = Callable[[str], Awaitable[None]]
MAX_RETRY_AFTER_SECONDS = 30.0


class LLMCallError(LLMError):
    def __init__(
        self,
        stage: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        kind: str = "error",
    ) -> None:
        super().__init__(stage, message, retryable=retryable)
        self.retry_after = retry_after
        self.kind = kind  # error | timeout | rate_limited | unavailable | rejected | circuit_open


@dataclass
class Breaker:
    failures_to_open: int
    reset_seconds: float
    failures: int = 0
    open_until: float = 0.0

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def record(self, ok: bool, now: float) -> None:
        """After the cool-down one trial call goes through (half-open): success closes the
        circuit, failure reopens it at once."""
        if ok:
            self.failures = 0
            self.open_until = 0.0
            return
        self.failures += 1
        if self.open_until > 0.0 or self.failures >= self.failures_to_open:
            self.open_until = now + self.reset_seconds
            self.failures = 0


@dataclass
class CallResult:
    text: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    ttft_ms: float | None = None
    wall_ms: float = 0.0
    cost_usd: float | None = None
    retries: int = 0
    refusal: str | None = None


@dataclass
class CallStats:
    """What one logical call cost, even when it failed (retries, fallbacks)."""

    retries: int = 0
    failures: int = 0
    skipped_open: int = 0


@dataclass
class LLMRuntime:
    """Process-wide LLM state: breakers, limits, cache. Build once (wiring), pass to ``refine``."""

    cache: StageCache = field(default_factory=MemoryCache)
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    breakers: dict[str, Breaker] = field(default_factory=dict)
    _sems: dict[tuple[str, int], asyncio.Semaphore] = field(default_factory=dict)
    _limiters: dict[str, Any] = field(default_factory=dict)

    def breaker(self, model: str, settings: LLMSettings) -> Breaker:
        if model not in self.breakers:
            self.breakers[model] = Breaker(
                settings.breaker_failures, settings.breaker_reset_seconds
            )
        return self.breakers[model]

    def semaphore(self, model: str, size: int) -> asyncio.Semaphore:
        key = (model, max(1, size))
        if key not in self._sems:
            self._sems[key] = asyncio.Semaphore(key[1])
        return self._sems[key]

    def limiter(self, model: str, rpm: float) -> Any:
        if rpm <= 0:
            return None
        if model not in self._limiters:
            from aiolimiter import AsyncLimiter

            self._limiters[model] = AsyncLimiter(rpm, 60.0)
        return self._limiters[model]


@dataclass(frozen=True)
class CallSpec:
    stage: str
    messages: Sequence[dict[str, str]]
    response_format: dict[str, Any]
    stream: bool
    concurrency: int
    on_delta: OnDelta | None = None


def models_for(stage: LLMStageSettings, settings: LLMSettings) -> list[str]:
    primary = stage.model or settings.model
    return [primary, *[m for m in settings.fallback_models if m != primary]]


async def call(
    rt: LLMRuntime,
    spec: CallSpec,
    *,
    stage: LLMStageSettings,
    settings: LLMSettings,
    stats: CallStats,
) -> CallResult:
    """One logical call: primary model then fallbacks, each with bounded retries."""
    last: LLMCallError | None = None
    for model in models_for(stage, settings):
        breaker = rt.breaker(model, settings)
        if breaker.is_open(rt.clock()):
            stats.skipped_open += 1
            last = LLMCallError(spec.stage, f"circuit open for {model}", kind="circuit_open")
            continue
        try:
            result = await _with_retries(
                rt, spec, model, stage=stage, settings=settings, stats=stats
            )
        except LLMCallError as e:
            breaker.record(False, rt.clock())
            stats.failures += 1
            last = e
            continue
        breaker.record(True, rt.clock())
        return result
    assert last is not None
    raise last


async def _with_retries(
    rt: LLMRuntime,
    spec: CallSpec,
    model: str,
    *,
    stage: LLMStageSettings,
    settings: LLMSettings,
    stats: CallStats,
) -> CallResult:
    attempt = 0
    while True:
        try:
            async with rt.semaphore(model, spec.concurrency):
                limiter = rt.limiter(model, stage.rpm)
                if limiter is not None:
                    await limiter.acquire()
                result = await _once(spec, model, stage=stage, settings=settings)
            result.retries = attempt
            return result
        except LLMCallError as e:
            if not e.retryable or attempt >= settings.retries:
                raise
            backoff = min(8.0, 0.25 * 2**attempt) * (0.5 + random.random() / 2)  # jittered
            delay = e.retry_after if e.retry_after is not None else backoff
            attempt += 1
            stats.retries += 1
            await rt.sleep(min(delay, MAX_RETRY_AFTER_SECONDS))


def _kwargs(spec: CallSpec, model: str, stage: LLMStageSettings, s: LLMSettings) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "model": model,
        "messages": list(spec.messages),
        "response_format": spec.response_format,
        "max_tokens": stage.max_output_tokens,
        "temperature": 0,
        "timeout": stage.timeout_seconds,
        "max_retries": 0,
        "num_retries": 0,
        "drop_params": True,  # e.g. reasoning models reject temperature: drop, don't fail
    }
    if s.api_base:
        kw["api_base"] = s.api_base
    if s.api_key is not None:
        kw["api_key"] = s.api_key.get_secret_value()
    if spec.stream:
        kw["stream"] = True
        kw["stream_options"] = {"include_usage": True}
    return kw


async def _once(
    spec: CallSpec, model: str, *, stage: LLMStageSettings, settings: LLMSettings
) -> CallResult:
    litellm = await litellm_module()  # the import thread's result: never imported on the loop
    import openai  # imported by litellm in that thread: a sys.modules lookup here

    started = time.perf_counter()
    try:
        async with asyncio.timeout(stage.timeout_seconds):
            resp = await litellm.acompletion(**_kwargs(spec, model, stage, settings))
            if spec.stream:
                result = await _consume_stream(resp, model, started, spec.on_delta)
            else:
                result = _from_response(resp, model)
    except TimeoutError as e:
        raise LLMCallError(spec.stage, f"{model}: timed out", retryable=True, kind="timeout") from e
    except openai.APIError as e:
        raise _map_error(spec.stage, model, e) from e
    result.wall_ms = (time.perf_counter() - started) * 1000.0
    result.cost_usd = _cost(litellm, model, result.tokens_in, result.tokens_out)
    return result


def _map_error(stage: str, model: str, e: Any) -> LLMCallError:
    status = getattr(e, "status_code", None)
    msg = f"{model}: {type(e).__name__} {status or ''}".strip()
    if status == 429:
        return LLMCallError(
            stage, msg, retryable=True, retry_after=_retry_after(e), kind="rate_limited"
        )
    if status == 408 or "Timeout" in type(e).__name__:
        return LLMCallError(stage, msg, retryable=True, kind="timeout")
    if status is None or status >= 500:
        return LLMCallError(stage, msg, retryable=True, kind="unavailable")
    return LLMCallError(stage, msg, retryable=False, kind="rejected")


def _retry_after(e: Any) -> float | None:
    for headers in (getattr(e, "litellm_response_headers", None), _resp_headers(e)):
        value = headers.get("retry-after") if headers is not None else None
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def _resp_headers(e: Any) -> Any:
    resp = getattr(e, "response", None)
    return getattr(resp, "headers", None)


def _from_response(resp: Any, model: str) -> CallResult:
    msg = resp.choices[0].message if resp.choices else None
    text = (msg.content or "") if msg is not None else ""
    refusal = None
    if msg is not None:
        extra = getattr(msg, "provider_specific_fields", None) or {}
        refusal = getattr(msg, "refusal", None) or extra.get("refusal")
    usage = getattr(resp, "usage", None)
    return CallResult(
        text=text,
        model=model,
        tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
        tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
        refusal=refusal,
    )


async def _consume_stream(
    resp: Any, model: str, started: float, on_delta: OnDelta | None
) -> CallResult:
    parts: list[str] = []
    refusal: list[str] = []
    ttft: float | None = None
    usage: Any = None
    async for chunk in resp:
        if getattr(chunk, "usage", None) is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        piece = getattr(delta, "content", None) or ""
        ref = getattr(delta, "refusal", None) or ""
        if (piece or ref) and ttft is None:
            ttft = (time.perf_counter() - started) * 1000.0
        if ref:
            refusal.append(ref)
        if piece:
            parts.append(piece)
            if on_delta is not None:
                await on_delta(piece)
    return CallResult(
        text="".join(parts),
        model=model,
        tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
        tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
        ttft_ms=ttft,
        refusal="".join(refusal) or None,
    )


def _cost(litellm: ModuleType, model: str, tokens_in: int, tokens_out: int) -> float | None:
    """USD cost when litellm's (local) price map knows the model, else None."""
    known = litellm.model_cost
    name = model if model in known else model.split("/", 1)[-1]
    if name not in known:
        return None
    prompt, completion = litellm.cost_per_token(
        model=name, prompt_tokens=tokens_in, completion_tokens=tokens_out
    )
    return float(prompt) + float(completion)
