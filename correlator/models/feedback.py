"""What people said about a verdict, and what correlator remembers of past incidents.

``Feedback`` is one verdict on an investigation's top hypothesis (several per investigation; the
latest wins). ``IncidentMemory`` travels in the evidence bundle: the similar past incidents found
for this alert (with their confirmed causes) and the track record of this alert rule and of each
fault type, so the note can put "this alert: 8 of 10 confirmed" beside the confidence. Values
here are untrusted text typed by people: every renderer escapes them, the LLM sees them redacted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    CORRECT = "correct"
    PARTLY = "partly"
    WRONG = "wrong"


class RootCause(BaseModel):
    """The real cause as a person states it (all optional: say what you know)."""

    model_config = ConfigDict(extra="forbid")

    service: str | None = Field(default=None, max_length=256)
    fault_type: str | None = Field(default=None, max_length=64)
    change: str | None = Field(default=None, max_length=512, description="e.g. a deploy or flag")

    def describe(self) -> str:
        parts = [p for p in (self.service, (self.fault_type or "").replace("_", " ")) if p]
        head = " ".join(parts)
        if self.change:
            head = f"{head} after {self.change}" if head else self.change
        return head


class FeedbackIn(BaseModel):
    """Body of ``POST /api/v1/investigations/{id}/feedback``."""

    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    root_cause: RootCause | None = None
    note: str | None = Field(default=None, max_length=2000, description="e.g. how it was fixed")
    by: str | None = Field(default=None, max_length=256)


class Feedback(FeedbackIn):
    """One stored verdict. ``source``: api, slack or ui."""

    model_config = ConfigDict(extra="forbid")

    id: str
    investigation_id: str
    created_at: datetime
    source: str = "api"
    predicted_service: str | None = None
    predicted_fault_type: str | None = None


class Tally(BaseModel):
    """``confirmed`` of ``total`` verdicts were ``correct`` (``partly`` counts in total only)."""

    confirmed: int = 0
    partly: int = 0
    total: int = 0

    @property
    def ratio(self) -> float | None:
        return self.confirmed / self.total if self.total else None


class PastIncident(BaseModel):
    """A similar past investigation, as the memory lookup found it."""

    investigation_id: str
    created_at: datetime
    similarity: float = Field(ge=0.0, le=1.0)
    verdict: Verdict | None = None
    cause: str | None = Field(default=None, description="the confirmed cause, if any")
    cause_service: str | None = None
    cause_fault_type: str | None = None
    fix: str | None = Field(default=None, description="what fixed it (proposal or feedback note)")


class IncidentMemory(BaseModel):
    """Memory of this alert: similar incidents (top 3) and the track record at the time."""

    evidence_id: str = "memory:similar"
    window_days: int = 30
    similar_count: int = 0
    similar: list[PastIncident] = Field(default_factory=list)
    alert_record: Tally = Field(default_factory=Tally)
    fault_records: dict[str, Tally] = Field(default_factory=dict)


class IncidentSignature(BaseModel):
    """What makes two incidents "the same problem": alert rule and service (exact), the
    failing operation, the kind of change before the onset and the error log templates."""

    alertname: str
    service: str
    operation: str = ""
    change_kind: str = ""
    templates: list[str] = Field(default_factory=list, description="hashes of error templates")


class AccuracyRow(BaseModel):
    """One line of the track record: verdicts in force for one alert rule or fault type."""

    key: str
    confirmed: int = 0
    partly: int = 0
    wrong: int = 0
    total: int = 0
    ratio: float | None = Field(default=None, description="confirmed / total")


class AccuracyTable(BaseModel):
    """``GET /api/v1/accuracy``: the latest verdict of each investigation, counted."""

    since: datetime | None = None
    overall: AccuracyRow = Field(default_factory=lambda: AccuracyRow(key="all"))
    by_alertname: list[AccuracyRow] = Field(default_factory=list)
    by_fault_type: list[AccuracyRow] = Field(default_factory=list)


_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``2w``, ``90m`` (``--since`` and ``?since=``)."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:]) if value else None
    if unit is None or not value[:-1].isdigit():
        raise ValueError(f"not a duration: {text!r} (e.g. 30d, 12h, 2w)")
    return int(value[:-1]) * float(unit)
