"""connectors/loki.py through httpx.MockTransport: both response encodings, ids, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors._http import BackendClient
from connectors.loki import LokiSource, from_nanos, to_nanos
from correlator.errors import BackendBadResponse, BackendRejected
from correlator.models import TimeWindow
from correlator.settings import LokiSettings
from tests.connectors.support import FakeTime, fixture_bytes, fixture_json

WINDOW = TimeWindow(
    start=datetime(2022, 2, 16, 16, 50, 0, 123456, tzinfo=UTC),
    end=datetime(2022, 2, 16, 16, 51, tzinfo=UTC),
)
TRACE = "0af7651916cd43dd8448eb211c80319c"


class Loki:
    def __init__(self, body: bytes, status: int = 200) -> None:
        self.body = body
        self.status = status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(
            self.status, content=self.body, headers={"content-type": "application/json"}
        )


def source(loki: Loki, fake_time: FakeTime, **settings: Any) -> LokiSource:
    cfg = LokiSettings(url="http://loki.test", retries=0, **settings)
    client = httpx.AsyncClient(base_url="http://loki.test", transport=httpx.MockTransport(loki))
    http = BackendClient("loki", client, cfg, clock=fake_time.clock, sleep=fake_time.sleep)
    return LokiSource(client, cfg, http=http)


async def test_default_encoding_real_payload(fake_time: FakeTime) -> None:
    loki = Loki(fixture_bytes("loki", "streams_simple.json"))
    lines = await source(loki, fake_time, categorize_labels=False).query_range(
        '{location="moon🌙"}', WINDOW, 100
    )
    assert [ln.line for ln in lines] == [
        "log line info 4",
        "log line error 1",
        "log line info 3",
        "log line info 2",
        "log line info 2",
        "log line info 1",
    ]
    assert lines[1].labels == {"code": 'one",', "location": "moon🌙"}
    assert lines[1].timestamp == datetime(2022, 2, 16, 16, 50, 44, 810757, tzinfo=UTC)
    assert lines[1].metadata == {}
    assert "X-Loki-Response-Encoding-Flags" not in loki.requests[0].headers


async def test_categorize_labels_real_payload_and_header(fake_time: FakeTime) -> None:
    loki = Loki(fixture_bytes("loki", "streams_structured_metadata.json"))
    lines = await source(loki, fake_time).query_range('{location="moon🌙"}', WINDOW, 100)
    assert len(lines) == 6
    assert lines[0].labels == {"code": '",two', "location": "moon🌙"}
    assert loki.requests[0].headers["X-Loki-Response-Encoding-Flags"] == "categorize-labels"


async def test_request_params(fake_time: FakeTime) -> None:
    loki = Loki(fixture_bytes("loki", "streams_simple.json"))
    await source(loki, fake_time).query_range('{job="x"} | trace_id="abc"', WINDOW, 50)
    params = loki.requests[0].url.params
    assert loki.requests[0].url.path == "/loki/api/v1/query_range"
    assert params["query"] == '{job="x"} | trace_id="abc"'
    assert params["start"] == "1645030200123456000"
    assert params["end"] == "1645030260000001000"  # end is exclusive upstream: +1 us
    assert params["limit"] == "50"
    assert params["direction"] == "backward"


def _with_metadata(categorized: bool) -> bytes:
    """The real categorize-labels payload, with OTLP-style metadata on the first line."""
    doc = fixture_json("loki", "streams_structured_metadata.json")
    first = doc["data"]["result"][0]
    meta = {"trace_id": TRACE, "span_id": "00f067aa0ba902b7", "service_name": "cart"}
    parsed = {"detected_level": "ERROR"}
    if categorized:
        first["values"][0][2] = {"structuredMetadata": meta, "parsed": parsed}
    else:  # what Loki answers without the header: merged into the stream labels
        del doc["data"]["encodingFlags"]
        first["stream"].update(meta | parsed)
        for stream in doc["data"]["result"]:
            stream["values"] = [v[:2] for v in stream["values"]]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("categorized", [True, False])
async def test_trace_ids_service_and_level_in_both_encodings(
    fake_time: FakeTime, categorized: bool
) -> None:
    loki = Loki(_with_metadata(categorized))
    lines = await source(loki, fake_time, categorize_labels=categorized).query_range(
        "{}", WINDOW, 100
    )
    (hit,) = [ln for ln in lines if ln.line == "log line error 1"]
    assert hit.trace_id == TRACE
    assert hit.span_id == "00f067aa0ba902b7"
    assert hit.service == "cart"
    assert hit.level == "error"
    assert (hit.metadata.get("trace_id") == TRACE) is categorized
    others = [ln for ln in lines if ln is not hit]
    assert all(ln.trace_id is None for ln in others)


async def test_docs_example_stream_labels_give_service_and_level(fake_time: FakeTime) -> None:
    loki = Loki(fixture_bytes("loki", "api_v1_query_range_streams.docs.derived-strict.json"))
    lines = await source(loki, fake_time).query_range('{job="varlogs"}', WINDOW, 10)
    assert [ln.line for ln in lines] == ["bar", "foo"]
    assert {(ln.service, ln.level) for ln in lines} == {("varlogs", "info")}


async def test_verbatim_docs_example_with_placeholder_is_bad_response(fake_time: FakeTime) -> None:
    body = fixture_bytes(
        "loki", "api_v1_query_range_streams.docs.INVALID-stats-placeholder.json.txt"
    )
    with pytest.raises(BackendBadResponse):
        await source(Loki(body), fake_time).query_range("{}", WINDOW, 10)


async def test_limit_keeps_the_newest_lines(fake_time: FakeTime) -> None:
    loki = Loki(fixture_bytes("loki", "streams_simple.json"))
    lines = await source(loki, fake_time).query_range("{}", WINDOW, 2)
    assert [ln.line for ln in lines] == ["log line info 2", "log line info 1"]


async def test_metric_query_result_is_bad_response(fake_time: FakeTime) -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    with pytest.raises(BackendBadResponse, match="streams"):
        await source(Loki(json.dumps(body).encode()), fake_time).query_range(
            "rate({}[1m])", WINDOW, 10
        )


async def test_logql_parse_error_400_is_rejected(fake_time: FakeTime) -> None:
    loki = Loki(b"parse error at line 1, col 8: syntax error: unexpected IDENTIFIER", 400)
    with pytest.raises(BackendRejected, match="parse error"):
        await source(loki, fake_time).query_range("{job=x}", WINDOW, 10)
    assert len(loki.requests) == 1


def test_nanosecond_round_trip() -> None:
    t = datetime(2026, 11, 23, 10, 0, 0, 1, tzinfo=UTC)
    assert to_nanos(t) == "1795428000000001000"
    assert from_nanos(to_nanos(t)) == t
    assert from_nanos("garbage") is None
