"""Every seam of the service in one file (structural Protocols): backend sources, notifiers,
the store, the note sink, and the pipeline's stages.

Connectors satisfy these without importing them; only ``correlator.wiring`` builds concrete
ones. Sources raise ``correlator.errors.BackendError`` subclasses; ``correlator.evidence`` turns
those into status envelopes, so nothing below ever reaches a caller as a crash.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from correlator.models import (
    AccuracyTable,
    Alert,
    Analysis,
    Change,
    Compare,
    Deploy,
    EvidenceBundle,
    Exemplar,
    Feedback,
    FeedbackIn,
    IncidentMemory,
    IncidentSignature,
    Investigation,
    InvestigationStatus,
    LogLine,
    MetricSeries,
    NotificationState,
    TimeWindow,
    Trace,
)


class ExemplarSource(Protocol):
    async def query_exemplars(self, expr: str, window: TimeWindow) -> list[Exemplar]: ...


class MetricsSource(Protocol):
    async def query_range(
        self, expr: str, window: TimeWindow, step_seconds: float
    ) -> list[MetricSeries]: ...


class SeriesSource(Protocol):
    """Which series exist (``/api/v1/series``): label sets matching any of ``matchers``."""

    async def series(self, matchers: Sequence[str], window: TimeWindow) -> list[dict[str, str]]: ...


class RuleExprSource(Protocol):
    async def alert_rule_expr(self, alertname: str) -> str | None: ...


class TraceSource(Protocol):
    async def get_trace(self, trace_id: str) -> Trace | None: ...


class TraceSearch(Protocol):
    async def search(self, traceql: str, window: TimeWindow, limit: int) -> list[str]:
        """Trace ids (normalised 32-hex) matching a TraceQL query."""
        ...


class LogSource(Protocol):
    async def query_range(self, logql: str, window: TimeWindow, limit: int) -> list[LogLine]: ...


class AnnotationSource(Protocol):
    async def deploy_annotations(self, window: TimeWindow, tags: Sequence[str]) -> list[Change]: ...


class ChangeSource(Protocol):
    """A Git provider's compare API, read-only (connectors/github.py, connectors/gitlab.py).

    ``repository`` maps a repository URL found in telemetry (``vcs.repository.url.full``) to
    this provider's repository id, or ``None`` when its host is not the configured provider's;
    it never fetches anything. ``compare`` returns the commits and changed files between
    ``base`` and ``head`` (``BackendRejected`` with status 404 when either is unknown).
    """

    def repository(self, url: str) -> str | None: ...

    async def compare(self, repo: str, base: str, head: str) -> Compare: ...


class DeployStore(Protocol):
    async def add_deploy(self, deploy: Deploy) -> str: ...

    async def deploys_between(self, start: datetime, end: datetime) -> list[Deploy]: ...


class IncidentRecall(Protocol):
    """Memory of past incidents (``correlator.store.learning``; docs/feedback.md)."""

    async def recall(
        self,
        signature: IncidentSignature,
        *,
        exclude_id: str,
        at: datetime,
        window_days: int = 30,
        limit: int = 3,
    ) -> IncidentMemory:
        """Similar incidents of the same alert rule and service before ``at`` (top ``limit``)."""
        ...

    async def remember(
        self, signature: IncidentSignature, investigation_id: str, at: datetime
    ) -> None: ...


class FeedbackStore(Protocol):
    """Verdicts and the track record (``correlator.store.learning``; docs/feedback.md)."""

    async def add_feedback(
        self, investigation_id: str, body: FeedbackIn, *, source: str = "api"
    ) -> Feedback | None:
        """Store a verdict; None when there is no such investigation."""
        ...

    async def accuracy(self, *, since: datetime | None = None) -> AccuracyTable: ...


class SlackActions(Protocol):
    """What the Slack interactivity endpoint asks of Slack (``connectors/slack.py``)."""

    async def open_view(self, trigger_id: str, view: dict[str, object]) -> None: ...

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, object]]
    ) -> None: ...


class EventSink(Protocol):
    """Progress events of an investigation (stored, then streamed as SSE by the API)."""

    async def emit(self, investigation_id: str, kind: str, payload: dict[str, object]) -> None: ...


class NoteSink(Protocol):
    """Receives the investigation each time its note should be (re)published.

    ``phase`` is one of ``running`` (the investigation started: Slack shows an "investigating"
    card that later phases edit in place), ``rules`` (first verdict, before any LLM call),
    ``llm`` (LLM stages done), ``resolved`` (the alert resolved). The notify outbox implements
    it: it stores the notifications and delivers them later, so publishing never blocks on
    Slack/PagerDuty.
    """

    async def publish(self, investigation: Investigation, *, phase: str) -> None: ...

    async def delivery_states(self, investigation_id: str) -> list[NotificationState]:
        """Where each notification of the investigation stands (API and UI show it)."""
        ...


@dataclass(frozen=True)
class OutboundNote:
    """One notification the outbox hands to a notifier (payload already rendered).

    ``kind``: ``post`` (new message), ``update`` (edit ``external_id``), ``thread`` (reply under
    ``external_id``), ``enrich`` (PagerDuty event), ``note`` (PagerDuty incident note), ``post``
    for webhooks. ``target`` is the channel-specific address (e.g. a Slack channel).
    """

    channel: str
    kind: str
    target: str
    payload: dict[str, object]
    idempotency_key: str
    investigation_id: str
    external_id: str | None = None


@dataclass(frozen=True)
class DeliveryReceipt:
    """What a delivered notification returned: the message id to edit later (Slack ``ts``)."""

    external_id: str | None = None
    target: str | None = None


class Notifier(Protocol):
    """Delivers one ``OutboundNote`` (connectors/slack.py, pagerduty.py, webhook.py).

    Raises ``correlator.errors.NotifyError`` (``retryable`` says whether to try again) or a
    ``BackendError`` (``transient``; ``BackendRateLimited.retry_after``); the outbox retries.
    """

    async def send(self, note: OutboundNote) -> DeliveryReceipt: ...


class ActiveAlertSource(Protocol):
    """Alerts currently firing upstream (Alertmanager ``/api/v2/alerts``), for reconciliation."""

    async def active_alerts(self) -> list[Alert]: ...


@dataclass(frozen=True)
class StoredEvent:
    """One progress event of an investigation as stored (``id`` increases per store)."""

    id: int
    investigation_id: str
    kind: str
    created_at: datetime
    payload: dict[str, object] = field(default_factory=dict)


@dataclass
class GroupIntake:
    """What one Alertmanager notification did to its group's investigation."""

    investigation: Investigation
    created: bool
    outcomes: list[str] = field(default_factory=list)  # per alert: new | duplicate | resolved
    joined: int = 0  # firing alerts new to an existing investigation
    rerun: bool = False  # they widened the evidence scope: a debounced re-run is due
    resolved_now: bool = False  # the group's last firing alert resolved with this notification


