"""Golden tests per scenario: the rules-phase note (issue [notify]) and every LLM prompt
(issue [llm]) rendered from each scenario's real investigation, compared with committed files.

Regenerate after an intended change with ``CORRELATOR_UPDATE_GOLDEN=1 pytest tests/goldens``
and review the diff like code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from correlator.llm import start_run
from correlator.llm.remediate import remediate_messages
from correlator.llm.stages import (
    chunks_for,
    digest_messages,
    naive_messages,
    rank_messages,
)
from correlator.metrics import Metrics
from correlator.notes import NoteRenderer
from correlator.settings import LLMSettings
from tests.goldens.conftest import Ran, normalise_durations, scenario_ids

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CORRELATOR_UPDATE_GOLDEN") == "1"
_ELAPSED = re.compile(r'"elapsed_ms": ?[0-9.e+-]+')
# The naive baseline (bench only) embeds the whole bundle JSON, including fields that vary with
# machine load (error texts of calls that time out under contention): pin its head only.
NAIVE_HEAD = 4000


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"missing golden {path}; run with CORRELATOR_UPDATE_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text, f"{path.name} differs from its golden"


def _note(ran: Ran) -> str:
    text = NoteRenderer(public_url="http://correlator").markdown(ran.investigation, phase="rules")
    lines = ran.normalise(text).splitlines(keepends=True)
    # the footer carries measured stage durations: keep its shape, not its numbers
    return "".join(normalise_durations(ln) if " · " in ln else ln for ln in lines)


def _show(title: str, messages: list[dict[str, str]]) -> str:
    body = "".join(f"----- {m['role']} -----\n{m['content']}\n" for m in messages)
    return f"===== {title} =====\n{body}"


def _prompts(ran: Ran) -> str:
    inv = ran.investigation
    assert inv.evidence is not None
    assert inv.analysis is not None
    settings = LLMSettings(model="openai/golden")
    run = start_run(inv.evidence, inv.analysis, settings, Metrics(), "batch", None, None, None)
    chunks = chunks_for(run)
    parts = [_show("rank", rank_messages(run, chunks, None))]
    parts += [_show(f"digest {c.kind}", digest_messages(run, c)) for c in chunks]
    if run.analysis.top is not None:
        parts.append(_show("remediate", remediate_messages(run, run.analysis.top)))
    naive = _ELAPSED.sub('"elapsed_ms": 0', ran.normalise(_show("naive", naive_messages(run))))
    parts.append(f"{naive[:NAIVE_HEAD]}\n[... naive prompt continues]\n")
    return ran.normalise("".join(parts))


@pytest.mark.parametrize("scenario", scenario_ids())
def test_note_matches_golden(scenario: str, scenario_runs: dict[str, Ran]) -> None:
    _check(GOLDEN / "notes" / f"{scenario}.md", _note(scenario_runs[scenario]))


@pytest.mark.parametrize("scenario", scenario_ids())
def test_prompts_match_golden(scenario: str, scenario_runs: dict[str, Ran]) -> None:
    _check(GOLDEN / "prompts" / f"{scenario}.txt", _prompts(scenario_runs[scenario]))
