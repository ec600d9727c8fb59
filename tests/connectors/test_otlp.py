"""correlator/wire/otlp.py against real Tempo/OTLP trace JSON (ids, ints-as-strings, enums)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from correlator.models import SpanKind, SpanStatus
from correlator.wire.ids import trace_id_to_base64
from correlator.wire.otlp import OtlpFormatError, any_value, parse_resource, parse_trace
from tests.connectors.support import fixture_json

PUSHED = "5b8efff798038103d269b633813fc700"


def test_v2_response_base64_ids_decode_to_the_pushed_hex() -> None:
    trace = parse_trace(fixture_json("tempo", "api_v2_traces_by_id_response.docs-capture.json"))
    assert trace.trace_id == PUSHED
    (span,) = trace.spans
    assert span.trace_id == PUSHED
    assert span.span_id == "eee19b7ec3c1b100"
    assert span.parent_span_id is None
    assert span.kind is SpanKind.SERVER
    assert span.status is SpanStatus.UNSET  # "status": {} -> zero value omitted
    assert span.service == "my.service"
    assert span.start == datetime(2023, 7, 21, 19, 55, 2, tzinfo=UTC)
    assert span.duration_ms == pytest.approx(698_000_000 / 1000)
    assert span.attributes == {"my.span.attr": "some value"}


def test_ingest_json_hex_ids_and_numeric_kind_and_numeric_times() -> None:
    trace = parse_trace(fixture_json("tempo", "otlp_http_v1_traces_push_request.docs.json"))
    (span,) = trace.spans
    assert span.trace_id == PUSHED  # uppercase hex: read as hex, never base64-decoded
    assert span.span_id == "eee19b7ec3c1b100"
    assert span.kind is SpanKind.SERVER


def test_v1_batches_with_hex_ids_are_not_base64_garbage() -> None:
    trace = parse_trace(fixture_json("tempo", "tempopb_trace_v1_batches_hexids.json"))
    (span,) = trace.spans
    assert span.trace_id == "5b8efff798038103d269b633813fc60c"
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.kind is SpanKind.SERVER


def test_jsonpb_vulture_trace_int64_strings_events_and_k8s_resource() -> None:
    trace = parse_trace(fixture_json("tempo", "tempopb_trace_jsonpb_base64ids.tempo-vulture.json"))
    assert trace.trace_id == "3149195ffb0bec05347b48efe8ecc1b0"
    assert len(trace.spans) == 6
    by_id = {s.span_id: s for s in trace.spans}
    root = by_id["4b23de25d1fb6641"]
    assert root.attributes["http.status_code"] == 110
    assert root.attributes["vulture-int-01"] == 581134
    assert len(root.events) == 4
    assert root.events[0].attributes["vulture-event-int-01"] == 424354
    assert by_id["3ef58fd67f3c3c44"].parent_span_id == "4b23de25d1fb6641"
    res = root.resource
    assert res.service == "tempo-vulture"
    assert res.namespace == "HVriuVNxpcDkLTvH"
    assert res.k8s_pod == "XkqgWWT"
    assert res.attributes["vulture-process-int-01"] == 164005


def test_servicegraph_enum_names() -> None:
    trace = parse_trace(
        fixture_json("tempo", "otlp_trace_base64ids_enumnames.servicegraphs-testdata.json")
    )
    kinds = {s.name: (s.kind, s.status, s.service) for s in trace.spans}
    assert kinds["requester"] == (SpanKind.SERVER, SpanStatus.OK, "mythical-server")
    assert kinds["HTTP GET /ready"][0] is SpanKind.CLIENT
    assert kinds["Consumed"][0] is SpanKind.CONSUMER


def _doc(resource_attrs: list[dict[str, object]], span: dict[str, object]) -> dict[str, object]:
    base: dict[str, object] = {
        "traceId": trace_id_to_base64(PUSHED),
        "spanId": "7uGbfsPBsQA=",
        "name": "s",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
    }
    base.update(span)
    return {
        "trace": {
            "resourceSpans": [
                {"resource": {"attributes": resource_attrs}, "scopeSpans": [{"spans": [base]}]}
            ]
        }
    }


def _kv(key: str, value: object) -> dict[str, object]:
    return {"key": key, "value": {"stringValue": value}}


@pytest.mark.parametrize(
    ("attrs", "commit", "env"),
    [
        ([_kv("vcs.ref.head.revision", "abc123"), _kv("deployment.environment.name", "prod")],
         "abc123", "prod"),
        ([_kv("vcs.repository.ref.revision", "def456"), _kv("deployment.environment", "stage")],
         "def456", "stage"),
        ([_kv("vcs.ref.head.revision", "new"), _kv("vcs.repository.ref.revision", "old")],
         "new", None),
    ],
)  # fmt: skip
def test_semconv_renames_fold_into_resource(
    attrs: list[dict[str, object]], commit: str, env: str | None
) -> None:
    res = parse_resource([_kv("service.name", "cart"), _kv("service.version", "1.2.3"), *attrs])
    assert (res.service, res.version, res.commit, res.environment) == ("cart", "1.2.3", commit, env)


def _array(*values: dict[str, object]) -> dict[str, object]:
    return {"arrayValue": {"values": list(values)}}


def test_integer_enums_status_message_and_any_values() -> None:
    span = {
        "kind": 3,
        "status": {"code": 2, "message": "boom"},
        "parentSpanId": "",
        "attributes": [
            {"key": "d", "value": {"doubleValue": 1.5}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "b", "value": {"boolValue": True}},
            {"key": "i", "value": {"intValue": "9007199254740993"}},
            {"key": "arr", "value": _array({"intValue": "1"}, {"intValue": 2})},
            {"key": "mixed", "value": _array({"intValue": "1"}, {"stringValue": "x"})},
            {"key": "empty", "value": {}},
        ],
    }  # fmt: skip
    (s,) = parse_trace(_doc([], span)).spans
    assert s.kind is SpanKind.CLIENT
    assert s.status is SpanStatus.ERROR
    assert s.status_message == "boom"
    assert s.parent_span_id is None
    assert s.service == "unknown"
    assert s.attributes["d"] == 1.5
    assert math.isnan(float(s.attributes["nan"]))  # type: ignore[arg-type]
    assert s.attributes["b"] is True
    assert s.attributes["i"] == 9007199254740993  # int64 kept exact (jsonpb string)
    assert s.attributes["arr"] == [1, 2]
    assert s.attributes["mixed"] == ["1", "x"]
    assert "empty" not in s.attributes


def test_events_without_name_or_time_and_spans_without_ids() -> None:
    doc = _doc([], {"events": [{"attributes": [_kv("k", "v")]}]})
    spans = doc["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"]  # type: ignore[index]
    spans.append({"name": "no id"})
    (s,) = parse_trace(doc).spans
    assert s.events[0].name == ""
    assert s.events[0].time == s.start


@pytest.mark.parametrize("doc", [{}, {"trace": {}}, {"trace": None}, {"batches": None}])
def test_empty_documents_have_no_spans(doc: object) -> None:
    assert parse_trace(doc).spans == []


@pytest.mark.parametrize(
    "doc", [[], "x", {"traces": []}, {"resourceSpans": {"a": 1}}, {"trace": "nope"}]
)
def test_non_otlp_documents_raise(doc: object) -> None:
    with pytest.raises(OtlpFormatError):
        parse_trace(doc)


def test_any_value_ignores_garbage() -> None:
    assert any_value(None) is None
    assert any_value({"intValue": "not-a-number"}) is None
    assert any_value({"kvlistValue": {"values": [_kv("a", "b")]}}) == ["a=b"]
