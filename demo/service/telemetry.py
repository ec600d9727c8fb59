"""Tracing: one SDK TracerProvider per deployed version, exported over OTLP/HTTP.

The resource (``service.name``, ``service.version``, ``vcs.ref.head.revision``,
``deployment.environment.name``) is fixed per provider, so a deploy builds a new provider and
retires the old one. ``http/json`` is encoded here (OTLP JSON: hex ids, integer enums, 64-bit
integers as strings); ``http/protobuf`` uses the upstream exporter.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode, Tracer

log = logging.getLogger("demo.service.telemetry")

_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_STATUS = {StatusCode.UNSET: 0, StatusCode.OK: 1, StatusCode.ERROR: 2}


def _any_value(value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _attributes(attrs: Mapping[str, object] | None) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attrs or {}).items()]


def _span_json(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    out: dict[str, Any] = {
        "traceId": format(ctx.trace_id, "032x"),
        "spanId": format(ctx.span_id, "016x"),
        "name": span.name,
        "kind": _KIND.get(span.kind, 1),
        "startTimeUnixNano": str(span.start_time or 0),
        "endTimeUnixNano": str(span.end_time or 0),
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "timeUnixNano": str(e.timestamp),
                "name": e.name,
                "attributes": _attributes(e.attributes),
            }
            for e in span.events
        ],
        "status": {"code": _STATUS[span.status.status_code]},
    }
    if span.parent is not None:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    if span.status.description:
        out["status"]["message"] = span.status.description
    return out


def encode_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """An OTLP ``ExportTraceServiceRequest`` in the OTLP/HTTP JSON mapping."""
    by_resource: dict[int, tuple[Resource, list[ReadableSpan]]] = {}
    for span in spans:
        by_resource.setdefault(id(span.resource), (span.resource, []))[1].append(span)
    resource_spans = []
    for resource, group in by_resource.values():
        scope = group[0].instrumentation_scope
        resource_spans.append(
            {
                "resource": {"attributes": _attributes(dict(resource.attributes))},
                "scopeSpans": [
                    {
                        "scope": {"name": scope.name if scope else "demo.service"},
                        "spans": [_span_json(s) for s in group],
                    }
                ],
            }
        )
    return {"resourceSpans": resource_spans}


class OtlpJsonExporter(SpanExporter):
    """POSTs OTLP/HTTP JSON to ``endpoint`` (the full ``…/v1/traces`` URL)."""

    def __init__(self, endpoint: str, timeout_seconds: float = 5.0) -> None:
        self._endpoint = endpoint
        self._timeout = timeout_seconds

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = json.dumps(encode_otlp_json(spans)).encode()
        req = urllib.request.Request(  # noqa: S310 - configured http(s) endpoint
            self._endpoint, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310
                resp.read()
        except (urllib.error.URLError, OSError) as exc:
            log.warning("OTLP JSON export to %s failed: %s", self._endpoint, exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def traces_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def make_exporter(endpoint: str, protocol: str) -> SpanExporter:
    url = traces_url(endpoint)
    if protocol == "http/json":
        return OtlpJsonExporter(url)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=url)


def resource_for(service: str, version: str, commit: str, environment: str) -> Resource:
    return Resource.create(
        {
            "service.name": service,
            "service.namespace": "shop",
            "service.version": version,
            "vcs.ref.head.revision": commit,
            "deployment.environment.name": environment,
        }
    )


class Tracing:
    """Holds the current provider; ``redeploy`` swaps in one with the new version's resource."""

    def __init__(self, endpoint: str | None, protocol: str) -> None:
        self._endpoint = endpoint
        self._protocol = protocol
        self._provider: TracerProvider | None = None

    def redeploy(self, service: str, version: str, commit: str, environment: str) -> None:
        provider = TracerProvider(resource=resource_for(service, version, commit, environment))
        if self._endpoint:
            exporter = make_exporter(self._endpoint, self._protocol)
            provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        old, self._provider = self._provider, provider
        if old is not None:
            old.shutdown()  # flushes the previous version's spans

    def tracer(self) -> Tracer:
        if self._provider is None:
            raise RuntimeError("Tracing.redeploy() must run before spans are made")
        return self._provider.get_tracer("demo.service")

    def flush(self) -> None:
        if self._provider is not None:
            self._provider.force_flush()

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
