"""Each well-known metric family in ``rules/resources.yaml`` yields the service's golden signals
(error ratio, request rate, p95 latency in seconds) and resource fallbacks, in a real Prometheus
(Debian package, backfilled with ``promtool`` through the simulator's ``PrometheusProcess``).

Every family below lives under its own service, with the label sets its exporter writes (names
as in the upstream references cited in ``rules/resources.yaml`` and docs/rules.md "Metric
families"): so the rendered template for that service can only be answered by that family's
alternative. Each family has a decoy its alternative must leave out (Istio's client-side
``reporter="source"`` view, Linkerd's ``direction="outbound"``, gRPC client-error codes,
JVM non-heap), and a service with no series at all gets nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors._http import build_client
from connectors.prometheus import SERIES_CHUNK, PrometheusSource
from correlator.evidence.discovery import answerable, plan
from correlator.lab.simulator.promproc import PrometheusProcess
from correlator.models import Alert, TimeWindow
from correlator.rules import load_ruleset
from correlator.settings import PrometheusSettings
from tests.unit.rules import factories as f

RULES = Path(__file__).resolve().parents[2] / "rules"

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

STEP = 15
ONSET = int(f.ONSET.timestamp())
START = ONSET - 3600
END = ONSET + 300
TIMES = range(START, END + 1, STEP)
RPS = 10.0  # requests per second, before and after onset
ERR_BEFORE, ERR_AFTER = 0.02, 0.2  # server-error share
# latency: before, every request lands in the (10 ms, 25 ms] bucket; after, in (250 ms, 500 ms]
BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BOUNDS_MS = tuple(b * 1000 for b in BOUNDS_S)
SLOW_BEFORE, SLOW_AFTER = 2, 6  # index of the bucket whose upper bound holds every request


Rates = tuple[float | None, float | None]  # per second before / after onset; None: no child yet
OK: Rates = (RPS * (1 - ERR_BEFORE), RPS * (1 - ERR_AFTER))
ERR: Rates = (RPS * ERR_BEFORE, RPS * ERR_AFTER)
ALL: Rates = (RPS, RPS)
# a client error (gRPC NOT_FOUND) on a tenth of the requests: counted in the rate, not as failure
NOT_FOUND: Rates = (RPS / 10, RPS / 10)
OK_BUT_NOT_FOUND: Rates = (RPS * (0.9 - ERR_BEFORE), RPS * (0.9 - ERR_AFTER))


@dataclass
class Family:
    kind: str  # counter | histogram | gauge
    lines: list[tuple[str, list[tuple[int, float]]]] = field(default_factory=list)


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


class Series:
    """OpenMetrics families, each written once (OpenMetrics wants a family's samples together)."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}

    def _add(self, family: str, kind: str, series: str, points: list[tuple[int, float]]) -> None:
        self.families.setdefault(family, Family(kind)).lines.append((series, points))

    def counter(self, family: str, labels: dict[str, str], rates: Rates) -> None:
        total, points = 0.0, []
        for t in TIMES:
            rate = rates[0] if t < ONSET else rates[1]
            if rate is None:
                continue  # client libraries create a child on its first increment
            total += rate * STEP
            points.append((t, total))
        self._add(family, "counter", f"{family}_total{{{_labels(labels)}}}", points)

    def histogram(
        self,
        family: str,
        labels: dict[str, str],
        bounds: tuple[float, ...],
        rates: Rates,
        *,
        fast: bool = False,
    ) -> None:
        """Every observation in one bucket: (10, 25] ms before onset, (250, 500] ms after; with
        ``fast`` always in the first bucket (errors answered at once)."""
        les = [*(f"{b:g}" for b in bounds), "+Inf"]
        cum = [0.0] * len(les)
        rows: dict[str, list[tuple[int, float]]] = {le: [] for le in [*les, "sum"]}
        total_sum = 0.0
        for t in TIMES:
            rate = rates[0] if t < ONSET else rates[1]
            if rate is None:
                continue
            slot = 0 if fast else SLOW_BEFORE if t < ONSET else SLOW_AFTER
            for i, le in enumerate(les):
                cum[i] += rate * STEP if i >= slot else 0.0
                rows[le].append((t, cum[i]))
            total_sum += rate * STEP * bounds[slot] * 0.9
            rows["sum"].append((t, total_sum))
        for le in les:
            self._add(
                family, "histogram", f'{family}_bucket{{{_labels(labels)},le="{le}"}}', rows[le]
            )
        self._add(family, "histogram", f"{family}_count{{{_labels(labels)}}}", rows["+Inf"])
        self._add(family, "histogram", f"{family}_sum{{{_labels(labels)}}}", rows["sum"])

    def gauge(self, family: str, labels: dict[str, str], before: float, after: float) -> None:
        points = [(t, before if t < ONSET else after) for t in TIMES]
        self._add(family, "gauge", f"{family}{{{_labels(labels)}}}", points)

    def text(self) -> str:
        out = []
        for name, fam in self.families.items():
            out.append(f"# TYPE {name} {fam.kind}")
            for series, points in fam.lines:
                out.extend(f"{series} {v:.6f} {t}" for t, v in points)
        return "\n".join([*out, "# EOF"]) + "\n"


def _http_families(om: Series) -> None:
    # Prometheus client libraries (promhttp: code), hand-written prom-client middleware
    # (status_code), prometheus-fastapi-instrumentator (status, grouped as 2xx/5xx)
    for service, key, ok, err in (
        ("promhttp", "code", "200", "500"),
        ("express", "status_code", "200", "503"),
        ("fastapi", "status", "2xx", "5xx"),
    ):
        base = {"service": service, "handler": "/", "method": "GET"}
        om.counter("http_requests", {**base, key: ok}, OK)
        om.counter("http_requests", {**base, key: err}, ERR)
    # express-prom-bundle: one histogram, status_code
    bundle = {"service": "prombundle", "method": "GET", "path": "/api/article/:id"}
    fam = "http_request_duration_seconds"
    om.histogram(fam, {**bundle, "status_code": "200"}, BOUNDS_S, OK)
    om.histogram(fam, {**bundle, "status_code": "500"}, BOUNDS_S, ERR, fast=True)
    # OTel stable HTTP semconv, seconds; the 5xx child appears only at onset (created lazily)
    otel = {"service": "otel-http", "http_request_method": "GET", "http_route": "/cart"}
    fam = "http_server_request_duration_seconds"
    om.histogram(fam, {**otel, "http_response_status_code": "200"}, BOUNDS_S, (RPS, OK[1]))
    om.histogram(
        fam, {**otel, "http_response_status_code": "500"}, BOUNDS_S, (None, ERR[1]), fast=True
    )
    # OTel HTTP semconv before 1.23: milliseconds, http_status_code
    old = {"service": "otel-http-old", "http_method": "GET", "http_scheme": "http"}
    fam = "http_server_duration_milliseconds"
    om.histogram(fam, {**old, "http_status_code": "200"}, BOUNDS_MS, OK)
    om.histogram(fam, {**old, "http_status_code": "500"}, BOUNDS_MS, ERR, fast=True)
    # Micrometer (Spring Boot, percentiles-histogram on): status and outcome
    spring = {"service": "spring", "method": "GET", "uri": "/orders", "exception": "None"}
    fam = "http_server_requests_seconds"
    om.histogram(fam, {**spring, "status": "200", "outcome": "SUCCESS"}, BOUNDS_S, OK)
    om.histogram(
        fam, {**spring, "status": "500", "outcome": "SERVER_ERROR"}, BOUNDS_S, ERR, fast=True
    )


def _rpc_families(om: Series) -> None:
    # OTel RPC semconv: milliseconds, numeric gRPC code; NOT_FOUND (5) is the client's error
    rpc = {
        "service": "otel-rpc",
        "rpc_system": "grpc",
        "rpc_service": "hipstershop.CartService",
        "rpc_method": "GetCart",
    }
    fam = "rpc_server_duration_milliseconds"
    om.histogram(fam, {**rpc, "rpc_grpc_status_code": "0"}, BOUNDS_MS, OK_BUT_NOT_FOUND)
    om.histogram(fam, {**rpc, "rpc_grpc_status_code": "14"}, BOUNDS_MS, ERR, fast=True)
    om.histogram(fam, {**rpc, "rpc_grpc_status_code": "5"}, BOUNDS_MS, NOT_FOUND, fast=True)
    # go-grpc-prometheus: grpc_code names; NotFound is the client's error
    grpc = {
        "service": "grpc-go",
        "grpc_type": "unary",
        "grpc_service": "shop.Cart",
        "grpc_method": "Get",
    }
    om.counter("grpc_server_handled", {**grpc, "grpc_code": "OK"}, OK_BUT_NOT_FOUND)
    om.counter("grpc_server_handled", {**grpc, "grpc_code": "NotFound"}, NOT_FOUND)
    om.counter("grpc_server_handled", {**grpc, "grpc_code": "Unavailable"}, ERR)
    om.histogram("grpc_server_handling_seconds", grpc, BOUNDS_S, ALL)


def _mesh_families(om: Series) -> None:
    # Istio: destination_workload is the Deployment, destination_service_name the Service
    for workload, service_name in (("ratings", "ratings"), ("details-v1", "details")):
        istio = {
            "reporter": "destination",
            "source_workload": "productpage-v1",
            "destination_workload": workload,
            "destination_workload_namespace": "bookinfo",
            "destination_service_name": service_name,
            "request_protocol": "http",
            "response_flags": "-",
        }
        om.counter("istio_requests", {**istio, "response_code": "200"}, OK)
        om.counter("istio_requests", {**istio, "response_code": "503"}, ERR)
        fam = "istio_request_duration_milliseconds"
        om.histogram(fam, {**istio, "response_code": "200"}, BOUNDS_MS, OK)
        om.histogram(fam, {**istio, "response_code": "503"}, BOUNDS_MS, ERR, fast=True)
        # the client sidecar's view (reporter="source") also saw timeouts: not the server's own
        src = {**istio, "reporter": "source", "response_code": "504"}
        om.counter("istio_requests", src, ALL)
        om.histogram(fam, src, BOUNDS_MS, (RPS, RPS))
    # Istio, gRPC: HTTP 200 whatever happened, the gRPC code in grpc_response_status
    grpc = {
        "reporter": "destination",
        "destination_workload": "adservice",
        "destination_service_name": "adservice",
        "request_protocol": "grpc",
        "response_code": "200",
    }
    om.counter("istio_requests", {**grpc, "grpc_response_status": "0"}, OK_BUT_NOT_FOUND)
    om.counter("istio_requests", {**grpc, "grpc_response_status": "5"}, NOT_FOUND)
    om.counter("istio_requests", {**grpc, "grpc_response_status": "14"}, ERR)
    # Linkerd proxy: inbound is the server side; deployment from linkerd.io/proxy-deployment
    ld = {
        "direction": "inbound",
        "deployment": "web",
        "namespace": "emojivoto",
        "pod": "web-5d8f7c9b6-q2w8z",
        "tls": "true",
    }
    om.counter("request", ld, ALL)
    om.counter("response", {**ld, "classification": "success", "status_code": "200"}, OK)
    om.counter("response", {**ld, "classification": "failure", "status_code": "500"}, ERR)
    om.histogram("response_latency_ms", {**ld, "status_code": "200"}, BOUNDS_MS, OK)
    om.histogram("response_latency_ms", {**ld, "status_code": "500"}, BOUNDS_MS, ERR, fast=True)
    out = {**ld, "direction": "outbound", "dst_deployment": "emoji"}
    om.counter("request", out, (3 * RPS, 3 * RPS))
    om.counter("response", {**out, "classification": "failure", "status_code": "500"}, ALL)


POD = "api-5d8f7c9b6-q2w8z"


def _resource_families(om: Series) -> None:
    # JVM heap pools (Micrometer/client_java): non-heap is left out of the memory signal
    for pool, area, before, after in (
        ("G1 Eden Space", "heap", 1e8, 3e8),
        ("G1 Old Gen", "heap", 2e8, 6e8),
        ("Metaspace", "nonheap", 5e7, 5e7),
    ):
        labels = {"service": "jvm", "area": area, "id": pool}
        om.gauge("jvm_memory_used_bytes", labels, before, after)
    rss = {"service": "rss", "instance": "10.0.0.7:8080"}
    om.gauge("process_resident_memory_bytes", rss, 1e8, 4e8)
    # a pod scraped by a PodMonitor: namespace/pod/job labels, no service
    pod = {"namespace": "shop", "pod": POD, "job": "shop/api", "instance": "10.0.0.8:9090"}
    om.gauge("process_open_fds", pod, 100, 900)
    om.gauge("process_max_fds", pod, 1000, 1000)
    om.gauge("process_resident_memory_bytes", pod, 1e8, 5e8)
    om.counter("process_cpu_seconds", pod, (0.1, 0.8))
    om.gauge("up", pod, 1, 0)  # the pod's target stops answering at onset
    cadvisor = {"container": "api", "device": "/dev/vda1", "id": "/kubepods/pod1/abc"}
    cadvisor |= {"image": "api:1", "name": "abc", "namespace": "shop", "pod": POD}
    om.gauge("container_fs_usage_bytes", cadvisor, 1e9, 9e9)
    om.gauge("container_fs_limit_bytes", cadvisor, 1e10, 1e10)
    # CFS periods: 10 per second; throttled in 1 of them before onset, 6 after (contention)
    om.counter("container_cpu_cfs_periods", cadvisor, (10.0, 10.0))
    om.counter("container_cpu_cfs_throttled_periods", cadvisor, (1.0, 6.0))


def _openmetrics() -> str:
    om = Series()
    _http_families(om)
    _rpc_families(om)
    _mesh_families(om)
    _resource_families(om)
    return om.text()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.skip("prometheus/promtool not installed (scripts/system-deps.sh)")
    proc = PrometheusProcess(_openmetrics(), workdir=tmp_path_factory.mktemp("family-prom"))
    try:
        yield proc.start()
    finally:
        proc.stop()


def _queries(alert: Alert, service: str) -> dict[str, str]:
    """Rendered template per metric name (``error_ratio``, ``latency``...) for one service."""
    ruleset = load_ruleset(RULES)
    return {q.name.split(":")[0]: q.expr for q in ruleset.metric_queries(alert, [service])}


def _query(url: str, expr: str) -> dict[str, float]:
    """Mean value well before onset and well after it (``{}`` when nothing answers)."""
    params = {"query": expr, "start": START + 600, "end": END, "step": STEP}
    doc = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=10).json()
    assert doc["status"] == "success", doc
    result = doc["data"]["result"]
    assert len(result) <= 1, result
    if not result:
        return {}
    points = [(float(t), float(v)) for t, v in result[0]["values"]]
    before = [v for t, v in points if t < ONSET - 300]
    after = [v for t, v in points if t > ONSET + 180]
    return {"before": sum(before) / len(before), "after": sum(after) / len(after)}


