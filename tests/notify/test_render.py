"""Golden tests for the rendered notes (regenerate: CORRELATOR_REGEN_GOLDEN=1)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from correlator.models import AlertStatus, Investigation
from correlator.notes import NoteRenderer, pagerduty_dedup_key
from correlator.notes.view import safe_link
from tests.notify import factory

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("CORRELATOR_REGEN_GOLDEN") == "1"
CASES: dict[str, tuple[Callable[[], Investigation], str]] = {
    "rich_rules": (lambda: factory.rich(), "rules"),
    "rich_llm": (lambda: factory.rich(), "llm"),
    "rich_resolved": (lambda: factory.rich(status=AlertStatus.RESOLVED), "resolved"),
    "hostile": (factory.hostile, "rules"),
    "undetermined": (factory.undetermined, "rules"),
}


def renderer() -> NoteRenderer:
    return NoteRenderer(public_url="http://127.0.0.1:8080/")


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(actual)
    assert path.exists(), f"missing golden {path}; run with CORRELATOR_REGEN_GOLDEN=1"
    assert actual == path.read_text(), f"{name} differs from golden"


@pytest.mark.parametrize("case", sorted(CASES))
def test_notes_match_golden(case: str) -> None:
    build, phase = CASES[case]
    inv = build()
    r = renderer()
    check_golden(f"{case}.md", r.markdown(inv, phase=phase))
    slack = r.slack(inv, phase=phase)
    body = {"text": slack.text, "blocks": slack.blocks}
    check_golden(f"{case}.slack.json", json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    pd = r.pagerduty(inv, phase=phase)
    pd_body = {"summary": pd.summary, "custom_details": pd.custom_details, "links": pd.links}
    check_golden(f"{case}.pagerduty.json", json.dumps(pd_body, indent=2, ensure_ascii=False) + "\n")


def test_slack_escapes_untrusted_control_characters() -> None:
    slack = renderer().slack(factory.hostile(), phase="rules")
    thread = renderer().slack_thread(factory.hostile(), phase="rules")
    mrkdwn = [b["text"]["text"] for b in slack.blocks + thread.blocks if b["type"] == "section"]
    mrkdwn += [e["text"] for b in slack.blocks for e in b.get("elements", [])]
    joined = "\n".join(mrkdwn)
    for raw in ("<!channel>", "<!here>", "<@U123>"):
        assert raw not in joined
    assert "&lt;@U123&gt; &amp;" in joined
    assert "<!channel>" not in slack.text
    assert "&lt;!channel&gt;" in slack.text


def test_note_content_rollback_is_proposed_and_links_come_from_evidence_only() -> None:
    md = renderer().markdown(factory.rich(), phase="llm")
    assert "### Proposed action (proposed, not executed)" in md
    assert "```\nkubectl -n shop rollout undo deployment/checkout --to-revision=41\n```" in md
    assert "(82% confidence)" in md
    assert "http://grafana:3000/explore?traceId=4bf92f3577b34da6a3ce929d0e0e4736" in md
    assert "javascript:" not in md  # an unsafe Evidence.link is dropped, the bullet kept
    assert "5xx ratio 0.2% -> 7.9% at onset" in md
    assert "Loki: timeout: deadline of 5.0 s exceeded" in md
    assert "3200 tokens in / 400 out" in md
    assert md.rstrip().endswith(
        "http://127.0.0.1:8080/ui/investigations/0b7e6c1e-5f1a-4c55-9d7e-3a7b1d2c9f00"
    )


def test_code_block_cannot_be_closed_by_a_command() -> None:
    md = renderer().markdown(factory.hostile(), phase="rules")
    fence_lines = [ln for ln in md.splitlines() if ln.startswith("```")]
    assert fence_lines == ["```", "```"]


def test_llm_pending_only_in_rules_phase_when_enabled() -> None:
    r = renderer()
    assert "LLM analysis in progress" in r.markdown(factory.rich(), phase="rules")
    assert "LLM analysis in progress" not in r.markdown(factory.rich(), phase="llm")
    assert "LLM analysis in progress" not in r.markdown(factory.rich(llm=False), phase="rules")


def test_dedup_key_is_alertmanagers_sha256_of_group_key() -> None:
    # Alertmanager notify/util.go: Key.Hash() = hex(sha256(groupKey)).
    key = pagerduty_dedup_key('{}:{alertname="CheckoutErrorRate"}', "fp")
    assert key == "f54f8d5338a9bba27e51198ab32ce5b62ce4cdb57bbaa2ab2b02807a26c6b317"
    assert pagerduty_dedup_key("", "fp") != pagerduty_dedup_key("", "other")


def test_rules_note_before_the_llm_stage_says_pending_when_an_llm_is_configured() -> None:
    inv = factory.rich(llm=False)  # the LLM stage has not filled inv.llm yet
    configured = NoteRenderer(public_url="http://x", llm_configured=True)
    md = configured.markdown(inv, phase="rules")
    assert "LLM analysis in progress" in md
    assert "LLM: skipped" not in md
    assert "LLM: skipped" in renderer().markdown(inv, phase="rules")


def test_many_long_links_stay_within_slack_limits_without_cutting_a_link() -> None:
    inv = factory.rich()
    assert inv.evidence is not None
    assert inv.analysis is not None
    base = inv.evidence.items[0]
    many = [
        base.model_copy(update={"id": f"trace:{i:032x}", "link": f"http://g/explore?q={'x' * 600}"})
        for i in range(60)
    ]
    top = inv.analysis.hypotheses[0].model_copy(update={"evidence_ids": [e.id for e in many]})
    inv = inv.model_copy(
        update={
            "evidence": inv.evidence.model_copy(update={"items": many}),
            "analysis": inv.analysis.model_copy(update={"hypotheses": [top]}),
        }
    )
    r = renderer()
    for note in (r.slack(inv, phase="rules"), r.slack_thread(inv, phase="rules")):
        assert len(note.blocks) <= 50
        for block in note.blocks:
            texts = [block["text"]["text"]] if "text" in block else []
            texts += [e["text"] for e in block.get("elements", [])]
            for text in texts:
                assert len(text) <= 3000
                assert text.count("<") == text.count(">")  # every link whole
    thread = r.slack_thread(inv, phase="rules")
    assert len(thread.blocks) > 1
    assert "…and 30 more on" in thread.blocks[-1]["text"]["text"]


@pytest.mark.parametrize("space", [" ", "\t", "\n", "\x1c", "\x85", "\xa0", "\u2028", "\u3000"])
def test_a_link_with_any_whitespace_is_dropped(space: str) -> None:
    """``safe_link`` drops a link holding any character ``str.isspace`` calls whitespace."""
    assert space.isspace()
    assert safe_link(f"https://grafana.example/explore?q=a{space}b") is None
    assert safe_link("https://grafana.example/explore?q=a%20b") == (
        "https://grafana.example/explore?q=a%20b"
    )
