"""``gather`` with the real connectors over recorded wire payloads (``httpx.MockTransport``).

Exemplar (hex id) -> Tempo ``/api/v2/traces`` (the upstream doc capture, base64 ids) -> analyze
-> Loki ``query_range`` with ``categorize-labels`` (Grafana's testdata) -> Grafana annotations
(doc example). Checks that ids cross every boundary as the same hex and that the trace-to-logs
query is built from the trace's own service and time range.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

from connectors.grafana import GrafanaAnnotations
from connectors.loki import LokiSource
from connectors.prometheus import PrometheusSource
from connectors.tempo import TempoSource
from correlator.evidence import EvidenceSources, gather
from correlator.models import Alert, AlertStatus, EvidenceStatus
from correlator.settings import Settings

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "evidence"
TRACE_ID = "5b8efff798038103d269b633813fc700"  # the id the Tempo doc capture was fetched with
TRACE_START = 1689969302.0
EXPR = "histogram_quantile(0.9, sum by (le) (rate(http_server_duration_seconds_bucket[5m]))) > 1"


def exemplar_body() -> bytes:
    """The captured exemplar response, re-pointed at the doc trace (shape kept verbatim)."""
    doc = json.loads((FIX / "prometheus_query_exemplars.json").read_text())
    series = doc["data"][-1]
    series["exemplars"] = series["exemplars"][:1]
    series["exemplars"][0]["labels"]["trace_id"] = TRACE_ID
    series["exemplars"][0]["timestamp"] = TRACE_START + 1
    doc["data"] = [series]
    return json.dumps(doc).encode()


def route(requests: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    files = {
        "/api/v1/query_range": "prometheus_api_v1_query_range_matrix.json",
        f"/api/v2/traces/{TRACE_ID}": "api_v2_traces_by_id_response.docs-capture.json",
        "/loki/api/v1/query_range": "streams_structured_metadata.json",
        "/api/annotations": "annotations_find_response.docs.json",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path == "/api/v1/query_exemplars":
            return httpx.Response(200, content=exemplar_body())
        name = files.get(request.url.path)
        if name is None:
            return httpx.Response(404, text="not found")
        return httpx.Response(200, content=(FIX / name).read_bytes())

    return handler


async def test_ids_and_services_cross_every_wire_format() -> None:
    settings = Settings(
        prometheus={"url": "http://prom.test"},
        tempo={"url": "http://tempo.test", "baseline_traces": 0},
        loki={"url": "http://loki.test"},
        grafana={"url": "http://grafana.test"},
    )  # type: ignore[arg-type]
    requests: list[httpx.Request] = []
    transport = httpx.MockTransport(route(requests))

    clients: list[httpx.AsyncClient] = []

    def client(url: str | None) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(base_url=url or "", transport=transport))
        return clients[-1]

    prom = PrometheusSource(client(settings.prometheus.url), settings.prometheus)
    tempo = TempoSource(client(settings.tempo.url), settings.tempo)
    sources = EvidenceSources(
        exemplars=prom,
        metrics=prom,
        traces=tempo,
        trace_search=tempo,
        logs=LokiSource(client(settings.loki.url), settings.loki),
        annotations=GrafanaAnnotations(client(settings.grafana.url), settings.grafana),
    )
    alert = Alert(
        fingerprint="wire",
        status=AlertStatus.FIRING,
        labels={"alertname": "SlowMyService", "service_name": "my.service"},
        starts_at=datetime.fromtimestamp(TRACE_START + 60, tz=UTC),
        generator_url="http://prom.test/graph?" + urlencode({"g0.expr": EXPR}),
    )
    try:
        bundle = await gather(alert, sources=sources, settings=settings)
    finally:
        for c in clients:
            await c.aclose()

    by_id = {e.id: e for e in bundle.items}
    assert [e.trace_id for e in bundle.exemplars] == [TRACE_ID]
    assert by_id[f"trace:{TRACE_ID}"].status is EvidenceStatus.OK
    (te,) = bundle.traces
    assert te.trace.trace_id == TRACE_ID  # base64 on the wire, hex here
    assert te.analysis.root_service == "my.service"
    loki_calls = [
        r
        for r in requests
        if r.url.path == "/loki/api/v1/query_range" and "trace_id" in r.url.params["query"]
    ]
    (call,) = loki_calls
    assert call.url.params["query"] == f'{{service_name="my.service"}} | trace_id="{TRACE_ID}"'
    assert call.headers["X-Loki-Response-Encoding-Flags"] == "categorize-labels"
    start_ns, end_ns = int(call.url.params["start"]), int(call.url.params["end"])
    assert start_ns <= int(TRACE_START * 1e9)
    assert end_ns >= 1689970000 * 10**9
    assert end_ns - start_ns < 800 * 10**9  # the trace's range (~698 s) plus padding, no more
    (logs,) = bundle.trace_logs
    assert logs.evidence_id == f"logs:{TRACE_ID}"
    assert len(logs.lines) == 6
    assert by_id["patterns:my.service"].status is EvidenceStatus.OK
    assert {c.evidence_id for c in bundle.changes} == {
        "change:grafana:tag1:20171006T050635Z",
        "change:grafana:tag1:20171006T044511Z",
    }
    assert by_id["metric:alert"].status is EvidenceStatus.OK
