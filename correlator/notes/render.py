"""Render an ``Investigation`` into notes: Markdown/plain text, Slack Block Kit, PagerDuty.

All text comes from the Jinja2 templates in ``correlator/notes/templates`` rendered through
``correlator.templating.make_environment`` (sandboxed, StrictUndefined). The content is decided
once in ``correlator.notes.view``; this module only picks templates, escapes for each target and
enforces the targets' size limits (Slack: 3000 chars per section, 150 per header, 50 blocks).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from correlator.models import Investigation
from correlator.notes.feedback import verdict_blocks
from correlator.notes.view import build_view
from correlator.templating import make_environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Block Kit limits (docs.slack.dev/reference/block-kit/blocks): section text 3000 characters,
# header text 150, context at most 10 elements (each a text object of at most 3000), a message
# at most 50 blocks. The top-level ``text`` is the notification fallback; Slack truncates it at
# 40,000 characters and we keep it far shorter.
SLACK_SECTION_MAX = 3000
SLACK_HEADER_MAX = 150
SLACK_CONTEXT_ELEMENTS_MAX = 10
SLACK_BLOCKS_MAX = 50
SLACK_TEXT_MAX = 3000
PD_SUMMARY_MAX = 1024


def mrkdwn_escape(value: object) -> str:
    """Escape Slack's control characters (``&``, ``<``, ``>``) in an untrusted value."""
    s = str(value)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_escape(value: object) -> str:
    """Keep an untrusted value on one line and unable to form Markdown links or HTML."""
    s = " ".join(str(value).split())
    for ch in ("\\", "[", "]", "<", "`"):
        s = s.replace(ch, "\\" + ch)
    return s


def codeblock(value: object) -> str:
    """A value shown inside a fenced code block cannot close the fence."""
    return str(value).replace("```", "`\u200b``")


def slack_link(url: object, text: object) -> str:
    """``<url|text>`` with the characters that would break the link syntax encoded."""
    u = mrkdwn_escape(str(url).replace("|", "%7C").replace(" ", "%20"))
    t = mrkdwn_escape(text).replace("|", "/")
    return f"<{u}|{t}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip_lines(text: str, limit: int) -> str:
    """Drop whole lines from the end (never cut a link in half) until ``text`` fits."""
    if len(text) <= limit:
        return text
    lines = text.splitlines()
    # a closing "• …and N more" line is kept: it says where the rest is
    tail = [lines.pop()] if len(lines) > 1 and lines[-1].startswith("• …") else []
    while len(lines) > 1 and len("\n".join(lines + tail)) + 2 > limit:
        lines.pop()
    return (
        _clip("\n".join(lines), limit - 2 - sum(len(t) + 1 for t in tail))
        + "\n…"
        + "".join("\n" + t for t in tail)
    )


