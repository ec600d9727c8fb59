"""Render an ``Investigation`` into notes: Markdown/plain text, Slack Block Kit, PagerDuty.

All text comes from the Jinja2 templates in ``correlator/notes/templates`` rendered through
``correlator.templating.make_environment`` (sandboxed, StrictUndefined). The content is decided
once in ``correlator.notes.view``; this module only picks templates, escapes for each target and
enforces the targets' size limits (Slack: 3000 chars per section, 150 per header, 50 blocks).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2.sandbox import SandboxedEnvironment

from correlator.models import Investigation
from correlator.notes.feedback import verdict_blocks
from correlator.notes.view import build_view
from correlator.templating import make_environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
SLACK_SECTION_MAX = 3000
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
PD_SUMMARY_MAX = 1024
_SLACK_SECTIONS = ("summary", "cause", "action", "others")


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
    ) -> None:
        self.public_url = public_url
        self.llm_configured = llm_configured
        self.feedback_buttons = feedback_buttons  # Slack app with interactivity (docs/feedback.md)
        self.env = env or make_note_environment()

    def view(self, inv: Investigation, *, phase: str) -> dict[str, Any]:
        return build_view(
            inv, phase=phase, public_url=self.public_url, llm_configured=self.llm_configured
        )

    def _render(self, name: str, ctx: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**ctx).strip()

    def markdown(self, inv: Investigation, *, phase: str) -> str:
        """The note as Markdown (also the terminal's plain text)."""
        return self._render("note.md.j2", self.view(inv, phase=phase)) + "\n"

    def slack(self, inv: Investigation, *, phase: str) -> SlackNote:
        ctx = self.view(inv, phase=phase)
        blocks: list[dict[str, Any]] = [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": _clip(self._render("slack/header.txt.j2", ctx), SLACK_HEADER_MAX),
                },
            }
        ]
        for name in _SLACK_SECTIONS:
            body = self._render(f"slack/{name}.mrkdwn.j2", ctx)
            if body:
                blocks.append(_section(body))
        unchecked = self._render("slack/unchecked.mrkdwn.j2", ctx)
        if unchecked:
            blocks.append(_context(unchecked))
        verdict = self._render("slack/verdict.mrkdwn.j2", ctx)
        if self.feedback_buttons and (ctx["top"] or verdict):
            blocks += verdict_blocks(inv.id, verdict)
        elif verdict:
            blocks.append(_context(verdict))
        blocks.append({"type": "divider"})
        blocks.append(_context(self._render("slack/footer.mrkdwn.j2", ctx)))
        text = _clip(self._render("slack/fallback.txt.j2", ctx), SLACK_TEXT_MAX)
        return SlackNote(text=text, blocks=blocks[:50])

    def slack_thread(self, inv: Investigation, *, phase: str) -> SlackNote:
        """Evidence details, posted as a thread reply under the main message."""
        ctx = self.view(inv, phase=phase)
        body = self._render("slack/thread.mrkdwn.j2", ctx)
        blocks = [_section(chunk) for chunk in _pack(body, SLACK_SECTION_MAX)][:45]
        return SlackNote(text=_clip_lines(body, SLACK_TEXT_MAX), blocks=blocks)

    def pagerduty(self, inv: Investigation, *, phase: str) -> PagerDutyNote:
        ctx = self.view(inv, phase=phase)
        top = ctx["top"]
        links = [{"href": ctx["url"], "text": "correlator investigation"}]
        if top:
            links += [
                {"href": ev["link"], "text": _clip(f"{ev['source']}: {ev['summary']}", 200)}
                for ev in top["evidence"]
                if ev["link"]
            ]
        rem = ctx["remediation"]
        details: dict[str, Any] = {
            "correlator_investigation": ctx["url"],
            "phase": phase,
            "likely_cause": top["statement"] if top else None,
            "confidence": f"{top['confidence']}%" if top else None,
            "service": top["service"] if top else ctx["service"],
            "why": [ev["summary"] for ev in top["evidence"]] if top else [],
            "proposed_action": (
                {"summary": rem["summary"], "commands": rem["commands"], "executed": False}
                if rem
                else None
            ),
            "other_hypotheses": [f"{h['confidence']}% {h['statement']}" for h in ctx["others"]],
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


def _section(text: str) -> dict[str, Any]:
    body = _clip_lines(text, SLACK_SECTION_MAX)
    return {"type": "section", "text": {"type": "mrkdwn", "text": body}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip_lines(text, 3000)}]}


def pagerduty_dedup_key(group_key: str, fallback: str) -> str:
    """Alertmanager's PagerDuty dedup key: hex sha256 of the group key (notify/util.go Key.Hash)."""
    return hashlib.sha256((group_key or fallback).encode()).hexdigest()
