"""Composition root, part one: the ONLY code that imports ``connectors.*``.

Builds, from ``Settings``: the store, one ``httpx.AsyncClient`` per configured backend, the
connectors on those clients, and the pipeline's collaborators (``PipelineDeps``). Entry points
(``correlator.api`` lifespan, the CLI) open a ``Runtime`` with ``open_runtime`` and close it on
exit. Plug-in points for the other stages (evidence, rules, llm, notes) are in ``_pipeline_deps``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import httpx
from sqlalchemy.exc import SQLAlchemyError

from correlator import __version__
from correlator.evidence import EvidenceSources, gather
from correlator.evidence.memory import memory_failed, with_memory
from correlator.llm import InvestigationRefiner, LLMRuntime, warm_litellm
from correlator.llm.commands import CommandPolicy
from correlator.llm.redact import Redactor
from correlator.metrics import Metrics
from correlator.models import (
    Compare,
    EvidenceBundle,
    Investigation,
)
from correlator.models.alert import alert_service
from correlator.notify.channels import configured_channels
from correlator.notify.delivery import note_renderer, running_outbox
from correlator.pipeline import PipelineDeps, investigate
from correlator.ports import (
    ActiveAlertSource,
    ChangeSource,
    Checkpoint,
    FeedbackStore,
    IncidentRecall,
    LLMStage,
    NoteSink,
    Notifier,
    SlackActions,
    Store,
)
from correlator.rules import RankStage, RuleSet, load_ruleset
from correlator.settings import BackendSettings, Settings
from correlator.store import SqlStore, StoreEventSink
from correlator.worker import (
    Runner,
    host_prefix,
    owner_id,
)

if TYPE_CHECKING:
    from connectors.slack import SlackNotifier

log = logging.getLogger(__name__)

BACKENDS = ("prometheus", "tempo", "loki", "grafana", "alertmanager")


def build_clients(settings: Settings) -> dict[str, httpx.AsyncClient]:
    """One ``httpx.AsyncClient`` per configured backend (``connectors._http.build_client``)."""
    from connectors._http import build_client

    clients: dict[str, httpx.AsyncClient] = {}
    agent = f"correlator/{__version__}"
    for name in BACKENDS:
        cfg: BackendSettings = getattr(settings, name)
        if cfg.url:
            clients[name] = build_client(cfg, user_agent=agent)
    if settings.git.enabled:
        clients["git"] = build_client(settings.git.backend(), user_agent=agent)
    return clients


@dataclass
class Runtime:
    """Everything an entry point needs, built from settings; close with ``aclose``."""

    settings: Settings
    metrics: Metrics
    store: Store
    clients: dict[str, httpx.AsyncClient]
    pipeline: PipelineDeps
    alert_source: ActiveAlertSource | None = None
    owner: str = field(default_factory=owner_id)
    slack_actions: SlackActions | None = None  # the verdict buttons' Slack calls

    @property
    def feedback(self) -> FeedbackStore | None:
        """Verdicts and track record (the SQL store; None for other stores)."""
        return self.store if isinstance(self.store, SqlStore) else None

    @property
    def note_sink(self) -> NoteSink | None:
        """The pipeline's note sink, also used by intake to re-publish on ``resolved``."""
        return self.pipeline.notes

    def runner(self) -> Runner:
        """The worker's pipeline call, with progress saved through the worker's checkpoint."""

        async def run(inv: Investigation, checkpoint: Checkpoint) -> Investigation:
            deps = dataclasses.replace(self.pipeline, checkpoint=checkpoint)
            return await investigate(inv, deps=deps, settings=self.settings, metrics=self.metrics)

        return run


@dataclass(frozen=True)
class RedactedChanges:
    """A ``ChangeSource`` whose compare results are redacted before the evidence keeps them:
    a diff or a commit message can carry a secret, and the bundle is stored, shown and sent
    to the LLM stages."""

    inner: ChangeSource
    emails: bool = False

    def repository(self, url: str) -> str | None:
        return self.inner.repository(url)

    async def compare(self, repo: str, base: str, head: str) -> Compare:
        result = await self.inner.compare(repo, base, head)
        clean = Redactor(emails=self.emails).tree(result.model_dump(mode="python"))
        return Compare.model_validate(clean)


