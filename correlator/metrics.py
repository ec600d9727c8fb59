"""correlator's own Prometheus metrics, served on ``/metrics``.

One ``Metrics`` object per process (built in the entry point, passed down, never a global) owns
its ``CollectorRegistry``, so tests get isolated registries. Every stage records its latency in
``stage_seconds``; backend calls in ``backend_request_seconds``; LLM stages their time to first
token, tokens and retries. Add instruments here, not elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.webhooks_total = Counter(
            "correlator_webhooks_total", "Webhook requests by outcome", ["outcome"], registry=r
        )
        self.alerts_total = Counter(
            "correlator_alerts_total",
            "Alerts received, by result (new, duplicate, resolved)",
            ["result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "correlator_queue_depth", "Investigations queued or running", registry=r
        )
        self.queue_over_limit = Gauge(
            "correlator_queue_over_limit", "1 when queue depth exceeds queue_depth_warn", registry=r
        )
        self.investigations_total = Counter(
            "correlator_investigations_total", "Finished investigations", ["status"], registry=r
        )
        self.stage_seconds = Histogram(
            "correlator_stage_seconds",
            "Pipeline stage latency",
            ["stage", "status"],
            buckets=_LATENCY,
            registry=r,
        )
        self.backend_request_seconds = Histogram(
            "correlator_backend_request_seconds",
            "Backend HTTP request latency",
            ["backend", "outcome"],
            buckets=_LATENCY,
            registry=r,
        )
        self.backend_retries_total = Counter(
            "correlator_backend_retries_total", "Backend retries", ["backend"], registry=r
        )
        self.breaker_open = Gauge(
            "correlator_backend_breaker_open", "Circuit breaker open", ["backend"], registry=r
        )
        self.llm_ttft_seconds = Histogram(
            "correlator_llm_time_to_first_token_seconds",
            "LLM time to first token",
            ["stage", "model"],
            buckets=_LATENCY,
            registry=r,
        )
        self.llm_tokens_total = Counter(
            "correlator_llm_tokens_total",
            "LLM tokens",
            ["stage", "model", "direction"],
            registry=r,
        )
        self.llm_calls_total = Counter(
            "correlator_llm_calls_total", "LLM calls", ["stage", "model", "outcome"], registry=r
        )
        self.llm_retries_total = Counter(
            "correlator_llm_retries_total", "LLM retries", ["stage", "model"], registry=r
        )
        self.llm_cache_hits_total = Counter(
            "correlator_llm_cache_hits_total", "LLM stage cache hits", ["stage"], registry=r
        )
        self.llm_cost_usd_total = Counter(
            "correlator_llm_cost_usd_total", "LLM cost when litellm knows it", ["model"], registry=r
        )
        self.notifications_total = Counter(
            "correlator_notifications_total",
            "Notification delivery attempts",
            ["channel", "outcome"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "correlator_outbox_pending", "Notifications awaiting delivery", registry=r
        )
        self.scheduler_job_runs_total = Counter(
            "correlator_scheduler_job_runs_total",
            "Periodic jobs run by this replica (only the scheduler leader runs them)",
            ["job"],
            registry=r,
        )
        self.scheduler_leader = Gauge(
            "correlator_scheduler_leader",
            "1 while this replica is the scheduler leader (PostgreSQL advisory lock)",
            registry=r,
        )
        self.feedback_total = Counter(
            "correlator_feedback_total",
            "Verdicts received, by verdict and source (api, ui, slack)",
            ["verdict", "source"],
            registry=r,
        )
        self.verdicts = Gauge(
            "correlator_verdicts",
            "Investigations by their verdict in force, per alert rule or predicted fault type",
            ["by", "key", "verdict"],
            registry=r,
        )
        self.verdicts_confirmed_ratio = Gauge(
            "correlator_verdicts_confirmed_ratio",
            "Share of verdicts in force that confirm the top hypothesis (track record)",
            ["by", "key"],
            registry=r,
        )
        self.slack_interactions_total = Counter(
            "correlator_slack_interactions_total",
            "Slack interactivity requests by outcome",
            ["outcome"],
            registry=r,
        )