class Store(Protocol):
    """Durable investigations, their work queue and events, and deploys (satisfies DeployStore).

    Implemented by ``correlator.store.SqlStore``. Every write is committed before it returns.
    Status moves queued -> running (``claim_next``) -> done | failed (``save``); ``running`` rows
    carry a lease that the worker renews; expired leases go back to ``queued``.
    """

    async def create_or_get(self, alert: Alert) -> tuple[Investigation, bool]:
        """One investigation per (fingerprint, starts_at); ``True`` when newly created."""
        ...

    async def create_or_get_many(
        self, alerts: Sequence[Alert]
    ) -> builtins.list[tuple[Investigation, bool]]:
        """``create_or_get`` for every alert, in order, committed in one transaction."""
        ...

    async def mark_resolved(
        self, fingerprint: str, starts_at: datetime, ends_at: datetime | None
    ) -> Investigation | None: ...

    async def intake_group(
        self,
        alerts: Sequence[Alert],
        *,
        group_labels: Mapping[str, str],
        debounce_seconds: float,
    ) -> GroupIntake:
        """One notification of an Alertmanager group (same receiver and groupKey), committed
        in one transaction: one investigation per open group (``correlator.store.groups``)."""
        ...

    async def claim_next(self, owner: str, lease_seconds: float) -> Investigation | None: ...

    async def renew_lease(
        self, investigation_id: str, owner: str, lease_seconds: float
    ) -> bool: ...

    async def release(self, investigation_id: str, owner: str) -> bool:
        """Give a claimed investigation back to the queue (graceful shutdown)."""
        ...

    async def save(self, inv: Investigation, *, owner: str | None = None) -> bool: ...

    async def get(self, investigation_id: str) -> Investigation | None: ...

    async def count(
        self,
        *,
        status: InvestigationStatus | None = None,
        alertname: str | None = None,
        service: str | None = None,
    ) -> int: ...

    async def requeue_stale(self, now: datetime) -> int: ...

    async def requeue_running_on_start(self, owner_prefix: str | None = None) -> int: ...

    async def prune(self, older_than: datetime) -> int: ...

    async def queue_depth(self) -> int: ...

    async def add_deploy(self, deploy: Deploy) -> str: ...

    async def deploys_between(self, start: datetime, end: datetime) -> builtins.list[Deploy]: ...

    async def recent_deploys(
        self, *, limit: int = 50, offset: int = 0
    ) -> builtins.list[tuple[str, Deploy]]:
        """(id, deploy), newest first."""
        ...

    async def append_event(
        self, investigation_id: str, kind: str, payload: dict[str, object]
    ) -> int: ...

    async def events_after(
        self, investigation_id: str, after_id: int, limit: int = 500
    ) -> builtins.list[StoredEvent]: ...

    async def ping(self) -> bool: ...

    async def can_write(self) -> bool:
        """Whether a small committed write succeeds now (``/readyz`` after a write error)."""
        ...

    async def try_lead(self) -> bool:
        """Whether this process is the one replica running the periodic jobs now (taking the
        leadership when it is free). Single-process databases: always ``True``."""
        ...

    async def wait_events(self, investigation_id: str, max_wait: float) -> None:
        """Return when an event of ``investigation_id`` may have been appended by any replica,
        or after ``max_wait`` seconds (a wake-up hint: read ``events_after`` either way)."""
        ...

    async def list(
        self,
        *,
        status: InvestigationStatus | None = None,
        alertname: str | None = None,
        service: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[Investigation]: ...


# ---- pipeline stages (``correlator.pipeline.PipelineDeps``; ``correlator.wiring`` fills them) ----


class EvidenceStage(Protocol):
    """Gather the evidence for ``inv`` (its ``expr``, ``window_start``/``window_end`` are set)."""

    async def __call__(self, inv: Investigation) -> EvidenceBundle: ...


class RulesStage(Protocol):
    """Rank hypotheses from the bundle (deterministic rules)."""

    async def __call__(self, inv: Investigation, bundle: EvidenceBundle) -> Analysis: ...


class LLMStage(Protocol):
    """Refine ``inv`` (analysis, remediation, ``llm`` report); returns the updated copy."""

    async def __call__(self, inv: Investigation) -> Investigation: ...


Checkpoint = Callable[[Investigation], Awaitable[None]]


class NoteText(Protocol):
    """Render the note text stored on the investigation (``NoteRenderer.markdown``)."""

    def __call__(self, inv: Investigation, *, phase: str) -> str: ...