def change_source(
    settings: Settings, clients: dict[str, httpx.AsyncClient], metrics: Metrics
) -> ChangeSource | None:
    """The configured Git provider's compare API (GitHub or GitLab), redacted; None when off."""
    from connectors.github import GitHubChanges
    from connectors.gitlab import GitLabChanges

    client = clients.get("git")
    if client is None:
        return None
    git = settings.git
    inner: ChangeSource
    if git.provider == "gitlab":
        inner = GitLabChanges(client, git, metrics=metrics)
    else:
        inner = GitHubChanges(client, git, metrics=metrics)
    return RedactedChanges(inner, emails=settings.llm.redact_emails)


def evidence_sources(
    settings: Settings, clients: dict[str, httpx.AsyncClient], metrics: Metrics, store: Store
) -> EvidenceSources:
    """The evidence chain's sources: one connector per configured backend, None otherwise."""
    from connectors.grafana import GrafanaAnnotations
    from connectors.loki import LokiSource
    from connectors.prometheus import PrometheusSource
    from connectors.tempo import TempoSource

    prom = tempo = None
    if (client := clients.get("prometheus")) is not None:
        prom = PrometheusSource(client, settings.prometheus, metrics=metrics)
    if (client := clients.get("tempo")) is not None:
        tempo = TempoSource(client, settings.tempo, metrics=metrics)
    loki = grafana = None
    if (client := clients.get("loki")) is not None:
        loki = LokiSource(client, settings.loki, metrics=metrics)
    if (client := clients.get("grafana")) is not None:
        grafana = GrafanaAnnotations(client, settings.grafana, metrics=metrics)
    return EvidenceSources(
        exemplars=prom,
        metrics=prom,
        series=prom if settings.prometheus.discover_series else None,
        rule_exprs=prom,
        traces=tempo,
        trace_search=tempo,
        logs=loki,
        annotations=grafana,
        deploys=store,
        changes=change_source(settings, clients, metrics),
    )


def _pipeline_deps(
    settings: Settings,
    store: Store,
    clients: dict[str, httpx.AsyncClient],
    metrics: Metrics,
    *,
    notes: NoteSink | None,
    llm: LLMOptions,
) -> PipelineDeps:
    """Pipeline collaborators: evidence chain, rules, optional LLM stages, note sink.

    The expression lookup by alertname happens inside the evidence chain (``rule_exprs``), so
    the alert stage gets no ``rule_expr`` of its own (it would ask Prometheus twice).
    """
    ruleset = load_ruleset(settings.rules_dir)
    sources = evidence_sources(settings, clients, metrics, store)

    memory: IncidentRecall | None = store if isinstance(store, SqlStore) else None

    async def evidence(inv: Investigation) -> EvidenceBundle:
        group = inv.group.alerts if inv.group is not None else []
        bundle = await gather(
            inv.alert,
            sources=sources,
            settings=settings,
            metric_queries=lambda services: ruleset.metric_queries(inv.alert, services),
            now=llm.now,
            also_services=sorted({a.service for a in group if a.service}),
        )
        if memory is None:
            return bundle
        try:
            return await with_memory(
                bundle,
                memory,
                investigation_id=inv.id,
                service=alert_service(inv.alert.labels, settings.prometheus.service_labels) or "",
                at=inv.alert.starts_at,
                window_days=settings.memory_window_days,
            )
        except (SQLAlchemyError, OSError) as exc:  # boundary: memory is optional evidence
            return memory_failed(bundle, f"{type(exc).__name__}: {exc}"[:300])

    refiner: LLMStage | None = None
    if settings.llm.enabled:
        refiner = InvestigationRefiner(
            settings.llm,
            metrics,
            llm.runtime or LLMRuntime(),
            mode=llm.mode,
            events=StoreEventSink(store),
            prompts_dir=settings.prompts_dir,
            commands=_command_policy(ruleset),
        )
    renderer = note_renderer(settings)
    return PipelineDeps(
        events=StoreEventSink(store),
        evidence=evidence,
        rules=RankStage(ruleset),
        llm=refiner,
        notes=notes,
        note_text=renderer.markdown,
    )


def _command_policy(ruleset: RuleSet) -> CommandPolicy | None:
    """The LLM command allow-list of the configured rules (None: the packaged default)."""
    rem = ruleset.remediation
    if rem is None or not rem.llm_command_shapes:
        return None
    return CommandPolicy(shapes=tuple(rem.llm_command_shapes), deny=tuple(rem.llm_command_deny))


