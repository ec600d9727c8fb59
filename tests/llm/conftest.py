"""Fixtures: the local OpenAI-compatible server (real litellm HTTP path) and LLM settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from correlator.lab.fakes.openai_server import FakeOpenAI
from correlator.settings import LLMSettings, LLMStageSettings


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI(ttft_ms=0, prefill_ms_per_token=0, tokens_per_second=0)
    with srv:
        yield srv


def llm_settings(server: FakeOpenAI, **kw: object) -> LLMSettings:
    stage = LLMStageSettings(timeout_seconds=5.0)
    base: dict[str, object] = {
        "model": "openai/test-model",
        "api_base": server.api_base,
        "api_key": "test-key",
        "digest": stage,
        "rank": stage,
        "remediate": stage,
        "deadline_seconds": 20.0,
    }
    base.update(kw)
    return LLMSettings.model_validate(base)
