"""Notification channels: which are configured, where a note goes, and what each one sends.

One place answers "what does a note look like on channel X": every channel has a planner that
turns an investigation at a phase into the messages to store (``Planned``), and ``PLANNERS``
lists them in delivery order. The outbox (``correlator.notify.outbox``) loops over them; the
connectors (``connectors/<vendor>.py``) only transport the payloads built here.

Channels: ``slack`` (bot: verdict card, then update; details thread reply, posted once under
the card and then updated with it), ``slack_webhook`` (one final post), ``pagerduty`` (Events v2
enrichment or REST incident notes), ``webhook`` (summary JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from correlator.models import Investigation
from correlator.notes import NoteRenderer, pagerduty_dedup_key
from correlator.settings import Settings

_PD_SEVERITY = {"critical": "critical", "page": "critical", "error": "error", "warning": "warning"}


@dataclass(frozen=True)
class ChannelOptions:
    """Per-channel settings the planners need (from ``Settings.slack``/``pagerduty``)."""

    slack_channel: str | None = None
    slack_routes: Mapping[str, str] = field(default_factory=dict)
    pagerduty_mode: str = "events"


@dataclass(frozen=True)
class Planned:
    """One message to store: the outbox adds ids, times, sequence and idempotency key.

    ``message_key`` is only set when it is not the channel's own (a thread reply has its own).
    """

    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    idem_suffix: str
    message_key: str | None = None


Planner = Callable[[NoteRenderer, Investigation, str, ChannelOptions], list[Planned]]


def message_key(investigation_id: str, channel: str, target: str = "") -> str:
    """The key shared by every row that edits one message (one per investigation and target)."""
    return f"{investigation_id}:{channel}:{target}" if target else f"{investigation_id}:{channel}"


def group_suffix(inv: Investigation, channel: str, idem_suffix: str) -> str:
    """Idempotency-key suffix of a group's note: published again by each re-run (``revision``)
    and, on Slack (which edits in place), when its alert count changes; other channels once per
    revision. Empty for a single-alert investigation and for thread replies."""
    if inv.group is None or idem_suffix == "thread":
        return ""
    suffix = f":r{inv.group.revision}"
    if channel == "slack":
        suffix += f":a{inv.group.firing}-{len(inv.group.alerts)}"
    return suffix


def route_channels(
    labels: Mapping[str, str], routes: Mapping[str, str], default: str | None
) -> list[str]:
    """Slack channels for an alert: every route whose matchers (``k=v[,k=v]``) all match.

    Falls back to ``default`` when no route matches. Order follows ``routes``; no duplicates.
    """
    out: list[str] = []
    for matcher, channel in routes.items():
        pairs = [p.split("=", 1) for p in matcher.split(",") if "=" in p]
        matched = bool(pairs) and all(labels.get(k.strip()) == v.strip() for k, v in pairs)
        if matched and channel not in out:
            out.append(channel)
    if not out and default:
        out.append(default)
    return out


def plan_slack(
    renderer: NoteRenderer, inv: Investigation, phase: str, opts: ChannelOptions
) -> list[Planned]:
    """Post at ``running``/``rules``, update later; one details thread reply per message."""
    out: list[Planned] = []
    targets = route_channels(inv.alert.labels, opts.slack_routes, opts.slack_channel)
    note = renderer.slack(inv, phase=phase)
    thread = renderer.slack_thread(inv, phase=phase) if phase != "running" else None
    for target in targets:
        kind = "post" if phase in ("running", "rules") else "update"
        payload = {"text": note.text, "blocks": note.blocks}
        out.append(Planned("slack", kind, target, payload, phase))
        if thread is None:
            continue
        parent = message_key(inv.id, "slack", target)
        tpayload = {"text": thread.text, "blocks": thread.blocks, "parent_key": parent}
        # One reply per message, edited in place like the card: a row per phase, and the
        # worker turns every row after the first delivered one into a chat.update.
        out.append(
            Planned("slack", "thread", target, tpayload, f"thread:{phase}", f"{parent}:thread")
        )
    return out


def plan_slack_webhook(
    renderer: NoteRenderer, inv: Investigation, phase: str, opts: ChannelOptions
) -> list[Planned]:
    """Incoming webhooks cannot edit: one post of the final note only."""
    llm_on = inv.llm.enabled or renderer.llm_configured
    if not (phase == "llm" or (phase == "rules" and not llm_on)):
        return []
    note = renderer.slack(inv, phase=phase)
    payload = {"text": note.text, "blocks": note.blocks}
    return [Planned("slack_webhook", "post", "", payload, "final")]


def plan_pagerduty(
    renderer: NoteRenderer, inv: Investigation, phase: str, opts: ChannelOptions
) -> list[Planned]:
    """Events v2 enrichment (``trigger`` on the alert's dedup key) or a REST incident note."""
    if phase == "resolved":
        return []  # Alertmanager resolves the incident itself
    pd = renderer.pagerduty(inv, phase=phase)
    dedup = pagerduty_dedup_key(inv.alert.group_key, inv.fingerprint)
    if opts.pagerduty_mode == "notes":
        note: dict[str, Any] = {"incident_key": dedup, "content": pd.note}
        return [Planned("pagerduty", "note", "", note, phase)]
    labels = inv.alert.labels
    payload = {
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": pd.summary,
            "source": labels.get("instance") or labels.get("service") or "correlator",
            "severity": _PD_SEVERITY.get(inv.alert.severity, "error"),
            "timestamp": inv.alert.starts_at.isoformat(),
            "component": labels.get("service", ""),
            "custom_details": pd.custom_details,
        },
        "links": pd.links,
        "client": "correlator",
        "client_url": pd.custom_details["correlator_investigation"],
    }
    return [Planned("pagerduty", "enrich", "", payload, phase)]


def plan_webhook(
    renderer: NoteRenderer, inv: Investigation, phase: str, opts: ChannelOptions
) -> list[Planned]:
    """The summary JSON at every phase."""
    payload = renderer.summary_json(inv, phase=phase)
    return [Planned("webhook", "post", "", payload, phase)]


PLANNERS: dict[str, Planner] = {
    "slack": plan_slack,
    "slack_webhook": plan_slack_webhook,
    "pagerduty": plan_pagerduty,
    "webhook": plan_webhook,
}
CHANNELS = tuple(PLANNERS)


def configured_channels(settings: Settings) -> list[str]:
    """``slack`` (bot token and a channel or routes), ``slack_webhook``, ``pagerduty``
    (routing key in events mode; API token and From address in notes mode), ``webhook``."""
    out: list[str] = []
    s, pd = settings.slack, settings.pagerduty
    if s.bot_token is not None and (s.channel or s.routes):
        out.append("slack")
    if s.webhook_url is not None:
        out.append("slack_webhook")
    if (pd.mode == "events" and pd.routing_key is not None) or (
        pd.mode == "notes" and pd.api_token is not None and pd.from_email
    ):
        out.append("pagerduty")
    if settings.webhook.url:
        out.append("webhook")
    return out


def channel_options(settings: Settings) -> ChannelOptions:
    return ChannelOptions(
        slack_channel=settings.slack.channel,
        slack_routes=dict(settings.slack.routes),
        pagerduty_mode=settings.pagerduty.mode,
    )
