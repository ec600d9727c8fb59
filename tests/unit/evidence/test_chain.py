"""The whole scatter-gather over in-memory fakes of the ports (fakes only at the port seam)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from correlator.errors import BackendRateLimited, BackendTimeout, BackendUnavailable
from correlator.evidence import EvidenceSources, gather
from correlator.evidence.window import align
from correlator.models import (
    Alert,
    AlertmanagerWebhook,
    Change,
    ChangeKind,
    Deploy,
    EvidenceKind,
    EvidenceStatus,
    MetricQuery,
    MetricSeries,
    TimeWindow,
    Trace,
)
from correlator.settings import Settings
from tests.support.fake_sources import (
    FakeAnnotations,
    FakeDeploys,
    FakeExemplars,
    FakeLogs,
    FakeMetrics,
    FakeRules,
    FakeTraces,
    FakeTraceSearch,
    S,
    exemplars_from_prometheus,
    log_line,
    make_trace,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
SLOW_IDS = {
    "b7b404a3ab617c7a2be810ec51b2620d",
    "6ac70dc4b636d5d6fc47244e0a1597a8",
    "429a708de6d0328762191469f43253af",
    "9cfde9a0a3b2ca132fbb8aa98b16f7f9",
    "be63405fd5880c029904365e61e364cf",
}


SLOW_EXPR = (
    "histogram_quantile(0.9, sum by (le, route) "
    "(rate(demo_request_duration_seconds_bucket[30s]))) > 0.5"
)


def slow_alert() -> Alert:
    hook = AlertmanagerWebhook.model_validate_json(
        (FIX / "alertmanager" / "alertmanager_webhook_02_firing.json").read_text()
    )
    return hook.to_alerts()[0]


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "prometheus": {"external_labels": ["env"], "url": "http://prom:9090"},
        "grafana": {"url": "http://grafana:3000"},
        "repo_url_template": "https://git.example.com/{service}/compare/{from_commit}...{to_commit}",
        "evidence_deadline_seconds": 5.0,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def trace_for(tid: str, when: datetime, *, version: str = "1.4.0") -> Trace:
    return make_trace(
        tid,
        when,
        [
            S("checkout", None, 0, 1700, name="POST /checkout"),
            S("payment", 0, 100, 1500, error=True, version=version, commit=f"sha-{version}"),
        ],
    )


class World:
    """A consistent set of fakes around the captured DemoSlowCheckout alert."""

    def __init__(self) -> None:
        self.alert = slow_alert()
        raw = exemplars_from_prometheus(FIX / "evidence" / "prometheus_query_exemplars.json")
        self.exemplars = FakeExemplars(exemplars=raw)
        when = {e.trace_id: e.timestamp for e in raw}
        self.traces = FakeTraces(traces={t: trace_for(t, when[t]) for t in when})
        onset = self.alert.starts_at
        self.metrics = FakeMetrics(series=self._series)
        self.rules = FakeRules(exprs={})
        self.search = FakeTraceSearch(results=self._search)
        self.logs = FakeLogs(lines=self._lines)
        self.annotations = FakeAnnotations(
            changes=[
                Change(
                    evidence_id="x",
                    service="payment",
                    kind=ChangeKind.DEPLOY,
                    time=onset - timedelta(minutes=10),
                    source="grafana",
                    to_version="1.4.0",
                )
            ]
        )
        self.deploys = FakeDeploys(
            deploys=[
                Deploy(
                    service="payment",
                    version="1.3.0",
                    commit="sha-1.3.0",
                    time=onset - timedelta(days=1),
                ),
                Deploy(
                    service="payment",
                    version="1.4.0",
                    commit="sha-1.4.0",
                    time=onset - timedelta(minutes=10),
                ),
            ]
        )
        self.onset_seen = onset - timedelta(seconds=30)
        self.asked: list[set[str]] = []

    def _series(self, expr: str) -> list[MetricSeries]:
        if expr.startswith("histogram_quantile"):
            t0 = self.onset_seen.timestamp()
            pts = [(t0 - 600.0, 0.9), *[(t0 + 5.0 * i, 1.7) for i in range(12)]]
            return [
                MetricSeries(
                    evidence_id="?", name="?", query=expr, labels={"route": "/checkout"}, points=pts
                )
            ]
        if "payment" in expr:
            return [MetricSeries(evidence_id="?", name="?", query=expr, points=[(1.0, 2.0)])]
        return []

    def _search(self, traceql: str, window: TimeWindow) -> list[str]:
        if traceql == '{ resource.service.name = "checkout" }':
            return ["0" * 31 + "1"]
        return []

    def _lines(self, logql: str, window: TimeWindow) -> list:
        if "trace_id=" in logql:
            tid = logql.split('trace_id="')[1][:32]
            return [
                log_line(
                    window.start + timedelta(seconds=5),
                    f"charge failed trace={tid}",
                    "payment",
                    level="error",
                    trace_id=tid,
                )
            ]
        if window.end <= self.alert.starts_at - timedelta(minutes=15):
            return [log_line(window.start, "retrying after 100ms", "payment")]
        return [
            log_line(window.start, "card declined for order 42", "payment"),
            log_line(window.start, "retrying after 250ms", "payment"),
        ]

    def metric_queries(self, services: set[str]) -> list[MetricQuery]:
        self.asked.append(set(services))
        return [
            MetricQuery(
                name=f"errors_{s}",
                expr=f'rate(errors_total{{service="{s}"}}[5m])',
                service=s,
                signal="error_rate",
            )
            for s in sorted(services)
        ]

    def sources(self, **override: object) -> EvidenceSources:
        parts: dict[str, object] = {
            "exemplars": self.exemplars,
            "metrics": self.metrics,
            "rule_exprs": self.rules,
            "traces": self.traces,
            "trace_search": self.search,
            "logs": self.logs,
            "annotations": self.annotations,
            "deploys": self.deploys,
        }
        parts.update(override)
        return EvidenceSources(**parts)  # type: ignore[arg-type]


async def test_full_chain_follows_slowest_exemplars_to_traces_and_logs() -> None:
    w = World()
    bundle = await gather(
        w.alert, sources=w.sources(), settings=settings(), metric_queries=w.metric_queries
    )
    by_id = {e.id: e for e in bundle.items}
    assert {e.trace_id for e in bundle.exemplars} == SLOW_IDS
    assert bundle.alert_service == "checkout"  # from the exemplars' series (no label on the alert)
    assert bundle.expr_source == "generator_url"
    # exemplar query: external label env stripped, narrowed by the grouping label route
    assert w.exemplars.calls[0][0] == 'demo_request_duration_seconds_bucket{route="/checkout"}'
    # per trace: get_trace -> logs by that trace id inside the trace's time range
    current = [t for t in bundle.traces if not t.baseline]
    assert {t.trace.trace_id for t in current} == SLOW_IDS
    assert {tl.trace_id for tl in bundle.trace_logs} == SLOW_IDS
    for tid in SLOW_IDS:
        assert by_id[f"trace:{tid}"].status is EvidenceStatus.OK
        assert by_id[f"logs:{tid}"].status is EvidenceStatus.OK
        logs_call = next(c for c in w.logs.calls if tid in c[0])
        trace = w.traces.traces[tid]
        assert logs_call[1].start <= trace.spans[0].start <= logs_call[1].end
        assert logs_call[0] == f'{{service_name=~"checkout|payment"}} | trace_id="{tid}"'
        assert by_id[f"trace:{tid}"].link.startswith("http://grafana:3000/explore?")
    # onset from the shape of the alert expression
    assert bundle.onset == w.onset_seen
    assert by_id["metric:alert"].status is EvidenceStatus.OK
    # services: alert service first, then those the traces implicate
    asked = [s for call in w.asked for s in call]
    assert sorted(asked) == ["checkout", "payment"]  # each service asked for once
    assert by_id["metric:errors_payment"].status is EvidenceStatus.OK
    assert by_id["metric:errors_checkout"].status is EvidenceStatus.NO_DATA
    pay = next(p for p in bundle.log_patterns if p.service == "payment")
    new = [p.template for p in pay.patterns if p.is_new]
    assert new == ["card declined for order <num>"]
    # changes from all sources, with stable ids
    ids = bundle.ids()
    assert "change:grafana:payment:1.4.0" in ids
    assert "change:deploy_api:payment:1.4.0" in ids
    dep = next(c for c in bundle.changes if c.evidence_id == "change:deploy_api:payment:1.4.0")
    assert dep.url == "https://git.example.com/payment/compare/sha-1.3.0...sha-1.4.0"
    assert bundle.missing() == []
    assert all(e.elapsed_ms >= 0 for e in bundle.items)


async def test_trace_version_change_inferred_from_baseline_traces() -> None:
    w = World()
    base_id = "0" * 31 + "1"
    w.traces.traces[base_id] = trace_for(
        base_id, w.alert.starts_at - timedelta(hours=1), version="1.3.0"
    )
    bundle = await gather(w.alert, sources=w.sources(), settings=settings())
    change = next(c for c in bundle.changes if c.source == "trace")
    assert (change.service, change.from_version, change.to_version) == ("payment", "1.3.0", "1.4.0")
    assert change.evidence_id == "change:trace:payment:1.4.0"
    assert any(t.baseline and t.trace.trace_id == base_id for t in bundle.traces)


async def test_backend_errors_become_envelopes() -> None:
    w = World()
    failing = sorted(SLOW_IDS)[:2]
    w.traces.fail_ids = {
        failing[0]: BackendTimeout("tempo", "read timeout"),
        failing[1]: BackendUnavailable("tempo", "HTTP 503", status=503),
    }
    w.annotations.error = BackendRateLimited("grafana", "HTTP 429", retry_after=3.0)
    w.deploys.error = ValueError("connector bug")
    bundle = await gather(w.alert, sources=w.sources(), settings=settings())
    by_id = {e.id: e for e in bundle.items}
    assert by_id[f"trace:{failing[0]}"].status is EvidenceStatus.TIMEOUT
    assert by_id[f"trace:{failing[0]}"].error == "tempo: read timeout"
    assert by_id[f"trace:{failing[1]}"].status is EvidenceStatus.ERROR
    assert by_id["deploys:grafana"].status is EvidenceStatus.ERROR
    assert "429" in (by_id["deploys:grafana"].error or "")
    assert by_id["deploys:deploy_api"].error == "ValueError: connector bug"
    # a trace that failed still gets its logs, from the exemplar's time and the alert's service
    assert by_id[f"logs:{failing[0]}"].status is EvidenceStatus.OK
    assert len([t for t in bundle.traces if not t.baseline]) == 3
    assert {e.id for e in bundle.missing()} == {
        f"trace:{failing[0]}",
        f"trace:{failing[1]}",
        "deploys:grafana",
        "deploys:deploy_api",
    }


async def test_hanging_backend_still_returns_a_bundle_naming_what_is_missing() -> None:
    w = World()
    w.logs.hang = True
    w.metrics.hang_on = lambda expr: expr.startswith("count by")
    bundle = await gather(
        w.alert, sources=w.sources(), settings=settings(evidence_deadline_seconds=0.5)
    )
    by_id = {e.id: e for e in bundle.items}
    assert w.logs.calls  # the hang really happened
    for tid in SLOW_IDS:
        assert by_id[f"trace:{tid}"].status is EvidenceStatus.OK
        assert by_id[f"logs:{tid}"].status is EvidenceStatus.TIMEOUT
        assert by_id[f"logs:{tid}"].error == "not finished before the evidence deadline"
    assert by_id["metric:versions_0"].status is EvidenceStatus.TIMEOUT
    assert by_id["patterns:checkout"].status is EvidenceStatus.TIMEOUT
    assert (
        by_id[
            "exemplars:" + next(i for i in by_id if i.startswith("exemplars:")).split(":")[1]
        ].status
        is EvidenceStatus.OK
    )
    assert len(bundle.exemplars) == 5
    assert bundle.trace_logs == []
    missing = {e.id for e in bundle.missing()}
    assert {f"logs:{t}" for t in SLOW_IDS} <= missing


async def test_exemplar_source_hanging_names_everything_after_it() -> None:
    w = World()
    w.exemplars.hang = True
    bundle = await gather(
        w.alert, sources=w.sources(), settings=settings(evidence_deadline_seconds=0.3)
    )
    ex = next(e for e in bundle.items if e.kind is EvidenceKind.EXEMPLARS)
    assert ex.status is EvidenceStatus.TIMEOUT
    # deploys ran alongside and are complete
    assert {c.source for c in bundle.changes} >= {"grafana", "deploy_api"}


async def test_traces_run_in_parallel_and_alongside_deploys() -> None:
    """Each get_trace waits until all five started and deploys were read: sequential code
    would deadlock and time out instead."""
    w = World()
    all_started = asyncio.Event()
    original = w.traces.get_trace

    async def gated(trace_id: str) -> Trace | None:
        result = await original(trace_id)
        if len(w.traces.calls) >= 5 and w.deploys.calls:
            all_started.set()
        await all_started.wait()
        return result

    w.traces.get_trace = gated  # type: ignore[method-assign]
    bundle = await gather(
        w.alert, sources=w.sources(), settings=settings(evidence_deadline_seconds=3)
    )
    assert {t.trace.trace_id for t in bundle.traces if not t.baseline} == SLOW_IDS


async def test_nothing_configured_is_named_not_raised() -> None:
    w = World()
    bundle = await gather(w.alert, sources=EvidenceSources(), settings=Settings())
    statuses = {e.id: e.status for e in bundle.items}
    assert statuses["deploys:grafana"] is EvidenceStatus.NOT_CONFIGURED
    assert statuses["deploys:deploy_api"] is EvidenceStatus.NOT_CONFIGURED
    assert any(
        i.startswith("exemplars:") and s is EvidenceStatus.NOT_CONFIGURED
        for i, s in statuses.items()
    )
    assert bundle.traces == []
    assert bundle.onset == w.alert.starts_at


async def test_no_exemplars_falls_back_to_traceql_search_of_the_alert_service() -> None:
    w = World()
    w.exemplars.exemplars = []
    alert = w.alert.model_copy(update={"labels": {**w.alert.labels, "service": 'check"out'}})
    found = "0" * 30 + "ab"
    w.search.results = lambda q, win: [found.lstrip("0")] if "status = error" in q else []
    w.traces.traces[found] = trace_for(found, alert.starts_at)
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    q = w.search.calls[0][0] if "status" in w.search.calls[0][0] else w.search.calls[1][0]
    assert q == '{ resource.service.name = "check\\"out" && (status = error || duration > 500ms) }'
    te = next(t for t in bundle.traces if not t.baseline)
    assert te.trace.trace_id == found
    assert te.from_exemplar is False


async def test_expression_from_rules_api_when_generator_url_lacks_it() -> None:
    w = World()
    alert = w.alert.model_copy(update={"generator_url": ""})
    w.rules.exprs = {"DemoSlowCheckout": SLOW_EXPR}
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    assert bundle.expr_source == "rules_api"
    assert {e.trace_id for e in bundle.exemplars} == SLOW_IDS
    assert w.rules.calls == [("DemoSlowCheckout",)]


async def test_no_expression_anywhere() -> None:
    w = World()
    alert = w.alert.model_copy(update={"generator_url": "http://vm:19090/graph?g0.tab=1"})
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    by_id = {e.id: e for e in bundle.items}
    assert bundle.expr is None
    assert by_id["exemplars:none"].status is EvidenceStatus.NO_DATA
    assert by_id["rule_expr:DemoSlowCheckout"].status is EvidenceStatus.NO_DATA


async def test_links_never_use_payload_urls() -> None:
    w = World()
    alert = w.alert.model_copy(update={"generator_url": "http://evil.example/graph?g0.expr=up"})
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    assert all("evil.example" not in (e.link or "") for e in bundle.items)
    assert any((e.link or "").startswith("http://prom:9090/graph?") for e in bundle.items)


async def test_resolved_window_is_bounded_by_now() -> None:
    w = World()
    now = w.alert.starts_at + timedelta(seconds=10)
    bundle = await gather(w.alert, sources=w.sources(), settings=settings(), now=now)
    # "now" floored to whole query steps from the window start: investigations a few ms apart
    # send the same URLs
    prom = settings().prometheus
    step = max(1.0, round((prom.exemplar_lookback_seconds + prom.exemplar_grace_seconds) / 200))
    assert bundle.window.end == align(now, step, anchor=bundle.window.start)
    assert now - timedelta(seconds=step) < bundle.window.end <= now
    assert bundle.window.start == w.alert.starts_at - timedelta(seconds=900)
    assert bundle.window.start.tzinfo is UTC or bundle.window.start.utcoffset() == timedelta(0)
    assert isinstance(bundle.window.end, datetime)


async def test_naive_times_are_taken_as_utc() -> None:
    w = World()
    naive = w.alert.model_copy(update={"starts_at": w.alert.starts_at.replace(tzinfo=None)})
    now = w.alert.starts_at.replace(tzinfo=None) + timedelta(seconds=30)
    bundle = await gather(naive, sources=w.sources(), settings=settings(), now=now)
    prom = settings().prometheus
    step = max(1.0, round((prom.exemplar_lookback_seconds + prom.exemplar_grace_seconds) / 200))
    at = w.alert.starts_at + timedelta(seconds=30)
    assert bundle.window.end == align(at, step, anchor=bundle.window.start)
    assert {e.trace_id for e in bundle.exemplars} == SLOW_IDS


async def test_bad_query_templates_are_error_envelopes_not_crashes() -> None:
    w = World()
    w.exemplars.exemplars = []
    alert = w.alert.model_copy(update={"labels": {**w.alert.labels, "service": "checkout"}})
    bad = settings(
        loki={"trace_logs_template": "{{{selector}}} {typo}", "service_labels": ["bad-label"]},
        tempo={"search_template": "{ {nope} }"},
    )
    bundle = await gather(alert, sources=w.sources(), settings=bad)
    by_id = {e.id: e for e in bundle.items}
    assert by_id["patterns:checkout"].status is EvidenceStatus.ERROR
    assert "cannot build the query" in (by_id["patterns:checkout"].error or "")
    assert by_id["trace_search:fallback:invalid"].status is EvidenceStatus.ERROR
    assert by_id["deploys:grafana"].status is EvidenceStatus.OK  # the rest still ran
    assert "gather:internal" not in by_id


class _Reordering:
    """Wraps a fake source: each call yields to the event loop a seed-dependent number of
    times before answering, so backends finish in a different order per seed (no wall time)."""

    def __init__(self, inner: object, seed: int) -> None:
        self._inner, self._seed = inner, seed

    def __getattr__(self, name: str) -> object:
        method = getattr(self._inner, name)

        async def call(*args: object) -> object:
            for _ in range(hash((self._seed, name, repr(args))) % 7):
                await asyncio.sleep(0)
            return await method(*args)

        return call


async def test_bundle_order_is_canonical_whatever_order_backends_answer_in() -> None:
    """Same evidence -> same bundle: notes, prompts and the LLM stage cache depend on it."""
    dumps = []
    for seed in range(4):
        w = World()
        names = ("exemplars", "metrics", "traces", "search", "logs", "annotations", "deploys")
        for name in names:
            setattr(w, name, _Reordering(getattr(w, name), seed))
        bundle = await gather(
            w.alert, sources=w.sources(), settings=settings(), metric_queries=w.metric_queries
        )
        doc = bundle.model_dump(mode="json")
        for item in doc["items"]:
            item["elapsed_ms"] = 0
        dumps.append(doc)
    assert all(d == dumps[0] for d in dumps[1:])
