"""The simulator against the upstream fixtures' shapes, with a real Prometheus behind it.

Connectors must not be able to pass against the simulator yet fail on real Tempo/Loki/Grafana:
every endpoint is compared with recorded upstream payloads (tests/fixtures/<system>/, see the
SOURCES.md there): same keys, same encodings (base64 ids in trace-by-id, zero-stripped hex in
search, nanosecond strings in Loki, categorized vs merged labels, epoch ms in annotations).
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlator.lab.scenarios import load_scenario
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.server import RunningSimulator, running_simulator

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "fixtures"
CHECKOUT = ROOT / "scenarios" / "checkout-deploy-regression"


def fixture(rel: str) -> Any:
    return json.loads((FIX / rel).read_text())


@pytest.fixture(scope="module")
def sim() -> Iterator[RunningSimulator]:
    with running_simulator(CHECKOUT) as running:
        yield running


@pytest.fixture
def client(sim: RunningSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, timeout=10.0, trust_env=False) as c:
        yield c


def _window(sim: RunningSimulator) -> tuple[float, float]:
    t = sim.scenario.alert_time.timestamp()
    return t - 1800, t + 120


def _exemplar_trace(client: httpx.Client, sim: RunningSimulator) -> str:
    start, end = _window(sim)
    q = 'http_server_request_duration_seconds_bucket{service="checkout-api"}'
    data = client.get("/api/v1/query_exemplars", params={"query": q, "start": start, "end": end})
    return str(data.json()["data"][-1]["exemplars"][-1]["labels"]["trace_id"])


def test_query_exemplars_shape_matches_prometheus(
    client: httpx.Client, sim: RunningSimulator
) -> None:
    start, end = _window(sim)
    expr = (
        "histogram_quantile(0.95, sum by (le, service) (rate("
        'http_server_request_duration_seconds_bucket{service="checkout-api"}[5m]))) > 0.5'
    )
    body = client.get("/api/v1/query_exemplars", params={"query": expr, "start": start, "end": end})
    assert body.status_code == 200
    got, ref = body.json(), fixture("prometheus/api_v1_query_exemplars.docs.json")
    assert set(got) == set(ref)
    assert got["data"], "exemplars expected for the alert's series"
    for series in got["data"]:
        assert set(series) == set(ref["data"][0])
        assert series["seriesLabels"]["service"] == "checkout-api"
        assert series["seriesLabels"]["__name__"] == "http_server_request_duration_seconds_bucket"
        for ex in series["exemplars"]:
            assert set(ex) == set(ref["data"][0]["exemplars"][0])
            assert isinstance(ex["value"], str)
            assert isinstance(ex["timestamp"], float)
            assert start <= ex["timestamp"] <= end
            assert len(ex["labels"]["trace_id"]) == 32
    other = client.get(
        "/api/v1/query_exemplars", params={"query": 'up{job="x"}', "start": start, "end": end}
    )
    assert other.json() == {"status": "success", "data": []}


def test_trace_by_id_v1_and_v2_use_base64_ids(client: httpx.Client, sim: RunningSimulator) -> None:
    tid = _exemplar_trace(client, sim)
    v1 = client.get(f"/api/traces/{tid}").json()
    v2 = client.get(f"/api/v2/traces/{tid}").json()
    assert set(v1) == set(fixture("tempo/tempopb_trace_v1_batches_hexids.json"))  # {"batches"}
    ref_v2 = fixture("tempo/api_v2_traces_by_id_response.docs-capture.json")
    assert set(v2) == set(ref_v2)
    assert v2["trace"]["resourceSpans"] == v1["batches"]
    ref_span = ref_v2["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for rs in v1["batches"]:
        for span in rs["scopeSpans"][0]["spans"]:
            assert set(ref_span) - {"attributes"} <= set(span)
            assert base64.b64decode(span["traceId"]).hex() == tid
            assert len(base64.b64decode(span["spanId"])) == 8
            assert isinstance(span["startTimeUnixNano"], str)
            assert span["kind"].startswith("SPAN_KIND_")
            assert span["status"] == {} or span["status"]["code"] == "STATUS_CODE_ERROR"
    assert client.get("/api/traces/" + "0" * 31 + "1").status_code == 404
    assert client.get("/api/v2/traces/not-hex").status_code == 404


def test_otlp_push_then_read_back_equals_tempo_capture(client: httpx.Client) -> None:
    push = (FIX / "tempo" / "otlp_http_v1_traces_push_request.docs.json").read_text()
    r = client.post("/v1/traces", content=push, headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    got = client.get("/api/v2/traces/5b8efff798038103d269b633813fc700").json()
    assert got == fixture("tempo/api_v2_traces_by_id_response.docs-capture.json")
    search = client.get("/api/search", params={"q": '{ resource.service.name = "my.service" }'})
    item = next(t for t in search.json()["traces"] if t["rootServiceName"] == "my.service")
    ref = fixture("tempo/api_search_traceql_response.docs-capture.json")["traces"][0]
    assert item["traceID"] == ref["traceID"]
    assert item["spanSet"]["spans"][0]["spanID"] == ref["spanSet"]["spans"][0]["spanID"]
    assert item["spanSet"]["spans"][0]["attributes"] == ref["spanSet"]["spans"][0]["attributes"]


def test_search_shape_and_zero_stripped_ids(client: httpx.Client, sim: RunningSimulator) -> None:
    start, end = _window(sim)
    q = '{ resource.service.name = "checkout-api" && (status = error || duration > 500ms) }'
    body = client.get(
        "/api/search", params={"q": q, "start": int(start), "end": int(end), "limit": 50}
    )
    assert body.status_code == 200
    got, ref = body.json(), fixture("tempo/api_search_traceql_response.docs-capture.json")
    assert set(ref) <= set(got)
    assert set(ref["metrics"]) <= set(got["metrics"])
    assert isinstance(got["metrics"]["inspectedBytes"], str)
    assert got["traces"]
    ref_item, ref_span = ref["traces"][0], ref["traces"][0]["spanSet"]["spans"][0]
    for item in got["traces"]:
        assert set(item) == set(ref_item)
        assert item["traceID"] == item["traceID"].lstrip("0")
        assert item["traceID"].rjust(32, "0") in sim.scenario.traces
        assert isinstance(item["durationMs"], int)
        assert item["spanSets"] == [item["spanSet"]]
        for span in item["spanSet"]["spans"]:
            assert set(span) == set(ref_span)
    bad = client.get("/api/search", params={"q": "{ status = "})
    assert bad.status_code == 400


def test_search_finds_nothing_outside_the_window(
    client: httpx.Client, sim: RunningSimulator
) -> None:
    start, _ = _window(sim)
    body = client.get(
        "/api/search", params={"q": "{}", "start": int(start) - 7200, "end": int(start) - 3600}
    )
    assert body.json()["traces"] == []


def _loki(client: httpx.Client, sim: RunningSimulator, query: str, *, categorize: bool) -> Any:
    start, end = _window(sim)
    headers = {"X-Loki-Response-Encoding-Flags": "categorize-labels"} if categorize else {}
    params = {
        "query": query,
        "start": str(int(start * 1e9)),
        "end": str(int(end * 1e9)),
        "limit": "500",
    }
    r = client.get("/loki/api/v1/query_range", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_loki_merged_encoding_like_streams_simple(
    client: httpx.Client, sim: RunningSimulator
) -> None:
    got = _loki(
        client, sim, '{service_name="checkout-api"} |= "seq scan on orders"', categorize=False
    )
    ref = fixture("loki/streams_simple.json")
    assert set(got) == set(ref)
    assert set(got["data"]) == set(ref["data"])
    assert got["data"]["result"]
    for stream in got["data"]["result"]:
        assert set(stream) == {"stream", "values"}
        assert "trace_id" in stream["stream"]  # structured metadata merged into the labels
        for value in stream["values"]:
            assert len(value) == 2
            assert value[0].isdigit()
            assert "seq scan on orders" in value[1]


def test_loki_categorized_encoding_like_grafana_testdata(
    client: httpx.Client, sim: RunningSimulator
) -> None:
    merged = _loki(client, sim, '{service_name="checkout-api"} |= "seq scan"', categorize=False)
    tid = merged["data"]["result"][0]["stream"]["trace_id"]
    got = _loki(client, sim, f'{{service_name="checkout-api"}} | trace_id="{tid}"', categorize=True)
    ref = fixture("loki/streams_structured_metadata.json")
    assert list(got["data"])[:3] == list(ref["data"])[:3]  # encodingFlags, resultType, result
    assert got["data"]["encodingFlags"] == ["categorize-labels"]
    assert got["data"]["result"]
    for stream in got["data"]["result"]:
        assert "trace_id" not in stream["stream"]
        for value in stream["values"]:
            assert len(value) == 3
            assert value[2]["structuredMetadata"]["trace_id"] == tid
    # a line filter does not see ids held only in structured metadata (real Loki behaviour)
    none = _loki(client, sim, f'{{service_name="checkout-api"}} |= "{tid}"', categorize=True)
    assert none["data"]["result"] == []


def test_loki_rejects_unsupported_and_instant_queries(client: httpx.Client) -> None:
    assert client.get("/loki/api/v1/query_range", params={"query": "sum(x)"}).status_code == 400
    assert client.get("/loki/api/v1/query", params={"query": '{a="b"}'}).status_code == 400


def test_loki_push_is_queryable(client: httpx.Client, sim: RunningSimulator) -> None:
    _, end = _window(sim)
    ts = str(int((end - 60) * 1e9))
    body = {
        "streams": [
            {
                "stream": {"service_name": "pusher"},
                "values": [[ts, "hello push", {"trace_id": "ab" * 16}]],
            }
        ]
    }
    assert client.post("/loki/api/v1/push", json=body).status_code == 204
    got = _loki(
        client, sim, '{service_name="pusher"} | trace_id="' + "ab" * 16 + '"', categorize=True
    )
    assert got["data"]["result"][0]["values"][0][1] == "hello push"


def test_annotations_shape_time_and_tags(client: httpx.Client, sim: RunningSimulator) -> None:
    start, end = _window(sim)
    params: dict[str, Any] = {
        "from": int((start - 3600) * 1000),
        "to": int(end * 1000),
        "tags": ["deploy"],
    }
    got = client.get("/api/annotations", params=params).json()
    ref = fixture("grafana/annotations_find_response.docs.json")
    allowed = set().union(*(set(a) for a in ref)) | {
        "created",
        "updated",
        "login",
        "email",
        "avatarUrl",
    }
    assert [a["text"].split(" ")[1] for a in got] == ["checkout-api", "inventory"]  # newest first
    for a in got:
        assert set(a) <= allowed
        assert isinstance(a["time"], int)
        assert a["time"] > 10**12  # epoch milliseconds
    both = client.get("/api/annotations", params={**params, "tags": ["deploy", "inventory"]}).json()
    assert [a["text"].split(" ")[1] for a in both] == ["inventory"]
    anyof = client.get(
        "/api/annotations", params={**params, "tags": ["nope", "inventory"], "matchAny": "true"}
    )
    assert len(anyof.json()) == 1
    early = client.get("/api/annotations", params={"from": 0, "to": int((start - 7200) * 1000)})
    assert early.json() == []


def test_promql_is_proxied_to_real_prometheus(client: httpx.Client, sim: RunningSimulator) -> None:
    start, end = _window(sim)
    q = 'sum by (service) (rate(http_requests_total{service="checkout-api",code="500"}[5m]))'
    r = client.get(
        "/api/v1/query_range", params={"query": q, "start": start, "end": end, "step": 60}
    )
    got, ref = r.json(), fixture("prometheus/api_v1_query_range_matrix_up.docs.json")
    assert set(got) >= {"status", "data"}
    assert set(got["data"]) == set(ref["data"])
    assert got["data"]["resultType"] == "matrix"
    values = [float(v) for _, v in got["data"]["result"][0]["values"]]
    assert values[0] == 0.0  # no 5xx before the deploy
    assert max(values) > 0.5  # the regression's statement timeouts
    build = client.get(
        "/api/v1/query", params={"query": 'build_info{service="checkout-api"}', "time": end}
    )
    versions = {s["metric"]["version"] for s in build.json()["data"]["result"]}
    assert "2.4.1" in versions


def test_backend_down_and_fault_flags(tmp_path: Path) -> None:
    down = ROOT / "scenarios" / "loki-down-payment-regression"
    assert load_scenario(down).meta.simulate.loki == "down"
    with (
        running_simulator(down, SimulatorConfig(prometheus=False)) as s,
        httpx.Client(base_url=s.url, trust_env=False) as c,
    ):
        assert c.get("/loki/api/v1/query_range", params={"query": '{a="b"}'}).status_code == 503
        assert c.get("/api/search", params={"q": "{}"}).status_code == 200
        assert c.get("/api/v1/query", params={"query": "up"}).status_code == 503  # no prometheus
    cfg = SimulatorConfig(prometheus=False, error_rate=1.0)
    with running_simulator(CHECKOUT, cfg) as s, httpx.Client(base_url=s.url, trust_env=False) as c:
        assert c.get("/api/search", params={"q": "{}"}).status_code == 503
        assert c.get("/api/annotations").status_code == 503


def test_hang_rate_holds_requests() -> None:
    cfg = SimulatorConfig(prometheus=False, hang_rate=1.0, hang_seconds=2.0)
    with (
        running_simulator(CHECKOUT, cfg) as s,
        httpx.Client(base_url=s.url, trust_env=False, timeout=0.3) as c,
    ):
        with pytest.raises(httpx.ReadTimeout):
            c.get("/api/search", params={"q": "{}"})
        assert c.get("/ready").status_code == 200  # non-backend paths are not affected
