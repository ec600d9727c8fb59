"""connectors/prometheus.py through httpx.MockTransport serving real Prometheus payloads."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from connectors._http import BackendClient
from connectors.prometheus import PrometheusSource
from correlator.errors import BackendBadResponse, BackendRejected
from correlator.models import TimeWindow
from correlator.settings import PrometheusSettings
from tests.connectors.support import FakeTime, fixture_bytes, fixture_json

WINDOW = TimeWindow(
    start=datetime(2026, 11, 21, 10, 30, tzinfo=UTC),
    end=datetime(2026, 11, 21, 10, 35, 0, 500_000, tzinfo=UTC),
)


class Prom:
    def __init__(self, body: bytes, status: int = 200, ctype: str = "application/json") -> None:
        self.body = body
        self.status = status
        self.ctype = ctype
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.body, headers={"content-type": self.ctype})


def source(prom: Prom, fake_time: FakeTime, **settings: object) -> PrometheusSource:
    cfg = PrometheusSettings(url="http://prom.test", retries=0, **settings)
    client = httpx.AsyncClient(base_url="http://prom.test", transport=httpx.MockTransport(prom))
    http = BackendClient("prometheus", client, cfg, clock=fake_time.clock, sleep=fake_time.sleep)
    return PrometheusSource(client, cfg, http=http)


async def test_exemplars_from_a_real_histogram(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "prometheus_query_exemplars.json"))
    found = await source(prom, fake_time).query_exemplars(
        "demo_request_duration_seconds_bucket", WINDOW
    )
    raw = fixture_json("prometheus", "prometheus_query_exemplars.json")
    assert len(found) == sum(len(g["exemplars"]) for g in raw["data"])
    first = found[0]
    assert first.trace_id == "0a4347094c4c00b20af03cdae3fbb911"
    assert first.span_id == "e5c22b9409ef453f"
    assert first.value == pytest.approx(0.03)
    assert first.timestamp == datetime.fromtimestamp(1795278773.072, tz=UTC)
    assert first.series_labels["le"] == "0.05"
    assert first.series_labels["service"] == "checkout"
    params = prom.requests[0].url.params
    assert prom.requests[0].url.path == "/api/v1/query_exemplars"
    assert params["query"] == "demo_request_duration_seconds_bucket"
    assert params["start"] == f"{WINDOW.start.timestamp():.3f}"
    assert params["end"] == f"{WINDOW.end.timestamp():.3f}"


async def test_counter_exemplars_have_no_span_id(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "prometheus_query_exemplars_counter.json"))
    found = await source(prom, fake_time).query_exemplars("demo_errors_total", WINDOW)
    assert found
    assert all(e.span_id is None and len(e.trace_id) == 32 for e in found)
    assert found[0].trace_id == "b7b404a3ab617c7a2be810ec51b2620d"


async def test_traceid_label_spelling(fake_time: FakeTime) -> None:
    raw = fixture_json("prometheus", "prometheus_query_exemplars_counter.json")
    for group in raw["data"]:
        for ex in group["exemplars"]:
            ex["labels"] = {"traceID": ex["labels"]["trace_id"].upper()}
    found = await source(Prom(json.dumps(raw).encode()), fake_time).query_exemplars("x", WINDOW)
    assert found[0].trace_id == "b7b404a3ab617c7a2be810ec51b2620d"
    only_trace_id = await source(
        Prom(json.dumps(raw).encode()), fake_time, trace_id_labels=["trace_id"]
    ).query_exemplars("x", WINDOW)
    assert only_trace_id == []


async def test_codec_exemplar_short_hex_is_padded(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "codec_exemplars.json"))
    (ex,) = await source(prom, fake_time).query_exemplars("foo", WINDOW)
    assert ex.trace_id == "0" * 29 + "abc"
    assert ex.value == pytest.approx(100.123)
    assert ex.series_labels == {"foo": "bar"}


async def test_codec_exemplar_plus_inf_value(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "codec_exemplars_inf_value.json"))
    (ex,) = await source(prom, fake_time).query_exemplars("foo", WINDOW)
    assert ex.value == math.inf


async def test_nan_exemplar_value_is_kept(fake_time: FakeTime) -> None:
    raw = fixture_json("prometheus", "codec_exemplars.json")
    raw["data"][0]["exemplars"][0]["value"] = "NaN"
    (ex,) = await source(Prom(json.dumps(raw).encode()), fake_time).query_exemplars("f", WINDOW)
    assert math.isnan(ex.value)


async def test_docs_demo_ids_that_are_not_trace_ids_are_dropped(fake_time: FakeTime) -> None:
    # The upstream docs use ids like "EpTxMJ40fUus7aGY": neither hex nor a 16-byte base64 id.
    prom = Prom(fixture_bytes("prometheus", "api_v1_query_exemplars.docs.json"))
    assert await source(prom, fake_time).query_exemplars("test_exemplar_metric_total", WINDOW) == []


async def test_query_range_real_matrix(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "prometheus_api_v1_query_range_matrix.json"))
    (series,) = await source(prom, fake_time).query_range("demo_queue_depth", WINDOW, 2.0)
    assert series.name == "demo_queue_depth"
    assert series.query == "demo_queue_depth"
    assert series.service == "checkout"
    assert series.points[0] == pytest.approx((1795278773.988, 10.0))
    assert len(series.points) == 4
    assert series.evidence_id.startswith("metric:")
    params = prom.requests[0].url.params
    assert params["step"] == "2"
    assert prom.requests[0].url.path == "/api/v1/query_range"


async def test_query_range_codec_and_docs_matrices(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "codec_matrix.json"))
    found = await source(prom, fake_time).query_range("foo or bar", WINDOW, 15)
    assert [(s.name, s.points) for s in found] == [("foo", [(1.0, 1.0)]), ("bar", [(2.0, 2.0)])]
    docs = Prom(fixture_bytes("prometheus", "api_v1_query_range_matrix_up.docs.json"))
    up = await source(docs, fake_time).query_range("up", WINDOW, 15)
    assert {s.labels["job"] for s in up} == {"prometheus", "node"}
    assert sorted(v for s in up for _, v in s.points) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]


async def test_query_range_nan_and_inf_values(fake_time: FakeTime) -> None:
    raw = fixture_json("prometheus", "prometheus_api_v1_query_range_matrix.json")
    raw["data"]["result"][0]["values"][1][1] = "NaN"
    raw["data"]["result"][0]["values"][2][1] = "+Inf"
    raw["data"]["result"][0]["values"][3][1] = "-Inf"
    (series,) = await source(Prom(json.dumps(raw).encode()), fake_time).query_range("q", WINDOW, 2)
    values = [v for _, v in series.points]
    assert values[0] == 10.0
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf]


async def test_native_histogram_samples_are_skipped(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "codec_matrix_native_histogram.json"))
    (series,) = await source(prom, fake_time).query_range("foo", WINDOW, 15)
    assert series.points == []


async def test_step_is_raised_to_stay_under_11000_points(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "codec_matrix.json"))
    day = TimeWindow(start=WINDOW.start, end=WINDOW.start.replace(day=22))
    await source(prom, fake_time).query_range("foo", day, 1.0)
    assert float(prom.requests[0].url.params["step"]) >= 86400 / 11000


async def test_query_range_vector_result_is_bad_response(fake_time: FakeTime) -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}})
    with pytest.raises(BackendBadResponse, match="matrix"):
        await source(Prom(body.encode()), fake_time).query_range("up", WINDOW, 15)


async def test_rule_expr_by_alertname(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "prometheus_api_v1_rules.json"))
    src = source(prom, fake_time)
    assert await src.alert_rule_expr("DemoQueueBacklog") == "demo_queue_depth > 5"
    assert await src.alert_rule_expr("Nope") is None
    assert prom.requests[0].url.params["type"] == "alert"


async def test_rule_expr_ignores_recording_rules(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "api_v1_rules.docs.json"))
    src = source(prom, fake_time)
    assert await src.alert_rule_expr("HighRequestLatency") == (
        'job:request_latency_seconds:mean5m{job="myjob"} > 0.5'
    )
    assert await src.alert_rule_expr("job:http_inprogress_requests:sum") is None


async def test_bad_data_400_is_rejected(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "prometheus_api_v1_query_error_bad_data.json"), 400)
    with pytest.raises(BackendRejected, match="bad_data"):
        await source(prom, fake_time).query_range("rate(x", WINDOW, 15)
    assert len(prom.requests) == 1


async def test_error_envelope_with_200_is_rejected(fake_time: FakeTime) -> None:
    raw = fixture_json("prometheus", "prometheus_api_v1_query_error_bad_data.json")
    with pytest.raises(BackendRejected, match="unclosed left parenthesis"):
        await source(Prom(json.dumps(raw).encode()), fake_time).query_exemplars("x", WINDOW)


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"<!DOCTYPE html><html><title>Login</title></html>", "text/html; charset=utf-8"),
        (fixture_bytes("prometheus", "prometheus_query_exemplars.json")[:200], "application/json"),
        (b"[1, 2]", "application/json"),
    ],
)
async def test_garbage_is_bad_response(fake_time: FakeTime, body: bytes, ctype: str) -> None:
    with pytest.raises(BackendBadResponse):
        await source(Prom(body, ctype=ctype), fake_time).query_exemplars("x", WINDOW)


async def test_tenant_header_for_mimir(fake_time: FakeTime) -> None:
    prom = Prom(fixture_bytes("prometheus", "codec_matrix.json"))
    await source(prom, fake_time, tenant="team-a").query_range("foo", WINDOW, 15)
    assert prom.requests[0].headers["X-Scope-OrgID"] == "team-a"


@pytest.mark.parametrize(
    ("after_end", "requests"),
    [
        (timedelta(minutes=5), 2),  # settled: the second ask is a cache hit; after the TTL, asked
        (timedelta(seconds=10), 3),  # still open (samples may land): asked every time
    ],
)
async def test_settled_range_queries_are_shared_for_the_cache_ttl(
    fake_time: FakeTime, after_end: timedelta, requests: int
) -> None:
    prom = Prom(fixture_bytes("prometheus", "prometheus_api_v1_query_range_matrix.json"))
    cfg = PrometheusSettings(url="http://prom.test", retries=0, past_query_cache_seconds=30.0)
    client = httpx.AsyncClient(base_url="http://prom.test", transport=httpx.MockTransport(prom))
    http = BackendClient(
        "prometheus",
        client,
        cfg,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        wall_clock=lambda: WINDOW.end + after_end,
    )
    src = PrometheusSource(client, cfg, http=http)
    first = await src.query_range("demo_queue_depth", WINDOW, 2.0)
    assert await src.query_range("demo_queue_depth", WINDOW, 2.0) == first
    fake_time.now += 31.0
    await src.query_range("demo_queue_depth", WINDOW, 2.0)
    assert len(prom.requests) == requests