def _notifiers(settings: Settings, metrics: Metrics) -> dict[str, Notifier]:
    """One notifier per configured channel (see ``notify.channels.configured_channels``)."""
    from connectors.pagerduty import PagerDutyNotifier
    from connectors.slack import SlackNotifier, SlackWebhookNotifier
    from connectors.webhook import WebhookNotifier

    s, m = settings, metrics
    builders: dict[str, Callable[[], Notifier]] = {
        "slack": lambda: SlackNotifier.from_settings(s.slack, metrics=m),
        "slack_webhook": lambda: SlackWebhookNotifier.from_settings(s.slack, metrics=m),
        "pagerduty": lambda: PagerDutyNotifier.from_settings(s.pagerduty, metrics=m),
        "webhook": lambda: WebhookNotifier.from_settings(s.webhook, metrics=m),
    }
    notifiers = {channel: builders[channel]() for channel in configured_channels(settings)}
    return notifiers


def _slack_actions(settings: Settings, metrics: Metrics) -> SlackNotifier | None:
    """Slack Web API calls of the verdict buttons: needs the bot token and the signing secret."""
    if settings.slack.bot_token is None or settings.slack.signing_secret is None:
        return None
    from connectors.slack import SlackNotifier

    return SlackNotifier.from_settings(settings.slack, metrics=metrics)


def _alert_source(
    settings: Settings, clients: dict[str, httpx.AsyncClient], metrics: Metrics
) -> ActiveAlertSource | None:
    client = clients.get("alertmanager")
    if client is None:
        return None
    from connectors.alertmanager import AlertmanagerAlerts

    return AlertmanagerAlerts(client, settings.alertmanager, metrics=metrics)


@dataclass(frozen=True)
class LLMOptions:
    """How the LLM stages run: ``stream`` for live alerts, ``batch`` for replay/eval/bench
    (share one ``LLMRuntime`` across cases so its cache and breakers apply)."""

    mode: Literal["stream", "batch"] = "stream"
    runtime: LLMRuntime | None = None
    now: datetime | None = None


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    metrics: Metrics,
    store: Store | None = None,
    notify: bool = True,
    llm: LLMOptions | None = None,
    flush_notes: bool = False,
    reclaim_notes: bool = False,
) -> AsyncIterator[Runtime]:
    """Open the store (creating the schema), the backend clients and, with ``notify`` and a
    configured channel, the notification outbox and its delivery worker; close them on exit
    (``flush_notes``: after one last delivery round of the notes due, for one-shot runs;
    ``reclaim_notes``: first free the notifications a crashed process of this host had leased,
    as investigations are re-queued at start; only the serving process, never its children)."""
    if settings.llm.enabled:
        warm_litellm()  # the import runs in a thread now, not on the loop at the first call (D12)
    own_store: SqlStore | None = None
    if store is None:
        own_store = SqlStore(
            settings.database_url, service_labels=settings.prometheus.service_labels
        )
        await own_store.create_schema()
        store = own_store
    clients = build_clients(settings)
    try:
        async with AsyncExitStack() as stack:
            notes: NoteSink | None = None
            notifiers = _notifiers(settings, metrics) if notify else {}
            if notifiers:
                engine = own_store.engine if own_store is not None else None
                notes = await stack.enter_async_context(
                    running_outbox(
                        settings,
                        engine,
                        notifiers,
                        metrics=metrics,
                        flush_on_exit=flush_notes,
                        owner=f"{owner_id()}:outbox",
                        reclaim_prefix=host_prefix() if reclaim_notes else None,
                    )
                )
            deps = _pipeline_deps(
                settings, store, clients, metrics, notes=notes, llm=llm or LLMOptions()
            )
            slack = _slack_actions(settings, metrics) if notify else None
            if slack is not None:
                stack.push_async_callback(slack.aclose)
            yield Runtime(
                settings=settings,
                metrics=metrics,
                store=store,
                clients=clients,
                pipeline=deps,
                alert_source=_alert_source(settings, clients, metrics),
                slack_actions=slack,
            )
    finally:
        for client in clients.values():
            await client.aclose()
        if own_store is not None:
            await own_store.close()
