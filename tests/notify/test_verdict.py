"""The note's verdict (issue [note]): quotes, one change one line, runners-up, inconclusive,
the verdict-first Slack card and its Block Kit limits, PagerDuty, footer.

Block Kit limits checked here (docs.slack.dev/reference/block-kit/blocks): header text <= 150,
section text <= 3000, context <= 10 elements of <= 3000, <= 50 blocks per message; the fallback
``text`` is kept <= 3000 (Slack truncates it at 40,000).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from correlator.llm.redact import Redactor
from correlator.models import AlertStatus, Analysis, InsufficientEvidence
from correlator.notes import NoteRenderer
from correlator.notes.changes import merge_changes
from tests.notify import quoting

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("CORRELATOR_REGEN_GOLDEN") == "1"


def renderer(**kw: Any) -> NoteRenderer:
    return NoteRenderer(public_url="http://127.0.0.1:8080/", **kw)


def _lines(blocks: list[dict[str, Any]]) -> list[str]:
    """The visible lines of a message, as a reader counts them."""
    texts: list[str] = []
    for b in blocks:
        if "text" in b:
            texts.append(b["text"]["text"])
        texts += [e["text"] for e in b.get("elements", [])]
    return [ln for t in texts for ln in t.splitlines()]


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = [b["text"]["text"] for b in blocks if "text" in b]
    return out + [e["text"] for b in blocks for e in b.get("elements", [])]


def test_one_rollout_seen_by_four_sources_is_one_change_with_previous_version() -> None:
    inv = quoting.quoting()
    assert inv.evidence is not None
    merged = merge_changes(inv.evidence.changes)
    (checkout,) = [m for m in merged if m.service == "checkout-api"]
    assert checkout.sources == ["deploy_api", "grafana", "metric", "trace"]
    assert (checkout.from_version, checkout.to_version) == ("2.4.0", "2.4.1")
    assert (checkout.from_commit, checkout.to_commit) == ("5e1d0b8", "7a3f9c2")
    assert checkout.time == quoting.DEPLOY  # the explicit marker's time, not the inferred one
    md = renderer().markdown(inv, phase="llm")
    assert md.count("2.4.0 -> 2.4.1") == 1
    assert md.count("commit 5e1d0b8 -> 7a3f9c2") == 1
    assert "?" not in md.replace("?trace=", "").replace("?logs=", "")


def test_verdict_quotes_change_flag_span_and_log_line() -> None:
    md = renderer().markdown(quoting.quoting(), phase="llm")
    verdict = md.split("### Verdict", 1)[1].split("###", 1)[0]
    assert "checkout-api 2.4.0 -> 2.4.1, commit 5e1d0b8 -> 7a3f9c2" in verdict
    assert "flag new_checkout=on (off in baseline traces)" in verdict
    assert "`SELECT shop.orders` on db-primary:5432 took 1.2 s" in verdict
    assert "absent from the 1 baseline trace; in 3/3 incident traces" in verdict
    assert f"`{quoting.STATEMENT}`" in verdict
    assert "db.namespace=shop" in verdict
    assert f"`{quoting.LOG}`" in verdict
    assert f"trace_id={quoting._tid(2)}" in verdict  # the median instance's trace
    assert f"({quoting.GRAFANA}/explore?trace={quoting._tid(2)})" in verdict
    assert f"({quoting.GRAFANA}/explore?logs={quoting._tid(2)})" in verdict
    assert verdict.index("**Change:**") < verdict.index("**Span:**") < verdict.index("**Log:**")
    assert verdict.index("**Log:**") < verdict.index("**Action:**")


def test_quoted_log_line_is_redacted() -> None:
    inv = quoting.quoting(log_line="login failed password=hunter2 for db")
    md = renderer(redact=Redactor().text).markdown(inv, phase="llm")
    assert "hunter2" not in md
    assert "[REDACTED:" in md


def test_runner_up_says_why_it_is_less_likely() -> None:
    md = renderer().markdown(quoting.quoting(), phase="llm")
    assert "### Runners-up" in md
    assert (
        "- 21% deploy regression in inventory: less likely because no extra self time in its "
        "spans; its change is further from onset" in md
    )
    assert "inventory 3.8.2 (previous version not recorded)" in md  # other changes, once


def test_inconclusive_is_rendered_with_next_queries() -> None:
    inv = quoting.quoting()
    missing = InsufficientEvidence(
        missing=["no exemplars on the alert metric"], next_queries=['{service="x"} |= "error"']
    )
    inv = inv.model_copy(update={"analysis": Analysis(insufficient=missing)})
    md = renderer().markdown(inv, phase="llm")
    assert "### Inconclusive" in md
    assert "- missing: no exemplars on the alert metric" in md
    assert '- `{service="x"} |= "error"`' in md
    card = _texts(renderer().slack(inv, phase="llm").blocks)
    assert any("*Inconclusive:*" in t and "*Next query:*" in t for t in card)


def test_footer_has_stage_timings_and_llm_calls_tokens_cost() -> None:
    md = renderer().markdown(quoting.quoting(), phase="llm")
    footer = md.split("\n---\n", 1)[1]
    assert "evidence 1.8 s · rules 16 ms · llm 2.4 s" in footer
    assert "LLM 3 calls, 3600 tokens in / 500 out, est. $0.0036 (openai/m)" in footer
    assert (
        "LLM"
        not in renderer().markdown(quoting.quoting(llm=False), phase="rules").split("\n---\n", 1)[1]
    )


def test_card_is_verdict_first_and_short() -> None:
    note = renderer().slack(quoting.quoting(), phase="llm")
    lines = _lines(note.blocks)
    assert len(lines) <= 12
    assert lines[0] == "FIRING: CheckoutLatencyP95High on checkout-api"
    assert lines[1] == "*Verdict (83%):* deploy regression in checkout-api"
    assert lines[2].startswith("*Change:* checkout-api 2.4.0 -&gt; 2.4.1, commit 7a3f9c2")
    assert "flag new_checkout=on" in lines[2]
    assert lines[3].startswith("*Span:* `SELECT shop.orders` on db-primary:5432 1.2 s")
    assert lines[4].startswith(f"*Log:* `{quoting.LOG}`")
    assert lines[5].startswith("*Action:* Roll back checkout-api")
    assert "7a3f9c2" in note.text
    assert "deploy regression" in note.text


def test_card_with_no_backends_names_each_missing_backend_once() -> None:
    note = renderer().slack(quoting.no_backends(), phase="rules")
    lines = _lines(note.blocks)
    assert len(lines) <= 12
    text = "\n".join(lines)
    for backend in ("Prometheus", "Tempo", "Loki", "Grafana"):
        assert text.count(f"{backend}: not configured") == 1
    assert "LLM: skipped" in text
    thread = "\n".join(_texts(renderer().slack_thread(quoting.no_backends(), phase="rules").blocks))
    assert "• Loki: not configured (4 queries)" in thread


def test_header_limit_150() -> None:
    inv = quoting.quoting()
    labels = {**inv.alert.labels, "alertname": "A" * 400}
    inv = inv.model_copy(update={"alert": inv.alert.model_copy(update={"labels": labels})})
    header = renderer().slack(inv, phase="llm").blocks[0]
    assert header["type"] == "header"
    assert len(header["text"]["text"]) == 150


def test_section_limit_3000_and_fallback_text_limit() -> None:
    inv = quoting.quoting()
    assert inv.analysis is not None
    assert inv.remediation is not None
    top = inv.analysis.hypotheses[0].model_copy(update={"statement": "s" * 9000})
    rem = inv.remediation.model_copy(update={"summary": "r " * 5000})
    inv = inv.model_copy(
        update={
            "analysis": inv.analysis.model_copy(update={"hypotheses": [top]}),
            "remediation": rem,
        }
    )
    r = renderer()
    for note in (r.slack(inv, phase="llm"), r.slack_thread(inv, phase="llm")):
        for b in note.blocks:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= 3000
        assert len(note.text) <= 3000


def test_context_limit_10_elements_of_3000() -> None:
    inv = quoting.no_backends()
    assert inv.evidence is not None
    items = [
        e.model_copy(update={"source": f"backend-{i}-" + "x" * 200, "id": f"e{i}"})
        for i, e in enumerate(inv.evidence.items * 4)
    ]
    inv = inv.model_copy(update={"evidence": inv.evidence.model_copy(update={"items": items})})
    for b in renderer().slack(inv, phase="rules").blocks:
        if b["type"] == "context":
            assert len(b["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in b["elements"])


def test_blocks_limit_50_in_the_thread() -> None:
    inv = quoting.quoting()
    assert inv.evidence is not None
    base = inv.evidence.items[0]
    many = [
        base.model_copy(update={"id": f"logs:{i:032x}", "summary": "y" * 2900}) for i in range(200)
    ]
    inv = inv.model_copy(update={"evidence": inv.evidence.model_copy(update={"items": many})})
    thread = renderer().slack_thread(inv, phase="llm")
    assert len(thread.blocks) <= 50
    assert "the investigation page" in thread.blocks[-1]["text"]["text"]


def _check(name: str, payload: object) -> None:
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN / name
    if REGEN:
        path.write_text(text)
    assert path.exists(), f"missing golden {path}; run with CORRELATOR_REGEN_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from golden"


def test_block_kit_payload_per_message_kind() -> None:
    """Card as first post (rules), card edit (llm), card edit (resolved), thread reply."""
    r = renderer(llm_configured=True)
    inv = quoting.quoting()
    resolved = inv.model_copy(update={"alert_status": AlertStatus.RESOLVED})
    for kind, note in (
        ("card_rules", r.slack(inv, phase="rules")),
        ("card_llm", r.slack(inv, phase="llm")),
        ("card_resolved", r.slack(resolved, phase="resolved")),
        ("thread", r.slack_thread(inv, phase="llm")),
    ):
        assert len(note.blocks) <= 50
        _check(f"quoting.slack_{kind}.json", {"text": note.text, "blocks": note.blocks})


def test_pagerduty_carries_the_same_verdict() -> None:
    pd = renderer().pagerduty(quoting.quoting(), phase="llm")
    verdict = pd.custom_details["verdict"]
    assert verdict["change"]["versions"] == "2.4.0 -> 2.4.1"
    assert verdict["flags"] == ["new_checkout=on"]
    assert verdict["span"]["peer"] == "db-primary:5432"
    assert verdict["log"]["line"] == quoting.LOG
    assert pd.custom_details["other_hypotheses"][0].startswith("21% inventory: less likely")
    assert "### Verdict: deploy regression in checkout-api" in pd.note  # the incident note
    assert {link["text"] for link in pd.links} >= {"decisive span", "decisive log"}
    _check("quoting.pagerduty.json", {"summary": pd.summary, **pd.custom_details})
