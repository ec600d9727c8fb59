"""Alert shapes from real stacks through the whole chain (fakes only at the port seam).

- A Loki ruler (LogQL) alert: Loki >= 2.8 links it to Grafana Explore with the expression in
  the ``left`` JSON (grafana/loki#8500; shape of the link as quoted in grafana/loki#15597).
- An alert labelled only with ``namespace`` and ``pod`` (kube-state-metrics / cAdvisor rules).
- An alert whose ``service`` label names the exporter (kube-state-metrics scraped via a Service).
- A 64-bit (16-hex) exemplar trace id, as Zipkin/B3 and Jaeger clients emit: Tempo stores it
  zero-padded to 32 hex.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

from correlator.evidence import gather
from correlator.models import Alert, EvidenceStatus, Exemplar, TimeWindow
from correlator.wire.logql import is_logql, log_query, stream_labels
from tests.support.fake_sources import log_line
from tests.unit.evidence.test_chain import World, settings, trace_for

LOGQL = 'sum by (namespace) (count_over_time({namespace="shop", app="cart"} |= "panic" [5m])) > 3'


def explore_url(expr: str) -> str:
    left = json.dumps({"queries": [{"expr": expr, "queryType": "range"}]})
    return "http://grafana.example/explore?left=" + quote(left)


def test_logql_is_told_from_promql() -> None:
    assert is_logql(LOGQL)
    assert log_query(LOGQL) == '{namespace="shop", app="cart"} |= "panic"'
    assert stream_labels(LOGQL) == {"namespace": "shop", "app": "cart"}
    assert not is_logql('sum(rate(http_requests_total{code=~"5.."}[5m])) > 550')
    assert not is_logql('rate({job="x"}[5m]) > 1')  # valid PromQL too: read as PromQL
    assert is_logql('sum(rate({app="a"} | json | level="error" [1m])) by (app) > 0')


def test_alert_reads_logql_from_a_grafana_explore_link() -> None:
    w = World()
    alert = w.alert.model_copy(update={"generator_url": explore_url(LOGQL)})
    assert alert.log_expr == LOGQL
    raw = (  # not URL-encoded, as grafana/loki#15597 reports
        'http://g/explore?left={"queries":[{"expr":"{app=\\"a\\"} |= \\"x\\"",'
        '"queryType":"range"}]}'
    )
    assert w.alert.model_copy(update={"generator_url": raw}).log_expr == '{app="a"} |= "x"'
    assert w.alert.log_expr is None


async def test_logql_alert_starts_from_its_stream_and_matching_lines() -> None:
    w = World()
    tid = "4bf92f3577b34da6a3ce929d0e0e4736"
    alert = Alert(
        fingerprint="f" * 16,
        status=w.alert.status,
        labels={"alertname": "CartPanics", "namespace": "shop", "severity": "page"},
        starts_at=w.alert.starts_at,
        generator_url=explore_url(LOGQL),
    )
    w.traces.traces[tid] = trace_for(tid, alert.starts_at)

    def lines(logql: str, window: TimeWindow) -> list:
        if logql == '{namespace="shop", app="cart"} |= "panic"':
            return [
                log_line(window.end - timedelta(seconds=9), "panic: nil map", "cart", trace_id=tid)
            ]
        return []

    w.logs.lines = lines
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    assert bundle.alert_service == "cart"
    assert bundle.expr is None  # never sent to Prometheus
    assert bundle.expr_source == "logql"
    assert [e.trace_id for e in bundle.exemplars] == [tid]
    assert tid in {t.trace.trace_id for t in bundle.traces}
    assert w.exemplars.calls == []
    probe = next(e for e in bundle.items if e.id.startswith("exemplars:logql:"))
    assert probe.status is EvidenceStatus.OK
    assert probe.source == "loki"


async def test_alert_with_only_namespace_and_pod_names_its_workload() -> None:
    w = World()
    alert = w.alert.model_copy(
        update={
            "labels": {
                "alertname": "KubePodCrashLooping",
                "namespace": "shop",
                "pod": "checkout-7d9f8b6c5d-x2x4z",
            }
        }
    )
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    assert bundle.alert_service == "checkout"


async def test_service_label_naming_the_exporter_is_not_accused() -> None:
    w = World()
    labels = {
        "alertname": "KubeContainerOOMKilled",
        "service": "kube-state-metrics",
        "job": "kube-state-metrics",
        "namespace": "shop",
        "pod": "payment-6b4f9d7c8-mz9lk",
        "container": "payment",
    }
    alert = w.alert.model_copy(update={"labels": labels})
    bundle = await gather(alert, sources=w.sources(), settings=settings())
    assert bundle.alert_service == "payment"


async def test_64_bit_exemplar_trace_id_finds_the_zero_padded_tempo_trace() -> None:
    w = World()
    short = "a3ce929d0e0e4736"  # B3 / Jaeger 64-bit id, as the exemplar carries it
    padded = "0" * 16 + short  # as Tempo stores and serves it
    w.exemplars.exemplars = [
        Exemplar(
            trace_id=short,
            value=1.7,
            timestamp=w.alert.starts_at - timedelta(seconds=20),
            series_labels={"__name__": "demo_request_duration_seconds_bucket", "le": "2.5"},
        )
    ]
    w.traces.traces = {padded: trace_for(padded, w.alert.starts_at)}
    bundle = await gather(w.alert, sources=w.sources(), settings=settings())
    assert [e.trace_id for e in bundle.exemplars] == [padded]
    assert [t.trace.trace_id for t in bundle.traces if not t.baseline] == [padded]
