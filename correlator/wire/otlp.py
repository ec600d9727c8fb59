"""OTLP JSON (as Tempo serves it) -> domain ``Trace``. Shared by connectors, pure, no I/O.

Accepts every shape Tempo and OTLP producers emit (REFERENCE.md §1, wire-formats.md §3.1):

* ``{"trace": {"resourceSpans": [...]}}`` (``/api/v2/traces``), ``{"batches": [...]}`` (v1),
  bare ``{"resourceSpans": [...]}``; ``scopeSpans`` or the pre-1.0 ``instrumentationLibrarySpans``;
* ids in base64 (Tempo's gogo jsonpb) or hex (OTLP JSON ingest), decided by ``correlator.wire.ids``;
* 64-bit integers as strings (``"startTimeUnixNano"``, ``"intValue"``) or numbers;
* enums as names (``SPAN_KIND_SERVER``, ``STATUS_CODE_ERROR``) or integers (``2``);
* zero-valued fields omitted (``"status": {}`` is UNSET, no ``parentSpanId`` is a root);
* semantic-convention renames folded into ``Resource`` (both spellings accepted).

Malformed spans (no usable span id) are skipped rather than failing the trace; a document that
is not OTLP at all raises ``OtlpFormatError`` (the connector maps it to ``BackendBadResponse``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from correlator.models import (
    Attributes,
    AttrValue,
    Resource,
    Span,
    SpanEvent,
    SpanKind,
    SpanStatus,
    Trace,
)
from correlator.wire.ids import try_normalize_span_id, try_normalize_trace_id

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SPANS = 20_000

_KINDS = [
    SpanKind.UNSPECIFIED,
    SpanKind.INTERNAL,
    SpanKind.SERVER,
    SpanKind.CLIENT,
    SpanKind.PRODUCER,
    SpanKind.CONSUMER,
]
_STATUSES = [SpanStatus.UNSET, SpanStatus.OK, SpanStatus.ERROR]

# Resource attribute -> Resource field, new semconv name first, then the deprecated one.
_RESOURCE_FIELDS: dict[str, tuple[str, ...]] = {
    "version": ("service.version",),
    "commit": ("vcs.ref.head.revision", "vcs.repository.ref.revision"),
    "environment": ("deployment.environment.name", "deployment.environment"),
    "namespace": ("k8s.namespace.name", "service.namespace"),
    "k8s_pod": ("k8s.pod.name",),
    "k8s_deployment": ("k8s.deployment.name",),
}


class OtlpFormatError(ValueError):
    """The document is not OTLP trace JSON in any shape we know."""


def parse_trace(doc: Any, *, trace_id: str | None = None, max_spans: int = MAX_SPANS) -> Trace:
    """A domain ``Trace`` from any Tempo/OTLP trace JSON document (see module docstring)."""
    spans: list[Span] = []
    for raw, resource in _raw_spans(resource_spans(doc)):
        span = _span(raw, resource)
        if span is not None:
            spans.append(span)
            if len(spans) >= max_spans:
                break
    tid = try_normalize_trace_id(trace_id) if trace_id else None
    if tid is None and spans:
        tid = spans[0].trace_id
    spans.sort(key=lambda s: (s.start, s.span_id))
    return Trace(trace_id=tid or "", spans=spans)


def _raw_spans(resource_spans: list[Any]) -> Iterator[tuple[Any, Resource]]:
    for rs in resource_spans:
        if not isinstance(rs, Mapping):
            continue
        resource = parse_resource(_dict(rs.get("resource")).get("attributes"))
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for scope in scopes if isinstance(scopes, list) else []:
            spans = _dict(scope).get("spans") or []
            for raw in spans if isinstance(spans, list) else []:
                yield raw, resource


def resource_spans(doc: Any) -> list[Any]:
    """The ``resourceSpans`` list of any trace document shape; ``OtlpFormatError`` if not OTLP."""
    if not isinstance(doc, Mapping):
        raise OtlpFormatError(f"trace document is {type(doc).__name__}, not an object")
    if "trace" in doc:
        inner = doc["trace"]
        if inner is None or inner == {}:
            return []
        return resource_spans(inner)
    for key in ("resourceSpans", "batches"):
        if key in doc:
            value = doc[key]
            if value is None:
                return []
            if not isinstance(value, list):
                raise OtlpFormatError(f"{key} is {type(value).__name__}, not a list")
            return value
    if not doc:
        return []
    raise OtlpFormatError(f"no resourceSpans/batches in trace document (keys: {sorted(doc)[:5]})")


def trace_ids_in(doc: Any) -> set[str]:
    """Every span's trace id as lowercase hex (``""`` for an undecodable one; none if not OTLP).

    Scenario validation and ``correlator record`` use it to check a body holds one trace.
    """
    try:
        spans = resource_spans(doc)
    except OtlpFormatError:
        return set()
    ids = (_id_text(_dict(raw).get("traceId")) for raw, _ in _raw_spans(spans))
    return {try_normalize_trace_id(raw) or "" for raw in ids}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_resource(raw_attributes: Any) -> Resource:
    """``Resource`` from OTLP resource attributes, folding semconv renames."""
    attrs = parse_attributes(raw_attributes)
    fields: dict[str, Any] = {"attributes": attrs}
    service = attrs.get("service.name")
    if isinstance(service, str) and service:
        fields["service"] = service
    for field, names in _RESOURCE_FIELDS.items():
        for name in names:
            value = attrs.get(name)
            if value is not None and value != "" and not isinstance(value, list):
                fields[field] = str(value)
                break
    return Resource(**fields)


def parse_attributes(raw: Any) -> Attributes:
    """OTLP ``[{"key": ..., "value": AnyValue}]`` -> flat dict (unknown value kinds dropped)."""
    out: Attributes = {}
    if not isinstance(raw, list):
        return out
    for kv in raw:
        if not isinstance(kv, Mapping) or not isinstance(kv.get("key"), str):
            continue
        value = any_value(kv.get("value"))
        if value is not None:
            out[kv["key"]] = value
    return out


def any_value(raw: Any) -> AttrValue | None:
    """Decode one OTLP ``AnyValue`` (jsonpb writes int64 as strings, doubles may be ``"NaN"``)."""
    if not isinstance(raw, Mapping):
        return None
    if "stringValue" in raw:
        return str(raw["stringValue"])
    if "boolValue" in raw:
        return raw["boolValue"] is True or str(raw["boolValue"]).lower() == "true"
    if "intValue" in raw:
        try:
            return int(raw["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in raw:
        try:
            return float(raw["doubleValue"])
        except (TypeError, ValueError):
            return None
    if "bytesValue" in raw:
        return str(raw["bytesValue"])
    if "arrayValue" in raw:
        return _array(_dict(raw["arrayValue"]).get("values"))
    if "kvlistValue" in raw:
        inner = parse_attributes(_dict(raw["kvlistValue"]).get("values"))
        return [f"{k}={v}" for k, v in inner.items()]
    return None


def _array(raw: Any) -> AttrValue | None:
    values = [any_value(v) for v in raw] if isinstance(raw, list) else []
    items = [v for v in values if v is not None and not isinstance(v, list)]
    kinds = {type(v) for v in items}
    if kinds == {bool}:
        return [bool(v) for v in items]
    if kinds == {int}:
        return [int(v) for v in items]
    if kinds <= {int, float} and items:
        return [float(v) for v in items]
    return [str(v) for v in items]


def nanos_to_datetime(raw: Any) -> datetime | None:
    """Unix nanoseconds (string or number) -> aware UTC datetime; ``None`` if absent/garbage."""
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    try:
        nanos = int(raw)
    except (TypeError, ValueError, OverflowError):
        try:
            nanos = int(float(raw))
        except (TypeError, ValueError, OverflowError):  # garbage, NaN, inf
            return None
    try:
        return EPOCH + timedelta(microseconds=nanos // 1000)
    except OverflowError:  # beyond year 9999
        return None


def _enum(raw: Any, prefix: str, names: Sequence[Any], default: Any) -> Any:
    if isinstance(raw, bool):
        return default
    if isinstance(raw, int):
        return names[raw] if 0 <= raw < len(names) else default
    if isinstance(raw, str):
        if raw.isdigit():
            return _enum(int(raw), prefix, names, default)
        short = raw.upper().removeprefix(prefix).lower()
        for member in names:
            if member.value == short:
                return member
    return default


def _span(raw: Any, resource: Resource) -> Span | None:
    if not isinstance(raw, Mapping):
        return None
    span_id = try_normalize_span_id(_id_text(raw.get("spanId")))
    trace_id = try_normalize_trace_id(_id_text(raw.get("traceId")))
    if span_id is None or trace_id is None:
        return None
    start = nanos_to_datetime(raw.get("startTimeUnixNano")) or EPOCH
    end = nanos_to_datetime(raw.get("endTimeUnixNano")) or start
    status = _dict(raw.get("status"))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=try_normalize_span_id(_id_text(raw.get("parentSpanId"))),
        name=str(raw.get("name") or ""),
        kind=_enum(raw.get("kind"), "SPAN_KIND_", _KINDS, SpanKind.UNSPECIFIED),
        start=start,
        end=max(start, end),
        status=_enum(status.get("code"), "STATUS_CODE_", _STATUSES, SpanStatus.UNSET),
        status_message=str(status.get("message") or ""),
        attributes=parse_attributes(raw.get("attributes")),
        events=[_event(e, start) for e in _items(raw.get("events")) if isinstance(e, Mapping)],
        resource=resource,
    )


def _id_text(raw: Any) -> str | None:
    """Ids are strings; tolerate a list of byte values (some hand-written OTLP JSON)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and raw and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        return base64.b64encode(bytes(raw)).decode("ascii")
    return None


def _event(raw: Mapping[str, Any], fallback: datetime) -> SpanEvent:
    return SpanEvent(
        name=str(raw.get("name") or ""),
        time=nanos_to_datetime(raw.get("timeUnixNano")) or fallback,
        attributes=parse_attributes(raw.get("attributes")),
    )
