"""``POST /api/v1/slack/interactions``: the Correct / Partly / Wrong buttons of the verdict message.

Slack posts ``application/x-www-form-urlencoded`` with one field, ``payload`` (JSON). Only
signed, fresh, first-time requests are read (``slack_signing``); without
``CORRELATOR_SLACK__SIGNING_SECRET`` the endpoint answers 404. Handled payloads:

- ``block_actions`` from a ``correlator_verdict_*`` button: the verdict is stored (by the Slack
  user's name); ``wrong`` also opens a modal (``views.open``) asking for the real cause.
- ``view_submission`` of that modal: a second ``wrong`` verdict with the root cause and note.

Slack wants an answer within 3 seconds, so the Slack API calls (the modal, then ``chat.update``
of the message so it shows "confirmed by <user>") run after the response, through the Slack
connector and the shared HTTP policy. ``response_url`` is never used: URLs found in payloads are
not fetched. Everything in a payload is untrusted data.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, Response

from correlator.api.context import AppContext, get_context, read_body
from correlator.api.feedback import record
from correlator.api.slack_signing import ReplayGuard, check
from correlator.errors import CorrelatorError
from correlator.models import FaultType, FeedbackIn, Investigation, RootCause, Verdict
from correlator.notes import NoteRenderer
from correlator.notes.feedback import ACTION_PREFIX

log = logging.getLogger(__name__)
router = APIRouter(tags=["slack"])
MODAL_CALLBACK = "correlator_wrong_verdict"
BODY_LIMIT = 256 * 1024


def _guard(request: Request) -> ReplayGuard:
    guard = getattr(request.app.state, "slack_replay", None)
    if not isinstance(guard, ReplayGuard):
        guard = request.app.state.slack_replay = ReplayGuard()
    return guard


async def _verified_payload(request: Request, ctx: AppContext) -> dict[str, Any]:
    secret = ctx.settings.slack.signing_secret
    if secret is None:
        raise HTTPException(status_code=404, detail="Slack interactivity is not configured")
    body = await read_body(request, BODY_LIMIT)
    ts = request.headers.get("x-slack-request-timestamp", "")
    sig = request.headers.get("x-slack-signature", "")
    now = time.time()
    why = check(secret.get_secret_value(), ts, sig, body, now=now)
    if why is None and not _guard(request).first_time(sig, now=now):
        why = "replayed"
    if why is not None:
        ctx.metrics.slack_interactions_total.labels(outcome=why).inc()
        raise HTTPException(status_code=401, detail=f"Slack signature rejected: {why}")
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=10)
        payload = json.loads(form["payload"][0])
    except (UnicodeDecodeError, KeyError, IndexError, ValueError, RecursionError) as exc:
        ctx.metrics.slack_interactions_total.labels(outcome="malformed").inc()
        raise HTTPException(status_code=400, detail="expected a form field 'payload'") from exc
    if not isinstance(payload, dict):
        raise HTTPException(status_code=400, detail="payload is not an object")
    return payload


def _obj(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _text(value: object, limit: int = 256) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _user(payload: dict[str, Any]) -> str:
    user = _obj(payload, "user")
    return _text(user.get("name")) or _text(user.get("username")) or _text(user.get("id"))


def _message(payload: dict[str, Any]) -> tuple[str, str]:
    """(channel id, message ts) of the message whose button was clicked."""
    container, channel = _obj(payload, "container"), _obj(payload, "channel")
    cid = _text(container.get("channel_id")) or _text(channel.get("id"))
    return cid, _text(container.get("message_ts"), 64)


def wrong_verdict_modal(investigation_id: str, channel: str, ts: str) -> dict[str, object]:
    """The ``views.open`` modal asking for the real cause (every field optional)."""

    def text_input(block_id: str, label: str, *, multiline: bool = False) -> dict[str, object]:
        element: dict[str, object] = {"type": "plain_text_input", "action_id": "value"}
        if multiline:
            element["multiline"] = True
        return {
            "type": "input",
            "block_id": block_id,
            "optional": True,
            "label": {"type": "plain_text", "text": label},
            "element": element,
        }

    options = [
        {"text": {"type": "plain_text", "text": f.value.replace("_", " ")}, "value": f.value}
        for f in FaultType
        if f is not FaultType.NONE
    ]
    fault = {
        "type": "input",
        "block_id": "fault_type",
        "optional": True,
        "label": {"type": "plain_text", "text": "Fault type"},
        "element": {"type": "static_select", "action_id": "value", "options": options},
    }
    meta = json.dumps({"id": investigation_id, "channel": channel, "ts": ts})
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": "What was the real cause?"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            text_input("service", "Service"),
            fault,
            text_input("change", "Change (deploy, config, flag)"),
            text_input("note", "What fixed it?", multiline=True),
        ],
    }


def _state_value(values: dict[str, Any], block_id: str) -> str | None:
    field = values.get(block_id, {}).get("value", {}) if isinstance(values, dict) else {}
    if not isinstance(field, dict):
        return None
    selected = field.get("selected_option")
    raw = selected.get("value") if isinstance(selected, dict) else field.get("value")
    return raw.strip() or None if isinstance(raw, str) else None


def _submission(payload: dict[str, Any]) -> tuple[str, str, str, FeedbackIn] | None:
    view = _obj(payload, "view")
    if view.get("callback_id") != MODAL_CALLBACK:
        return None
    try:
        meta = json.loads(_text(view.get("private_metadata"), 3000))
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    values = _obj(_obj(view, "state"), "values")
    fault = _state_value(values, "fault_type")
    cause = RootCause(
        service=(_state_value(values, "service") or "")[:256] or None,
        fault_type=fault if fault in {f.value for f in FaultType} else None,
        change=(_state_value(values, "change") or "")[:512] or None,
    )
    note = (_state_value(values, "note") or "")[:2000] or None
    body = FeedbackIn(verdict=Verdict.WRONG, root_cause=cause, note=note, by=_user(payload))
    inv_id, channel, ts = (_text(meta.get(k), 64) for k in ("id", "channel", "ts"))
    return inv_id, channel, ts, body


def _phase(inv: Investigation) -> str:
    if inv.alert_status.value == "resolved":
        return "resolved"
    return "llm" if inv.llm.enabled else "rules"


async def _refresh_message(ctx: AppContext, investigation_id: str, channel: str, ts: str) -> None:
    """Re-render the verdict message so it shows the verdict in force."""
    inv = await ctx.store.get(investigation_id)
    if inv is None or ctx.slack is None or not channel or not ts:
        return
    renderer = NoteRenderer(
        public_url=ctx.settings.public_url,
        llm_configured=ctx.settings.llm.enabled,
        feedback_buttons=True,
    )
    note = renderer.slack(inv, phase=_phase(inv))
    try:
        await ctx.slack.update_message(channel, ts, note.text, list(note.blocks))
    except CorrelatorError as exc:  # the verdict is stored; the message catches up next update
        log.warning("could not update the Slack message after a verdict: %s", exc)


async def _open_modal(ctx: AppContext, trigger_id: str, view: dict[str, object]) -> None:
    if ctx.slack is None:
        return
    try:
        await ctx.slack.open_view(trigger_id, view)
    except CorrelatorError as exc:
        log.warning("could not open the real-cause modal: %s", exc)


async def _store(ctx: AppContext, investigation_id: str, body: FeedbackIn) -> bool:
    try:
        await record(ctx, investigation_id, body, source="slack")
    except HTTPException:  # no such investigation (deleted by retention): nothing to do
        ctx.metrics.slack_interactions_total.labels(outcome="unknown_investigation").inc()
        return False
    ctx.metrics.slack_interactions_total.labels(outcome="ok").inc()
    return True


@router.post("/api/v1/slack/interactions", include_in_schema=True)
async def slack_interactions(
    request: Request, tasks: BackgroundTasks, ctx: AppContext = Depends(get_context)
) -> Response:
    """Slack interactivity Request URL (see docs/feedback.md for the app set-up)."""
    payload = await _verified_payload(request, ctx)
    kind = payload.get("type")
    if kind == "block_actions":
        actions = payload.get("actions")
        first = actions[0] if isinstance(actions, list) and actions else None
        action: dict[str, Any] = first if isinstance(first, dict) else {}
        action_id = _text(action.get("action_id"))
        verdict = action_id.removeprefix(ACTION_PREFIX)
        if action_id.startswith(ACTION_PREFIX) and verdict in {v.value for v in Verdict}:
            inv_id = _text(action.get("value"), 64)
            channel, ts = _message(payload)
            body = FeedbackIn(verdict=Verdict(verdict), by=_user(payload) or None)
            if await _store(ctx, inv_id, body):
                if body.verdict is Verdict.WRONG:
                    trigger = _text(payload.get("trigger_id"))
                    tasks.add_task(
                        _open_modal, ctx, trigger, wrong_verdict_modal(inv_id, channel, ts)
                    )
                tasks.add_task(_refresh_message, ctx, inv_id, channel, ts)
    elif kind == "view_submission" and (sub := _submission(payload)) is not None:
        inv_id, channel, ts, body = sub
        if await _store(ctx, inv_id, body):
            tasks.add_task(_refresh_message, ctx, inv_id, channel, ts)
    return Response(status_code=200)
