"""evidence.traces.analyze: error origin, critical path self time, edges, flags, versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from correlator.evidence.traces import analyze
from correlator.models import (
    Attributes,
    Resource,
    Span,
    SpanEvent,
    SpanKind,
    SpanStatus,
    Trace,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TID = "0af7651916cd43dd8448eb211c80319c"


def ms(n: float) -> datetime:
    return T0 + timedelta(milliseconds=n)


def span(
    sid: str,
    parent: str | None,
    service: str,
    start: float,
    end: float,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    error: bool = False,
    attrs: Attributes | None = None,
    events: list[SpanEvent] | None = None,
    version: str | None = None,
    commit: str | None = None,
) -> Span:
    return Span(
        trace_id=TID,
        span_id=sid.rjust(16, "0"),
        parent_span_id=parent.rjust(16, "0") if parent else None,
        name=f"{service}-{sid}",
        kind=kind,
        start=ms(start),
        end=ms(end),
        status=SpanStatus.ERROR if error else SpanStatus.UNSET,
        attributes=attrs or {},
        events=events or [],
        resource=Resource(service=service, version=version, commit=commit),
    )


def sid(s: str) -> str:
    return s.rjust(16, "0")


def checkout_trace() -> Trace:
    flag_new = SpanEvent(
        name="feature_flag.evaluation",
        time=ms(25),
        attributes={
            "feature_flag.key": "cartFailure",
            "feature_flag.result.variant": "on",
            "feature_flag.provider.name": "flagd",
        },
    )
    flag_old = SpanEvent(
        name="feature_flag",
        time=ms(11),
        attributes={
            "feature_flag.key": "adsSlow",
            "feature_flag.variant": "off",
            "feature_flag.provider_name": "flagd-old",
        },
    )
    exc = SpanEvent(
        name="exception",
        time=ms(799),
        attributes={"exception.type": "RedisTimeout", "exception.message": "timed out"},
    )
    return Trace(
        trace_id=TID,
        spans=[
            span("a1", None, "frontend", 0, 1000, kind=SpanKind.SERVER, version="1.0"),
            span("a2", "a1", "frontend", 10, 900, kind=SpanKind.CLIENT, events=[flag_old]),
            span("b1", "a2", "cart", 20, 890, kind=SpanKind.SERVER, error=True,
                 events=[flag_new], version="2.1", commit="abc"),
            span("b2", "b1", "cart", 30, 800, kind=SpanKind.CLIENT, error=True,
                 attrs={"peer.service": "redis", "db.statement": "HGET cart:1"},
                 events=[exc], version="2.1", commit="abc"),
            span("b3", "b1", "cart", 31, 32, version="2.0", commit="abc"),
            span("a3", "a1", "frontend", 100, 200, kind=SpanKind.CLIENT),
            span("c1", "a3", "ads", 110, 190, kind=SpanKind.SERVER,
                 attrs={"db.query.text": "SELECT * FROM ads"}),
        ],
    )  # fmt: skip


def test_error_origin_is_the_deepest_error_without_error_children() -> None:
    a = analyze(checkout_trace())
    assert a.error_span_ids == [sid("b1"), sid("b2")]
    assert a.root_error_span_id == sid("b2")
    assert a.root_error_service == "cart"
    assert a.root_service == "frontend"
    assert a.root_span_name == "frontend-a1"
    assert a.duration_ms == pytest.approx(1000.0)


def test_critical_path_and_self_time() -> None:
    a = analyze(checkout_trace())
    assert a.critical_path == [sid("a1"), sid("a2"), sid("b1"), sid("b2")]
    # frontend: 100 + 10 (root) + 10 + 10 (client); cart: 90 + 10 (server) + 770 (redis call)
    assert a.self_time_ms == {"cart": pytest.approx(870.0), "frontend": pytest.approx(130.0)}
    assert sum(a.self_time_ms.values()) == pytest.approx(1000.0)


def test_service_edges_include_uninstrumented_peers() -> None:
    edges = {(e.caller, e.callee): (e.calls, e.errors) for e in analyze(checkout_trace()).edges}
    assert edges == {
        ("frontend", "cart"): (1, 1),
        ("frontend", "ads"): (1, 0),
        ("cart", "redis"): (1, 1),
    }


def test_versions_commits_flags_db_and_exceptions() -> None:
    a = analyze(checkout_trace())
    assert a.versions == {"cart": "2.1", "frontend": "1.0"}  # majority of cart spans
    assert a.commits == {"cart": "abc"}
    flags = {(f.key, f.variant, f.provider, f.service, f.span_id) for f in a.flags}
    assert flags == {
        ("cartFailure", "on", "flagd", "cart", sid("b1")),
        ("adsSlow", "off", "flagd-old", "frontend", sid("a2")),
    }
    assert a.db_statements == ["HGET cart:1", "SELECT * FROM ads"]
    assert a.exceptions == ["RedisTimeout: timed out"]


def test_error_tie_break_is_deterministic() -> None:
    spans = [
        span("01", None, "gw", 0, 100, error=True),
        span("0c", "01", "svc", 10, 20, error=True),
        span("0b", "01", "svc", 10, 30, error=True),
        span("0a", "01", "svc", 5, 30, error=True),
    ]
    assert analyze(Trace(trace_id=TID, spans=spans)).root_error_span_id == sid("0a")
    assert analyze(Trace(trace_id=TID, spans=spans[:3])).root_error_span_id == sid("0b")
    assert analyze(Trace(trace_id=TID, spans=list(reversed(spans[:3])))).root_error_span_id == (
        sid("0b")
    )


def test_concurrent_children_only_the_blocking_one_is_critical() -> None:
    spans = [
        span("1", None, "api", 0, 100),
        span("2", "1", "db", 10, 90),
        span("3", "1", "cache", 20, 40),  # entirely overlapped by the db call
    ]
    a = analyze(Trace(trace_id=TID, spans=spans))
    assert a.critical_path == [sid("1"), sid("2")]
    assert a.self_time_ms == {"api": pytest.approx(20.0), "db": pytest.approx(80.0)}


def test_missing_parents_cycles_and_empty_traces_do_not_crash() -> None:
    assert analyze(Trace(trace_id=TID)).critical_path == []
    orphans = [span("2", "ff", "b", 5, 10), span("3", "fe", "c", 1, 4)]
    assert analyze(Trace(trace_id=TID, spans=orphans)).root_service == "c"
    cycle = [span("1", "2", "a", 0, 10, error=True), span("2", "1", "b", 1, 9, error=True)]
    a = analyze(Trace(trace_id=TID, spans=cycle))
    assert a.root_error_span_id in {sid("1"), sid("2")}
    assert len(a.critical_path) <= 2


def test_deep_traces_are_bounded() -> None:
    spans = [span("1", None, "s0", 0, 10_000)]
    for i in range(2, 1500):
        spans.append(span(f"{i:x}", f"{i - 1:x}", f"s{i % 3}", i, 10_000 - i, error=i == 1499))
    a = analyze(Trace(trace_id=TID, spans=spans))
    assert a.root_error_span_id == sid(f"{1499:x}")
    assert len(a.critical_path) <= 300


@pytest.mark.parametrize(
    ("attrs", "failed"),
    [
        ({"error": True}, True),  # OpenTracing / Jaeger client tag
        ({"error": "true"}, True),  # Zipkin string tag
        ({"error.type": "java.net.SocketTimeoutException"}, True),  # OTel semconv
        ({"http.status_code": 503}, True),  # OTel before semconv 1.23
        ({"http.response.status_code": "500"}, True),
        ({"rpc.grpc.status_code": 14}, True),  # UNAVAILABLE
        ({"http.status_code": 404}, False),
        ({"rpc.grpc.status_code": 5}, False),  # NOT_FOUND: the client's
        ({"error": False}, False),
        ({}, False),
    ],
)
def test_an_unset_status_is_judged_by_the_attributes(attrs: Attributes, failed: bool) -> None:
    assert span("1", None, "cart", 0, 10, kind=SpanKind.SERVER, attrs=attrs).is_error is failed


def test_status_set_by_the_instrumentation_wins_over_attributes() -> None:
    ok = span("1", None, "cart", 0, 10, attrs={"http.status_code": 503})
    assert ok.model_copy(update={"status": SpanStatus.OK}).is_error is False


def test_error_origin_found_from_http_status_when_no_status_is_set() -> None:
    """Jaeger/Zipkin-instrumented services leave the status unset and tag the HTTP code."""
    tr = Trace(
        trace_id=TID,
        spans=[
            span(
                "1", None, "frontend", 0, 100, kind=SpanKind.SERVER, attrs={"http.status_code": 500}
            ),
            span("2", "1", "frontend", 5, 90, kind=SpanKind.CLIENT, attrs={"error": "true"}),
            span("3", "2", "cart", 10, 80, kind=SpanKind.SERVER, attrs={"http.status_code": 500}),
        ],
    )
    assert analyze(tr).root_error_span_id == sid("3")