GOLDEN = [
    # service, lazily-created error child (reads 0 before onset)
    ("promhttp", False),
    ("express", False),
    ("fastapi", False),
    ("prombundle", False),
    ("otel-http", True),
    ("otel-http-old", False),
    ("otel-rpc", False),
    ("grpc-go", False),
    ("spring", False),
    ("ratings", False),
    ("details", False),
    ("adservice", False),
    ("web", False),
]


@pytest.mark.parametrize(("service", "lazy"), GOLDEN)
def test_each_family_gives_the_services_own_error_ratio(
    prometheus: str, service: str, lazy: bool
) -> None:
    expr = _queries(f.alert("HighErrorRate", service=service), service)["error_ratio"]
    got = _query(prometheus, expr)
    assert got, f"no error ratio for {service}: {expr}"
    assert got["before"] == pytest.approx(0.0 if lazy else ERR_BEFORE, abs=0.002)
    assert got["after"] == pytest.approx(ERR_AFTER, abs=0.005)


@pytest.mark.parametrize(("service", "lazy"), GOLDEN)
def test_each_family_gives_the_services_own_request_rate(
    prometheus: str, service: str, lazy: bool
) -> None:
    expr = _queries(f.alert("HighErrorRate", service=service), service)["request_rate"]
    got = _query(prometheus, expr)
    assert got, f"no request rate for {service}: {expr}"
    assert got["before"] == pytest.approx(RPS, rel=0.01)
    assert got["after"] == pytest.approx(RPS, rel=0.01)


