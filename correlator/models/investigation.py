"""The durable investigation record and what is shown of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from correlator.models.alert import Alert, AlertStatus
from correlator.models.analysis import Analysis, Remediation
from correlator.models.evidence import EvidenceBundle
from correlator.models.feedback import Feedback


class InvestigationStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class StageTiming(BaseModel):
    name: str
    started_at: datetime
    elapsed_ms: float
    status: str = "ok"
    detail: str = ""


class LLMCallRecord(BaseModel):
    """What one LLM request carried: a hash and the size of the exact messages, and how many
    placeholders of each kind they contain (secrets redacted before sending)."""

    sha256: str
    bytes: int
    redactions: dict[str, int] = Field(default_factory=dict)


class LLMStageStats(BaseModel):
    stage: str
    model: str
    status: str = "ok"
    calls: int = 0
    wall_ms: float = 0.0
    ttft_ms: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    retries: int = 0
    cache_hits: int = 0
    failures: int = 0
    error: str | None = None
    sent: list[LLMCallRecord] = Field(
        default_factory=list, description="per request: sha256, bytes, redaction counts"
    )


class LLMReport(BaseModel):
    enabled: bool = False
    degraded: bool = False
    reason: str | None = None
    stages: list[LLMStageStats] = Field(default_factory=list)
    redactions: dict[str, int] = Field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        """Per-investigation LLM cost for eval/bench tables: calls, tokens, seconds, USD, cache
        hits, retries. ``seconds`` sums stage wall times (digest calls run in parallel)."""
        st = self.stages
        return {
            "calls": float(sum(s.calls for s in st)),
            "tokens_in": float(sum(s.tokens_in for s in st)),
            "tokens_out": float(sum(s.tokens_out for s in st)),
            "seconds": sum(s.wall_ms for s in st) / 1000.0,
            "cost_usd": sum(s.cost_usd or 0.0 for s in st),
            "cache_hits": float(sum(s.cache_hits for s in st)),
            "retries": float(sum(s.retries for s in st)),
        }


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    EXPIRED = "expired"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class NotificationState(BaseModel):
    id: str
    channel: str = Field(description="slack, slack_webhook, pagerduty, webhook")
    kind: str = Field(description="post, update, thread, enrich, note")
    state: DeliveryState
    attempts: int = 0
    last_error: str | None = None
    external_id: str | None = Field(default=None, description="e.g. Slack message ts")
    updated_at: datetime | None = None


class GroupAlert(BaseModel):
    """One alert of an Alertmanager group, with its own status (resolves independently)."""

    fingerprint: str
    status: AlertStatus
    starts_at: datetime
    ends_at: datetime | None = None
    alertname: str = ""
    service: str = ""
    expr: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class AlertGroup(BaseModel):
    """The Alertmanager group an investigation covers (``grouping: alertmanager``).

    ``alerts`` and ``revision`` are read from the store's columns, never from a worker's copy.
    """

    receiver: str
    group_key: str
    group_labels: dict[str, str] = Field(default_factory=dict)
    revision: int = Field(
        default=0, description="re-runs after new alerts widened the evidence scope"
    )
    scope: list[str] = Field(
        default_factory=list,
        description="services and expressions the current run covers ('service | expr')",
    )
    alerts: list[GroupAlert] = Field(default_factory=list)
    firing: int = 0
    resolved: int = 0


class Investigation(BaseModel):
    id: str
    fingerprint: str
    alert: Alert
    alert_status: AlertStatus
    status: InvestigationStatus
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    partial: str | None = Field(
        default=None, description="set when the pipeline ran only part of its stages, and why"
    )
    window_start: datetime | None = None
    window_end: datetime | None = None
    expr: str | None = None
    evidence: EvidenceBundle | None = None
    analysis: Analysis | None = None
    remediation: Remediation | None = None
    stages: list[StageTiming] = Field(default_factory=list)
    llm: LLMReport = Field(default_factory=LLMReport)
    notifications: list[NotificationState] = Field(default_factory=list)
    note: str | None = Field(default=None, description="latest rendered note (Markdown)")
    feedback: list[Feedback] = Field(
        default_factory=list, description="verdicts on this investigation, oldest first; last wins"
    )
    group: AlertGroup | None = Field(
        default=None, description="the Alertmanager group (grouping: alertmanager), else null"
    )

    @property
    def verdict(self) -> Feedback | None:
        """The feedback in force (the latest), if any."""
        return self.feedback[-1] if self.feedback else None
