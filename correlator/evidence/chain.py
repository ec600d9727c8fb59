"""``gather``: the evidence chain as one scatter-gather that never raises.

    resolve expr (generatorURL g0.expr | /api/v1/rules by alertname | none)
      |-- exemplars --> per trace, in parallel: get_trace -> analyze -> logs by trace_id
      |     (no exemplars: TraceQL search of the alert's service, same per-trace chain)
      |-- query_range(alert expr) -> onset -> patterns + metric queries of the alert's service
      |-- grafana annotations | deploys posted to correlator | build_info/target_info versions
      '-- baseline traces (pre-onset TraceQL search -> get_trace)
    once traces name more services: their patterns + metric queries; trace version changes
    then the suspect changes' diffs (Git provider compare, ``diffchain``)

Everything runs under ``correlator.deadline.deadline_scope(settings.evidence_deadline_seconds)``
and an ``asyncio.timeout`` of the same length: on expiry the bundle is returned with what arrived,
and every call still in flight is an envelope with status ``timeout``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from correlator.deadline import deadline_scope
from correlator.evidence import changes as ch
from correlator.evidence import links
from correlator.evidence.diffchain import DiffChain
from correlator.evidence.envelope import Probe, Recorder
from correlator.evidence.exemplars import exemplar_service, select_exemplars
from correlator.evidence.logalert import log_alert_service, log_alert_trace_ids
from correlator.evidence.services import ServiceEvidence
from correlator.evidence.sources import EvidenceSources
from correlator.evidence.tracechain import TraceChain
from correlator.evidence.window import investigation_window, onset_of
from correlator.models import (
    Alert,
    Change,
    EvidenceBundle,
    EvidenceKind,
    EvidenceStatus,
    Exemplar,
    MetricQuery,
    MetricSeries,
    TimeWindow,
    TraceEvidence,
)
from correlator.models.alert import alert_service
from correlator.settings import Settings
from correlator.wire.logql import is_logql
from correlator.wire.promql import exemplar_query

logger = logging.getLogger(__name__)

MetricQueries = Callable[[set[str]], Sequence[MetricQuery]]
DEPLOY_HISTORY = timedelta(days=30)


def expr_id(expr: str) -> str:
    return hashlib.sha256(expr.encode()).hexdigest()[:12]


_KIND_ORDER = {kind: i for i, kind in enumerate(EvidenceKind)}


async def gather(
    alert: Alert,
    *,
    sources: EvidenceSources,
    settings: Settings,
    metric_queries: MetricQueries | None = None,
    now: datetime | None = None,
    also_services: Sequence[str] = (),
) -> EvidenceBundle:
    """All the evidence for ``alert`` within ``settings.evidence_deadline_seconds``.

    ``also_services``: the other services of the alert's group (``grouping: alertmanager``),
    whose patterns and metric queries are read next to the alert service's.
    Never raises: every failure is an envelope in ``bundle.items`` (see ``bundle.missing()``).
    """
    run = _Gather(alert, sources, settings, metric_queries, now or datetime.now(UTC))
    run.also = [s for s in dict.fromkeys(also_services) if s and s != run.service]
    seconds = settings.evidence_deadline_seconds
    try:
        with deadline_scope(seconds):
            async with asyncio.timeout(seconds):
                await run.run()
    except TimeoutError:
        logger.info("evidence deadline (%.1fs) hit for %s", seconds, alert.fingerprint)
    except Exception:  # documented boundary: gather never raises, the bundle names the failure
        logger.exception("evidence gather failed for %s", alert.fingerprint)
        run.rec.record(
            Probe("gather:internal", EvidenceKind.RULE_EXPR, "correlator"),
            EvidenceStatus.ERROR,
            error="internal error while gathering evidence (see logs)",
        )
    return run.bundle()


class _Gather:
    def __init__(
        self,
        alert: Alert,
        sources: EvidenceSources,
        settings: Settings,
        metric_queries: MetricQueries | None,
        now: datetime,
    ) -> None:
        if alert.starts_at.tzinfo is None:  # Alert.from_webhook always sets UTC; be lenient
            alert = alert.model_copy(update={"starts_at": alert.starts_at.replace(tzinfo=UTC)})
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self.alert, self.sources, self.settings = alert, sources, settings
        self.rec = Recorder()
        self.window, self.now = investigation_window(alert, settings.prometheus, now)
        self.onset = alert.starts_at
        self.expr: str | None = None
        self.expr_source = "none"
        self.log_expr = alert.log_expr or (
            alert.expr if alert.expr and is_logql(alert.expr) else None
        )
        self.service = alert_service(alert.labels, settings.prometheus.service_labels) or (
            log_alert_service(self.log_expr, settings.prometheus.service_labels)
            if self.log_expr
            else None
        )
        self.exemplars: list[Exemplar] = []
        self._exemplars_done = asyncio.Event()
        self._traces_fetched = asyncio.Event()
        self.changes: list[Change] = []
        self.metrics: list[MetricSeries] = []
        self.traces = TraceChain(self.rec, sources, settings)
        self.per_service = ServiceEvidence(self.rec, sources, settings, metric_queries)
        self.diffs = DiffChain(self.rec, sources.changes, settings)
        self.also: list[str] = []

    def bundle(self) -> EvidenceBundle:
        """The bundle in a canonical order, whatever order the backends answered in: the same
        evidence always renders the same notes and prompts (so LLM stage caching works)."""
        rank = {e.trace_id: i for i, e in enumerate(self.exemplars)}

        def trace_key(t: TraceEvidence) -> tuple[bool, int, str]:
            return t.baseline, rank.get(t.trace.trace_id, len(rank)), t.trace.trace_id

        traces = sorted(self.traces.traces, key=trace_key)
        order = {t.trace.trace_id: i for i, t in enumerate(traces)}
        logs = sorted(self.traces.logs, key=lambda t: (order.get(t.trace_id, 0), t.trace_id))
        return EvidenceBundle(
            alert=self.alert,
            window=self.window,
            onset=self.onset,
            expr=self.expr,
            expr_source=self.expr_source,
            alert_service=self.service,
            items=sorted(self.rec.items.values(), key=lambda e: (_KIND_ORDER[e.kind], e.id)),
            exemplars=self.exemplars,
            traces=traces,
            trace_logs=logs,
            log_patterns=sorted(self.per_service.patterns, key=lambda p: p.service),
            changes=sorted(self.changes, key=lambda c: (c.time, c.evidence_id)),
            metrics=sorted(self.metrics + self.per_service.metrics, key=lambda m: m.evidence_id),
            diffs=list(self.diffs.diffs),
        )

    async def run(self) -> None:
        if self.service:
            self.per_service.plan([self.service, *self.also])
        await self._resolve_expr()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._annotations())
            tg.create_task(self._deploys())
            tg.create_task(self._versions())
            shape = tg.create_task(self._shape())
            tg.create_task(self._chain())
            baseline = tg.create_task(self._baseline())
            tg.create_task(self._services(shape))
        current = [t for t in self.traces.traces if not t.baseline]
        trace_changes = ch.changes_from_traces(current, baseline.result(), self.settings)
        self._add_changes(trace_changes, "tempo")
        await self.diffs.run(
            self.changes,
            self.traces.traces,
            self.traces.logs,
            self.per_service.patterns,
            onset=self.onset,
            preferred=[s for s in [self.service, *self.traces.implicated_services()] if s],
        )

    # -- expression, exemplars, traces -------------------------------------------------------

    async def _resolve_expr(self) -> None:
        if self.log_expr:  # a Loki ruler alert: nothing to ask Prometheus about
            self.expr_source = "logql"
            return
        if self.alert.expr:
            self.expr, self.expr_source = self.alert.expr, "generator_url"
            return
        source = self.sources.rule_exprs
        probe = Probe(f"rule_expr:{self.alert.alertname}", EvidenceKind.RULE_EXPR, "prometheus")
        if source is None:
            self.rec.not_configured(probe, "the Prometheus rules API")
            return
        name = self.alert.alertname
        expr = await self.rec.call(probe, lambda: source.alert_rule_expr(name))
        if expr:
            self.expr, self.expr_source = expr, "rules_api"
            self.rec.items[probe.id].query = expr

    async def _baseline(self) -> list[TraceEvidence]:
        if self.service is None:  # the exemplars' series may still name it
            await self._exemplars_done.wait()
        return await self.traces.baseline(self.service, self.window)

    async def _chain(self) -> None:
        try:
            selected = await self._exemplars()
        finally:
            self._exemplars_done.set()
        try:
            items: list[tuple[str, datetime | None]] = [(e.trace_id, e.timestamp) for e in selected]
            if not items:
                found = await self.traces.search(self.service, self.window)
                items = [(t, None) for t in found]
            await self.traces.follow_all(
                items,
                self.service,
                self.window,
                from_exemplar=bool(selected),
                fetched=self._traces_fetched,
            )
        finally:
            self._traces_fetched.set()

    async def _exemplars(self) -> list[Exemplar]:
        if self.log_expr:
            return await self._log_alert()
        if self.expr is None:
            probe = Probe("exemplars:none", EvidenceKind.EXEMPLARS, "prometheus")
            self.rec.record(
                probe, EvidenceStatus.NO_DATA, summary="no alert expression to query exemplars for"
            )
            return []
        query = exemplar_query(
            self.expr, self.alert.labels, self.settings.prometheus.external_labels
        )
        probe = Probe(
            f"exemplars:{expr_id(self.expr)}",
            EvidenceKind.EXEMPLARS,
            "prometheus",
            query=query,
            link=links.metric_link(self.settings, query, self.window),
            service=self.service,
        )
        source = self.sources.exemplars
        if source is None:
            self.rec.not_configured(probe, "Prometheus exemplars")
            return []
        window = self.window
        raw = await self.rec.call(probe, lambda: source.query_exemplars(query, window))
        if not raw:
            return []
        selected = select_exemplars(
            raw, expr=self.expr, alert_labels=self.alert.labels, settings=self.settings
        )
        self.exemplars = selected
        if not selected:
            self.rec.items[probe.id].status = EvidenceStatus.NO_DATA
        if self.service is None:
            self.service = exemplar_service(selected, self.settings)
        ids = ", ".join(e.trace_id for e in selected)
        self.rec.summarise(probe.id, f"{len(raw)} exemplars, {len(selected)} selected: {ids}")
        return selected

    async def _log_alert(self) -> list[Exemplar]:
        """LogQL alert: trace ids of the matching lines stand in for exemplars."""
        assert self.log_expr is not None
        ids, service = await log_alert_trace_ids(
            self.rec, self.sources, self.settings, self.log_expr, self.window
        )
        self.service = self.service or service
        at = self.alert.starts_at
        self.exemplars = [Exemplar(trace_id=t, value=0.0, timestamp=at) for t in ids]
        return self.exemplars

    # -- shape and onset ---------------------------------------------------------------------

    async def _shape(self) -> None:
        if self.expr is None:
            return
        step = max(1.0, round(self.window.seconds / 200))
        series = await self.per_service.run_metric(
            MetricQuery(name="alert", expr=self.expr, service=self.service, signal="alert"),
            self.window,
            step,
        )
        if series:
            self.metrics.extend(series)
            self.onset = onset_of(series, self.alert.starts_at, step)
            self.rec.summarise(
                "metric:alert",
                f"{len(series)} series; condition true since {self.onset.isoformat()}",
            )

    async def _services(self, shape: asyncio.Task[None]) -> None:
        """Patterns and metric queries: the alert's service once the onset is known, the
        services the traces implicate once they are fetched (while their logs are read)."""
        await asyncio.wait([shape])
        first = [self.service, *self.also] if self.service else list(self.also)
        async with asyncio.TaskGroup() as tg:
            if first:
                tg.create_task(self.per_service.gather(first, self.onset, self.now))
            await self._traces_fetched.wait()
            later = ([self.service] if self.service else []) + self.traces.implicated_services()
            later = [s for s in dict.fromkeys(later) if s not in first]
            if later or not first:
                tg.create_task(self.per_service.gather(later, self.onset, self.now))

    # -- changes -----------------------------------------------------------------------------

    def _change_window(self) -> TimeWindow:
        start = self.alert.starts_at - timedelta(seconds=self.settings.change_lookback_seconds)
        return TimeWindow(start=start, end=self.window.end)

    def _add_changes(self, found: Sequence[Change], backend: str) -> None:
        for c in found:
            self.changes.append(c)
            self.rec.record(
                Probe(c.evidence_id, EvidenceKind.CHANGE, backend, link=c.url, service=c.service),
                EvidenceStatus.OK,
                summary=ch.describe(c),
            )

    async def _annotations(self) -> None:
        window = self._change_window()
        tags = list(self.settings.grafana.annotation_tags)
        probe = Probe(
            "deploys:grafana",
            EvidenceKind.DEPLOYS,
            "grafana",
            query=f"tags={','.join(tags)}",
            link=links.annotations_link(self.settings, window),
        )
        source = self.sources.annotations
        if source is None:
            self.rec.not_configured(probe, "Grafana annotations")
            return
        found = await self.rec.call(probe, lambda: source.deploy_annotations(window, tags))
        if found:
            changes = ch.with_ids(found, self.settings, "grafana")
            self.rec.summarise(probe.id, f"{len(changes)} deploy annotations")
            self._add_changes(changes, "grafana")

    async def _deploys(self) -> None:
        window = self._change_window()
        probe = Probe("deploys:deploy_api", EvidenceKind.DEPLOYS, "correlator")
        store = self.sources.deploys
        if store is None:
            self.rec.not_configured(probe, "the deploy store")
            return
        since = window.start - DEPLOY_HISTORY  # earlier deploys only supply from_version/commit
        found = await self.rec.call(probe, lambda: store.deploys_between(since, window.end))
        recent = [d for d in found or [] if d.time >= window.start]
        if not recent and found:
            self.rec.items[probe.id].status = EvidenceStatus.NO_DATA
        if recent and found:
            changes = [
                c for c in ch.changes_from_deploys(found, self.settings) if c.time >= window.start
            ]
            self.rec.summarise(probe.id, f"{len(changes)} deploys posted to correlator")
            self._add_changes(changes, "correlator")

    async def _versions(self) -> None:
        window = self._change_window()
        step = max(15.0, round(window.seconds / 240))
        queries = [
            MetricQuery(name=f"versions_{i}", expr=expr, signal="versions")
            for i, expr in enumerate(self.settings.prometheus.version_queries)
        ]
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(self.per_service.run_metric(q, window, step, keep=False))
                for q in queries
            ]
        found = [s for t in tasks for s in t.result()]
        changes = ch.changes_from_version_series(found, self.settings)
        self._add_changes(changes, "prometheus")
