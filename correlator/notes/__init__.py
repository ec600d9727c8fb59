"""Notes: what correlator tells people, rendered from templates (see ``render``)."""

from correlator.notes.render import (
    NoteRenderer,
    PagerDutyNote,
    SlackNote,
    make_note_environment,
    mrkdwn_escape,
    pagerduty_dedup_key,
)
from correlator.notes.view import build_view, investigation_url

__all__ = [
    "NoteRenderer",
    "PagerDutyNote",
    "SlackNote",
    "build_view",
    "investigation_url",
    "make_note_environment",
    "mrkdwn_escape",
    "pagerduty_dedup_key",
]
