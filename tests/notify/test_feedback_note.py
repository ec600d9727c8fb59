"""Notes carry the track record beside the confidence, the verdict in force and, for a Slack app
with interactivity, the Correct / Partly / Wrong buttons. People's text is escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from correlator.models import (
    Feedback,
    IncidentMemory,
    Investigation,
    RootCause,
    Tally,
    Verdict,
)
from correlator.notes import NoteRenderer
from tests.notify import factory


def with_learning(
    inv: Investigation, *, by: str = "alice", verdict: Verdict = Verdict.CORRECT
) -> Investigation:
    assert inv.evidence is not None
    assert inv.analysis is not None
    assert inv.analysis.top is not None
    fault = inv.analysis.top.fault_type.value
    memory = IncidentMemory(
        alert_record=Tally(confirmed=8, total=10),
        fault_records={fault: Tally(confirmed=3, total=4)},
    )
    fb = Feedback(
        id="fb1",
        investigation_id=inv.id,
        created_at=datetime(2026, 11, 21, tzinfo=UTC),
        verdict=verdict,
        by=by,
        root_cause=RootCause(service="postgres", fault_type="database_slow")
        if verdict is Verdict.WRONG
        else None,
    )
    evidence = inv.evidence.model_copy(update={"memory": memory})
    return inv.model_copy(update={"evidence": evidence, "feedback": [fb]})


def test_markdown_shows_track_record_beside_confidence_and_the_verdict() -> None:
    inv = with_learning(factory.rich())
    md = NoteRenderer(public_url="http://x").markdown(inv, phase="llm")
    assert inv.analysis is not None
    assert inv.analysis.top is not None
    fault = inv.analysis.top.fault_type.value.replace("_", " ")
    assert f"confidence; this alert: 8 of 10 confirmed; {fault}: 3 of 4 confirmed)" in md
    assert "Verdict: confirmed by alice" in md


def test_slack_buttons_only_with_interactivity_and_verdict_context() -> None:
    inv = with_learning(factory.rich(), verdict=Verdict.WRONG, by="bob")
    plain = NoteRenderer(public_url="http://x").slack(inv, phase="llm")
    assert not [b for b in plain.blocks if b["type"] == "actions"]
    buttons = NoteRenderer(public_url="http://x", feedback_buttons=True).slack(inv, phase="llm")
    (actions,) = [b for b in buttons.blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [
        "correlator_verdict_correct",
        "correlator_verdict_partly",
        "correlator_verdict_wrong",
    ]
    assert {e["value"] for e in actions["elements"]} == {inv.id}
    text = json.dumps(buttons.blocks)
    assert ":x: marked wrong by bob; real cause: postgres database slow" in text
    assert len(buttons.blocks) <= 50


def test_people_typed_text_is_escaped_in_slack() -> None:
    inv = with_learning(factory.rich(), by="<!channel> & <@U123>")
    note = NoteRenderer(public_url="http://x", feedback_buttons=True).slack(inv, phase="llm")
    text = json.dumps(note.blocks)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in text


def test_no_memory_no_track_record() -> None:
    md = NoteRenderer(public_url="http://x").markdown(factory.rich(), phase="llm")
    assert "confirmed" not in md