def _pack(text: str, limit: int) -> list[str]:
    """Split ``text`` at line boundaries into chunks of at most ``limit`` characters."""
    chunks: list[str] = []
    current = ""
    for line in text.splitlines():
        line = _clip(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def make_note_environment(*extra: Path) -> SandboxedEnvironment:
    env = make_environment(*extra, TEMPLATES)
    env.filters["mrkdwn"] = mrkdwn_escape
    env.filters["md"] = md_escape
    env.filters["codeblock"] = codeblock
    env.filters["slack_link"] = slack_link
    return env


@dataclass(frozen=True)
class SlackNote:
    text: str
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class PagerDutyNote:
    summary: str
    custom_details: dict[str, Any]
    links: list[dict[str, str]] = field(default_factory=list)
    note: str = ""


class NoteRenderer:
    """Renders notes for one deployment (``public_url`` for links to our own UI)."""

    def __init__(
        self,
        *,
        public_url: str,
        llm_configured: bool = False,
        env: SandboxedEnvironment | None = None,
        feedback_buttons: bool = False,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.public_url = public_url
        self.llm_configured = llm_configured
        self.feedback_buttons = feedback_buttons  # Slack app with interactivity (docs/feedback.md)
        self.env = env or make_note_environment()
        self.redact = redact

    def view(self, inv: Investigation, *, phase: str) -> dict[str, Any]:
        return build_view(
            inv,
            phase=phase,
            public_url=self.public_url,
            llm_configured=self.llm_configured,
            redact=self.redact,
        )

    def _render(self, name: str, ctx: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**ctx).strip()

    def markdown(self, inv: Investigation, *, phase: str) -> str:
        """The note as Markdown (also the terminal's plain text)."""
        return self._render("note.md.j2", self.view(inv, phase=phase)) + "\n"

    def slack(self, inv: Investigation, *, phase: str) -> SlackNote:
        """The first message: a short verdict-first card (title, verdict, action, confidence,
        links); everything else is in ``slack_thread``."""
        ctx = self.view(inv, phase=phase)
        header = _clip(self._render("slack/header.txt.j2", ctx), SLACK_HEADER_MAX)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": header}}
        ]
        card = self._render("slack/card.mrkdwn.j2", ctx)
        if card:
            blocks.append(_section(card))
        blocks.append(_context(self._render("slack/status.mrkdwn.j2", ctx)))
        unchecked = self._render("slack/unchecked.mrkdwn.j2", ctx)
        if unchecked:
            blocks.append(_context(unchecked))
        # learn: the human verdict in force and, with an interactive Slack app, its buttons
        feedback = self._render("slack/verdict.mrkdwn.j2", ctx)
        if self.feedback_buttons and (ctx["top"] or feedback):
            blocks += verdict_blocks(inv.id, feedback)
        elif feedback:
            blocks.append(_context(feedback))
        blocks.append(_context(self._render("slack/footer.mrkdwn.j2", ctx)))
        text = _clip(self._render("slack/fallback.txt.j2", ctx), SLACK_TEXT_MAX)
        return SlackNote(text=text, blocks=blocks[:SLACK_BLOCKS_MAX])

    def slack_thread(self, inv: Investigation, *, phase: str) -> SlackNote:
        """Everything behind the verdict, as the thread reply under the card (edited in place
        with it): quotes in full, action, runners-up, changes, what could not be checked,
        evidence."""
        ctx = self.view(inv, phase=phase)
        body = self._render("slack/thread.mrkdwn.j2", ctx)
        chunks = _pack(body, SLACK_SECTION_MAX)
        blocks = [_section(chunk) for chunk in chunks[: SLACK_BLOCKS_MAX - 1]]
        if len(chunks) > SLACK_BLOCKS_MAX - 1:
            more = f"…and more on {slack_link(ctx['url'], 'the investigation page')}"
            blocks[-1] = _section(more)
        return SlackNote(text=_clip_lines(body, SLACK_TEXT_MAX), blocks=blocks)

    def pagerduty(self, inv: Investigation, *, phase: str) -> PagerDutyNote:
        ctx = self.view(inv, phase=phase)
        top = ctx["top"]
        links = [{"href": ctx["url"], "text": "correlator investigation"}]
        for name, quote in _quotes(ctx["verdict"]):
            links.append({"href": quote["link"], "text": name})
        if top:
            links += [
                {"href": ev["link"], "text": _clip(f"{ev['source']}: {ev['summary']}", 200)}
                for ev in top["evidence"]
                if ev["link"]
            ]
        rem = ctx["remediation"]
        verdict = ctx["verdict"]
        details: dict[str, Any] = {
            "correlator_investigation": ctx["url"],
            "phase": phase,
            "verdict": _pd_verdict(verdict) if verdict else None,
            "likely_cause": top["statement"] if top else None,
            "confidence": f"{top['confidence']}%" if top else None,
            "service": top["service"] if top else ctx["service"],
            "why": [ev["summary"] for ev in ctx["why"]],
            "proposed_action": (
                {"summary": rem["summary"], "commands": rem["commands"], "executed": False}
                if rem
                else None
            ),
            "other_hypotheses": [
                f"{h['confidence']}% {h['service']}: less likely because {h['less_likely']}"
                for h in ctx["runners_up"]
            ],
            "inconclusive": ctx["inconclusive"],
            "could_not_check": ctx["unchecked"],
        }
        return PagerDutyNote(
            summary=_clip(self._render("pagerduty_summary.txt.j2", ctx), PD_SUMMARY_MAX),
            custom_details=details,
            links=links[:10],
            note=self.markdown(inv, phase=phase),
        )

    def summary_json(self, inv: Investigation, *, phase: str) -> dict[str, Any]:
        """The generic webhook body: the view model plus the Markdown note."""
        ctx = self.view(inv, phase=phase)
        return {
            "version": "1",
            "investigation_id": inv.id,
            "fingerprint": inv.fingerprint,
            "phase": phase,
            "note": self.markdown(inv, phase=phase),
            **{k: v for k, v in ctx.items() if k not in ("id", "phase")},
        }


def _quotes(verdict: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
    """The verdict's quotes that carry a link, named for a link list."""
    if not verdict:
        return []
    names = (
        ("change", "culprit change"),
        ("diff", "culprit diff"),
        ("span", "decisive span"),
        ("log", "decisive log"),
    )
    return [(n, verdict[k]) for k, n in names if verdict.get(k) and verdict[k].get("link")]


def _pd_verdict(v: dict[str, Any]) -> dict[str, Any]:
    """The verdict as PagerDuty custom details: the same quotes as the note, as fields."""
    change, span, log = v["change"], v["span"], v["log"]
    return {
        "cause": f"{v['fault']} in {v['service']} ({v['confidence']}%)",
        "change": (
            {k: change[k] for k in ("service", "versions", "commits", "time", "sources")}
            if change
            else None
        ),
        "flags": [f"{f['key']}={f['variant']}" for f in v["flags"]],
        "span": (
            {
                k: span[k]
                for k in (
                    "service",
                    "name",
                    "statement",
                    "peer",
                    "duration",
                    "baseline",
                    "trace_id",
                )
            }
            if span
            else None
        ),
        "log": {k: log[k] for k in ("line", "service", "level", "trace_id")} if log else None,
        "diff": v["diff"],
        "action": v["action"],
    }


def _section(text: str) -> dict[str, Any]:
    body = _clip_lines(text, SLACK_SECTION_MAX)
    return {"type": "section", "text": {"type": "mrkdwn", "text": body}}


def _context(text: str) -> dict[str, Any]:
    element = {"type": "mrkdwn", "text": _clip_lines(text, SLACK_SECTION_MAX)}
    return {"type": "context", "elements": [element][:SLACK_CONTEXT_ELEMENTS_MAX]}


def pagerduty_dedup_key(group_key: str, fallback: str) -> str:
    """Alertmanager's PagerDuty dedup key: hex sha256 of the group key (notify/util.go Key.Hash)."""
    return hashlib.sha256((group_key or fallback).encode()).hexdigest()
