"""Every way an LLM can fail keeps the rules answer, with "LLM analysis failed: <reason>".

The bundle is wide enough for the digest stage to run and carries 47 metric series, so the
metrics chunk holds more evidence ids than ``Fact.evidence_ids`` allows (the shape of an ordinary
scenario's bundle, reliability report D1).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from correlator.lab.fakes.openai_server import FakeOpenAI, Reply
from correlator.llm import LLMRuntime, refine
from correlator.llm.budget import Chunk
from correlator.llm.stages import _chunk_fallback
from correlator.metrics import Metrics
from correlator.models import EvidenceBundle, MetricSeries
from correlator.settings import LLMSettings
from tests.llm.bundles import T0, checkout_bundle, rules_analysis
from tests.llm.conftest import llm_settings
from tests.llm.helpers import RecordingSleep


def wide_bundle() -> EvidenceBundle:
    base = checkout_bundle(extra_services=3)
    series = [
        MetricSeries(
            evidence_id=f"metric:checkout:series{i}",
            name=f"series{i}",
            query=f'rate(http_requests_total{{instance="i{i}"}}[5m])',
            points=[(T0.timestamp() - 60 * k, float(k + i)) for k in range(5)],
            service="checkout",
        )
        for i in range(47)
    ]
    return base.model_copy(update={"metrics": series})


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MODES: dict[str, Callable[[FakeOpenAI], dict[str, object]]] = {
    "hang": lambda srv: setattr(srv, "default", Reply.hang()) or {"deadline_seconds": 1.0},
    "429_forever": lambda srv: setattr(srv, "default", Reply.error(429, retry_after=0)) or {},
    "500": lambda srv: setattr(srv, "default", Reply.error(500)) or {},
    "invalid_json": lambda srv: setattr(srv, "default", Reply.text("cause: payment {oops")) or {},
    "schema_invalid": lambda srv: (
        setattr(srv, "default", Reply.json({"hypotheses": [{"service": "x"}], "facts": "nope"}))
        or {}
    ),
    "connection_refused": lambda srv: {"api_base": f"http://127.0.0.1:{_refused_port()}/v1"},
    "stream_cut": lambda srv: setattr(srv, "default", Reply.drop()) or {},
}


def _settings(server: FakeOpenAI, mode: str) -> LLMSettings:
    extra = MODES[mode](server)
    return llm_settings(server, retries=1, **extra)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("call_mode", ["batch", "stream"])
async def test_llm_failure_keeps_rules_answer(
    server: FakeOpenAI, mode: str, call_mode: str
) -> None:
    """D1: hang, 429 forever, 500, invalid JSON, schema-invalid JSON, connection refused and a
    stream cut mid-way each leave the rules ranking and remediation, flagged as failed."""
    rules = rules_analysis()
    out = await refine(
        wide_bundle(),
        rules,
        settings=_settings(server, mode),
        metrics=Metrics(),
        mode=call_mode,  # type: ignore[arg-type]
        runtime=LLMRuntime(sleep=RecordingSleep()),
    )
    assert out.analysis == rules
    assert out.remediation == rules.hypotheses[0].remediation
    assert out.report.degraded
    assert out.report.reason is not None
    assert out.report.reason.startswith("LLM analysis failed: "), out.report.reason


def test_digest_fallback_caps_ids_to_the_fact_schema() -> None:
    """D1: a chunk with 47 ids (the metrics chunk of an ordinary scenario) falls back to facts
    that validate instead of raising ValidationError."""
    chunk = Chunk(
        "m0", "metrics", "metric series", facts=["a", "b"], ids=[f"m{i}" for i in range(47)]
    )
    facts = _chunk_fallback(chunk)
    assert [len(f.evidence_ids) for f in facts] == [20, 20]


async def test_unexpected_exception_in_a_stage_keeps_rules(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    """D1: a failure inside the LLM stage that is not an LLMError (here a missing prompt
    template) is caught at refine's boundary: the rules result stays, the reason names it."""
    rules = rules_analysis()
    out = await refine(
        wide_bundle(),
        rules,
        settings=llm_settings(server, retries=0),
        metrics=Metrics(),
        mode="batch",
        prompts_dir=tmp_path,
    )
    assert out.analysis == rules
    assert out.report.reason is not None
    assert out.report.reason.startswith("LLM analysis failed: ")
    assert not server.bodies()


async def test_every_request_is_recorded_with_hash_size_and_redactions(
    server: FakeOpenAI,
) -> None:
    """D3: per LLM call, what was sent: sha256 and size of the exact messages, and the
    placeholders in them (the checkout bundle plants a JWT, a PEM key, passwords...)."""
    import hashlib
    import json

    from tests.llm.helpers import good

    server.responder = good
    slow_host = {"timeout_seconds": 60.0}  # a loaded CI host must not turn this into a timeout
    settings = llm_settings(
        server, digest=slow_host, rank=slow_host, remediate=slow_host, deadline_seconds=120.0
    )
    out = await refine(
        wide_bundle(), rules_analysis(), settings=settings, metrics=Metrics(), mode="batch"
    )
    records = [r for s in out.report.stages for r in s.sent]
    bodies = server.bodies()
    assert len(records) == len(bodies)
    hashes = {
        hashlib.sha256(
            json.dumps(b["messages"], ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest()
        for b in bodies
    }
    assert {r.sha256 for r in records} == hashes
    assert all(r.bytes > 0 for r in records)
    assert any(r.redactions.get("jwt") for r in records)
