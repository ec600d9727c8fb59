"""The learning parts of a note: track record beside the confidence, the verdict in force, and
the Correct / Partly / Wrong buttons of the Slack message.

``learning_view`` adds three keys to the note's view model (``track_record``, ``verdict``,
``feedback_url``); ``verdict_blocks`` returns the Slack blocks. The buttons carry the
investigation id as their value; ``POST /api/v1/slack/interactions`` receives the clicks
(docs/feedback.md). Values typed by people stay raw here: each template escapes them.
"""

from __future__ import annotations

from typing import Any

from correlator.models import Investigation, Verdict

ACTION_PREFIX = "correlator_verdict_"
VERDICT_BLOCK_ID = "correlator_verdict"
_BUTTONS = (
    (Verdict.CORRECT, "Correct", "primary"),
    (Verdict.PARTLY, "Partly", None),
    (Verdict.WRONG, "Wrong", "danger"),
)


def _record(confirmed: int, total: int) -> str:
    return f"{confirmed} of {total} confirmed"


def track_record(inv: Investigation) -> str:
    """ "this alert: 8 of 10 confirmed; code error: 3 of 4 confirmed" (empty: no verdicts yet)."""
    memory = inv.evidence.memory if inv.evidence else None
    if memory is None:
        return ""
    parts = []
    if memory.alert_record.total:
        parts.append(
            "this alert: " + _record(memory.alert_record.confirmed, memory.alert_record.total)
        )
    top = inv.analysis.top if inv.analysis else None
    fault = memory.fault_records.get(top.fault_type.value) if top else None
    if top is not None and fault is not None and fault.total:
        name = top.fault_type.value.replace("_", " ")
        parts.append(f"{name}: " + _record(fault.confirmed, fault.total))
    return "; ".join(parts)


def verdict_view(inv: Investigation) -> dict[str, Any] | None:
    """The verdict in force: "confirmed by alice", "marked wrong by bob: real cause ..."."""
    fb = inv.verdict
    if fb is None:
        return None
    who = fb.by or "someone"
    if fb.verdict is Verdict.CORRECT:
        text = f"confirmed by {who}"
    elif fb.verdict is Verdict.PARTLY:
        text = f"marked partly right by {who}"
    else:
        text = f"marked wrong by {who}"
    cause = fb.root_cause.describe() if fb.root_cause else ""
    if cause:
        text += f"; real cause: {cause}"
    if fb.note:
        text += f" ({fb.note})"
    return {"verdict": fb.verdict.value, "by": who, "text": text[:600]}


def learning_view(inv: Investigation) -> dict[str, Any]:
    return {"track_record": track_record(inv), "verdict": verdict_view(inv)}


def verdict_blocks(investigation_id: str, verdict_text: str | None) -> list[dict[str, Any]]:
    """The Slack actions block (and the verdict, as context, once there is one)."""
    buttons: list[dict[str, Any]] = []
    for verdict, label, style in _BUTTONS:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": ACTION_PREFIX + verdict.value,
            "text": {"type": "plain_text", "text": label},
            "value": investigation_id,
        }
        if style:
            button["style"] = style
        buttons.append(button)
    blocks: list[dict[str, Any]] = []
    if verdict_text:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": verdict_text}]})
    blocks.append({"type": "actions", "block_id": VERDICT_BLOCK_ID, "elements": buttons})
    return blocks
