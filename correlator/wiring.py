"""Composition root: the ONLY module that imports ``connectors.*``.

Builds, from ``Settings``: the store, one ``httpx.AsyncClient`` per configured backend, the
connectors on those clients, and the pipeline's collaborators (``PipelineDeps``). Entry points
(``correlator.api`` lifespan, the CLI) open a ``Runtime`` with ``open_runtime`` and close it on
exit. ``investigate_once`` runs the pipeline in-process for the one-shot CLI (and eval/replay).

Plug-in points for the other stages (evidence, rules, llm, notes) are in ``_pipeline_deps``.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from correlator import __version__
from correlator.metrics import Metrics
from correlator.models import AlertmanagerWebhook, Investigation, InvestigationStatus
from correlator.pipeline import Checkpoint, PipelineDeps, investigate
from correlator.ports import ActiveAlertSource, NoteSink, RuleExprSource, Store
from correlator.settings import BackendSettings, Settings
from correlator.store import SqlStore, StoreEventSink
from correlator.worker import Runner, owner_id

BACKENDS = ("prometheus", "tempo", "loki", "grafana", "alertmanager")


def build_clients(settings: Settings) -> dict[str, httpx.AsyncClient]:
    """One ``httpx.AsyncClient`` per configured backend (``connectors._http.build_client``)."""
    from connectors._http import build_client

    clients: dict[str, httpx.AsyncClient] = {}
    for name in BACKENDS:
        cfg: BackendSettings = getattr(settings, name)
        if cfg.url:
            clients[name] = build_client(cfg, user_agent=f"correlator/{__version__}")
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


def _pipeline_deps(
    settings: Settings, store: Store, clients: dict[str, httpx.AsyncClient], metrics: Metrics
) -> PipelineDeps:
    """Pipeline collaborators. Evidence, rules, LLM and notes stages plug in here."""
    rule_expr: RuleExprSource | None = None
    prometheus = clients.get("prometheus")
    if prometheus is not None:
        from connectors.prometheus import PrometheusSource

        rule_expr = PrometheusSource(prometheus, settings.prometheus, metrics=metrics)
    return PipelineDeps(events=StoreEventSink(store), rule_expr=rule_expr)


def _alert_source(
    settings: Settings, clients: dict[str, httpx.AsyncClient], metrics: Metrics
) -> ActiveAlertSource | None:
    client = clients.get("alertmanager")
    if client is None:
        return None
    from connectors.alertmanager import AlertmanagerAlerts

    return AlertmanagerAlerts(client, settings.alertmanager, metrics=metrics)


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, metrics: Metrics, store: Store | None = None
) -> AsyncIterator[Runtime]:
    """Open the store (creating the schema) and the backend clients; close them on exit."""
    own_store: SqlStore | None = None
    if store is None:
        own_store = SqlStore(settings.database_url)
        await own_store.create_schema()
        store = own_store
    clients = build_clients(settings)
    try:
        yield Runtime(
            settings=settings,
            metrics=metrics,
            store=store,
            clients=clients,
            pipeline=_pipeline_deps(settings, store, clients, metrics),
            alert_source=_alert_source(settings, clients, metrics),
        )
    finally:
        for client in clients.values():
            await client.aclose()
        if own_store is not None:
            await own_store.close()


async def investigate_once(webhook: AlertmanagerWebhook, settings: Settings) -> list[Investigation]:
    """Run the pipeline in-process on every alert of ``webhook`` (temporary SQLite store)."""
    results: list[Investigation] = []
    with tempfile.TemporaryDirectory(prefix="correlator-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'once.db'}"
        once = settings.model_copy(update={"database_url": url})
        async with open_runtime(once, metrics=Metrics()) as rt:
            for alert in webhook.to_alerts():
                await rt.store.create_or_get(alert)
            while (claimed := await rt.store.claim_next(rt.owner, 3600.0)) is not None:
                results.append(await _run_claimed(rt, claimed))
    return results


async def _run_claimed(rt: Runtime, claimed: Investigation) -> Investigation:
    async def checkpoint(progress: Investigation) -> None:
        await rt.store.save(progress, owner=rt.owner)

    result = await rt.runner()(claimed, checkpoint)
    done = {"status": InvestigationStatus.DONE, "finished_at": datetime.now(UTC)}
    final = result.model_copy(update=done)
    await rt.store.save(final, owner=rt.owner)
    got = await rt.store.get(final.id)
    return got if got is not None else final
