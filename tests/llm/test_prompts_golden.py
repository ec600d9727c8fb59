"""Golden tests: every prompt rendered for hand-built bundles, compared with tests/llm/golden/.

Regenerate after an intended prompt change with ``CORRELATOR_UPDATE_GOLDEN=1 pytest tests/llm``
and review the diff like code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from correlator.llm import prompts, start_run
from correlator.llm.remediate import remediate_messages
from correlator.llm.runner import Run
from correlator.llm.schemas import DigestOut, Fact
from correlator.llm.stages import (
    chunks_for,
    digest_messages,
    naive_messages,
    rank_messages,
)
from correlator.metrics import Metrics
from correlator.models import EvidenceBundle
from correlator.settings import LLMSettings
from tests.llm.bundles import TRACE_ID, checkout_bundle, rules_analysis, small_bundle

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CORRELATOR_UPDATE_GOLDEN") == "1"
BUNDLES: dict[str, Callable[[], EvidenceBundle]] = {
    "checkout": checkout_bundle,
    "small": small_bundle,
    "wide": lambda: checkout_bundle(extra_services=2),
}


def _run(bundle: EvidenceBundle) -> Run:
    settings = LLMSettings(model="openai/golden", rank={"max_input_tokens": 2500})
    return start_run(bundle, rules_analysis(), settings, Metrics(), "batch", None, None, None)


def _show(messages: list[dict[str, str]]) -> str:
    return "".join(f"===== {m['role']} =====\n{m['content']}\n" for m in messages)


def _prompts_for(name: str) -> dict[str, str]:
    run = _run(BUNDLES[name]())
    chunks = chunks_for(run)
    out = {"rank": _show(rank_messages(run, chunks, None))}
    facts = [Fact(statement="payment errors start at onset", evidence_ids=[f"trace:{TRACE_ID}"])]
    out["rank_facts"] = _show(rank_messages(run, chunks, DigestOut(facts=facts).facts))
    for i, chunk in enumerate(chunks):
        out[f"digest_{i}_{chunk.kind}"] = _show(digest_messages(run, chunk))
    top = run.analysis.hypotheses[1]
    out["remediate"] = _show(remediate_messages(run, top))
    out["naive"] = _show(naive_messages(run))
    out["repair"] = prompts.render("repair.j2", error="hypotheses.0.confidence: Field required")
    return out


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_prompts_match_golden(name: str) -> None:
    rendered = _prompts_for(name)
    mismatched = []
    for stage, text in rendered.items():
        path = GOLDEN / f"{name}__{stage}.txt"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            continue
        assert path.is_file(), f"missing golden {path.name}; run with CORRELATOR_UPDATE_GOLDEN=1"
        if path.read_text(encoding="utf-8") != text:
            mismatched.append(path.name)
    assert not mismatched, f"prompts differ from goldens: {mismatched}"


def test_every_template_is_covered_by_goldens() -> None:
    stems = {p.name.split("__", 1)[1].split("_")[0].removesuffix(".txt") for p in GOLDEN.glob("*")}
    for template in prompts.template_names():
        stem = template.removesuffix(".j2")
        assert stem == "system" or stem in stems, f"{template} has no golden"


def test_strict_undefined_raises_on_missing_variable() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        prompts.render("repair.j2")