LATENCY = [
    "prombundle",
    "otel-http",
    "otel-http-old",
    "otel-rpc",
    "grpc-go",
    "spring",
    "ratings",
    "details",
    "web",
]


@pytest.mark.parametrize("service", LATENCY)
def test_each_family_gives_p95_latency_in_seconds(prometheus: str, service: str) -> None:
    expr = _queries(f.alert("HighLatency", service=service), service)["latency"]
    got = _query(prometheus, expr)
    assert got, f"no latency for {service}: {expr}"
    assert 0.01 < got["before"] <= 0.025  # (10 ms, 25 ms], in seconds whatever the family's unit
    assert 0.25 < got["after"] <= 0.5


def test_an_absent_family_yields_nothing(prometheus: str) -> None:
    queries = _queries(f.alert("HighErrorRate", service="nobody"), "nobody")
    names = ("error_ratio", "request_rate", "latency", "memory", "fds", "disk", "cpu")
    for name in (*names, "cpu_throttling", "targets_down"):
        assert _query(prometheus, queries[name]) == {}, name


@pytest.mark.parametrize(("service", "before", "after"), [("jvm", 3e8, 9e8), ("rss", 1e8, 4e8)])
def test_memory_falls_back_to_process_and_jvm_heap(
    prometheus: str, service: str, before: float, after: float
) -> None:
    expr = _queries(f.alert("HighMemory", service=service), service)["memory"]
    assert _query(prometheus, expr) == pytest.approx({"before": before, "after": after})


def test_pod_named_process_and_cadvisor_series_give_the_workloads_resources(
    prometheus: str,
) -> None:
    alert = f.alert("HighMemory", namespace="shop", pod=POD)
    queries = _queries(alert, "api")
    assert _query(prometheus, queries["fds"]) == pytest.approx({"before": 0.1, "after": 0.9})
    assert _query(prometheus, queries["disk"]) == pytest.approx({"before": 0.1, "after": 0.9})
    assert _query(prometheus, queries["memory"]) == pytest.approx({"before": 1e8, "after": 5e8})
    assert _query(prometheus, queries["targets_down"]) == {"before": 0.0, "after": 1.0}
    cpu = _query(prometheus, queries["cpu"])
    assert cpu["before"] == pytest.approx(0.1, abs=0.01)
    assert cpu["after"] == pytest.approx(0.8, abs=0.01)


def test_cadvisor_cfs_series_give_the_workloads_throttled_fraction(prometheus: str) -> None:
    """CPU contention or a CPU limit reached shows as throttled CFS periods, while usage (capped
    at the limit) hardly moves: the share is read per pod, like every cAdvisor series."""
    queries = _queries(f.alert("HighLatency", namespace="shop", pod=POD), "api")
    got = _query(prometheus, queries["cpu_throttling"])
    assert got == pytest.approx({"before": 0.1, "after": 0.6}, abs=0.01)


async def _discover(url: str, alert: Alert, service: str) -> set[str]:
    """Metric discovery through the real connector against the real Prometheus."""
    queries = load_ruleset(RULES).metric_queries(alert, [service])
    p = plan(queries)
    assert len(p.match_params()) > SERIES_CHUNK  # several requests, all accepted
    window = TimeWindow(
        start=datetime.fromtimestamp(START, UTC), end=datetime.fromtimestamp(END, UTC)
    )
    settings = PrometheusSettings(url=url)
    async with build_client(settings) as client:
        found = await PrometheusSource(client, settings).series(p.match_params(), window)
    return {name.split(":")[0] for name in answerable(p, found)}


async def test_discovery_finds_the_families_a_workload_has(prometheus: str) -> None:
    """Prometheus accepts every selector of every shipped template as ``match[]``, and only the
    families the workload really has can answer."""
    pod = await _discover(prometheus, f.alert("HighCPU", namespace="shop", pod=POD), "api")
    assert pod == {"cpu", "cpu_throttling", "memory", "fds", "disk", "targets_down"}
    otel = await _discover(prometheus, f.alert("HighErrorRate", service="otel-rpc"), "otel-rpc")
    assert {"request_rate", "error_ratio", "latency"} <= otel
    assert "cpu" not in otel
    assert (
        await _discover(prometheus, f.alert("HighErrorRate", service="nobody"), "nobody") == set()
    )
