"""In-memory data of the simulator: traces, log entries, exemplars, annotations (+ pushes)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from correlator.lab.scenarios import Scenario
from correlator.lab.simulator.logql import Entry
from correlator.lab.simulator.traceql import SpanView
from correlator.wire.openmetrics import OMExemplar, parse_exemplars
from correlator.wire.otlp import parse_attributes, resource_spans

_KINDS = [
    f"SPAN_KIND_{k}"
    for k in ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
]
_STATUS = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]
_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass
class StoredTrace:
    trace_id: str  # 32 lowercase hex
    batches: list[dict[str, Any]]  # Tempo jsonpb resourceSpans (base64 ids, enum names)
    # a stored Tempo v2 partial response keeps its ``status``/``message`` (served on v2)
    v2_extra: dict[str, Any] = field(default_factory=dict)

    def spans(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(span, resource attributes) pairs."""
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for rs in self.batches:
            res = parse_attributes(rs.get("resource", {}).get("attributes"))
            for ss in rs.get("scopeSpans", []):
                out.extend((span, res) for span in ss.get("spans", []))
        return out

    def views(self) -> list[tuple[dict[str, Any], SpanView]]:
        out = []
        for span, res in self.spans():
            kind = span.get("kind", "SPAN_KIND_UNSPECIFIED").removeprefix("SPAN_KIND_").lower()
            status = span.get("status", {}) or {}
            code = status.get("code", "STATUS_CODE_UNSET").removeprefix("STATUS_CODE_").lower()
            start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
            view = SpanView(
                span.get("name", ""),
                kind,
                code,
                status.get("message", ""),
                end - start,
                parse_attributes(span.get("attributes")),
                res,
            )
            out.append((span, view))
        return out

    def bounds(self) -> tuple[int, int]:
        starts = [int(s["startTimeUnixNano"]) for s, _ in self.spans()]
        ends = [int(s["endTimeUnixNano"]) for s, _ in self.spans()]
        return min(starts), max(ends)

    def root(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for span, res in self.spans():
            if not span.get("parentSpanId"):
                return span, res
        return None


def _otlp_id(value: str) -> str:
    """OTLP JSON ids are hex; re-encode to the base64 Tempo returns."""
    if _HEX.match(value) and len(value) in (16, 32):
        return base64.b64encode(bytes.fromhex(value)).decode()
    return value


def _enum(value: Any, names: list[str], prefix: str) -> str:
    if isinstance(value, int):
        return names[value] if 0 <= value < len(names) else names[0]
    return str(value) if str(value).startswith(prefix) else f"{prefix}{value}"


def _jsonpb_attrs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for a in items:
        v = dict(a.get("value", {}))
        if "intValue" in v:
            v["intValue"] = str(v["intValue"])
        out.append({"key": a["key"], "value": v})
    return out


def otlp_to_tempo(resource_spans: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Convert an OTLP/HTTP JSON push into Tempo jsonpb batches, grouped by trace id (hex)."""
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for rs in resource_spans:
        resource = {"attributes": _jsonpb_attrs(rs.get("resource", {}).get("attributes", []))}
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                tid = span["traceId"].lower()
                out = {k: v for k, v in span.items() if v not in (None, "", [], {})}
                out["traceId"] = _otlp_id(span["traceId"])
                out["spanId"] = _otlp_id(span["spanId"])
                if span.get("parentSpanId"):
                    out["parentSpanId"] = _otlp_id(span["parentSpanId"])
                out["kind"] = _enum(span.get("kind", 0), _KINDS, "SPAN_KIND_")
                for k in ("startTimeUnixNano", "endTimeUnixNano"):
                    out[k] = str(span[k])
                if span.get("attributes"):
                    out["attributes"] = _jsonpb_attrs(span["attributes"])
                status = dict(span.get("status") or {})
                if "code" in status:
                    status["code"] = _enum(status["code"], _STATUS, "STATUS_CODE_")
                if status.get("code") == "STATUS_CODE_UNSET":
                    status.pop("code")
                out["status"] = status
                scope = {k: v for k, v in ss.get("scope", {}).items() if k in ("name", "version")}
                batch = {"resource": resource, "scopeSpans": [{"scope": scope, "spans": [out]}]}
                by_trace.setdefault(tid, []).append(batch)
    return by_trace


@dataclass
class Data:
    traces: dict[str, StoredTrace] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    exemplars: list[OMExemplar] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_scenario(cls, s: Scenario) -> Data:
        data = cls(exemplars=parse_exemplars(s.metrics_text), annotations=list(s.annotations))
        for tid, body in s.traces.items():
            extra: dict[str, Any] = {
                k: body[k] for k in ("status", "message") if "trace" in body and k in body
            }
            data.traces[tid] = StoredTrace(tid, resource_spans(body), extra)
        meta_keys = set(s.meta.loki.structured_metadata)
        for stream in s.logs.get("data", {}).get("result", []):
            labels = dict(stream.get("stream", {}))
            for value in stream.get("values", []):
                if len(value) > 2 and isinstance(value[2], dict):
                    meta = dict(value[2].get("structuredMetadata", {}))
                    data.entries.append(Entry(int(value[0]), value[1], labels, meta))
                else:
                    idx = {k: v for k, v in labels.items() if k not in meta_keys}
                    meta = {k: v for k, v in labels.items() if k in meta_keys}
                    data.entries.append(Entry(int(value[0]), value[1], idx, meta))
        return data

    def push_traces(self, body: dict[str, Any]) -> int:
        pushed = otlp_to_tempo(body.get("resourceSpans", []))
        for tid, batches in pushed.items():
            tid = tid.rjust(32, "0")
            if tid in self.traces:
                self.traces[tid].batches.extend(batches)
            else:
                self.traces[tid] = StoredTrace(tid, batches)
        return len(pushed)

    def push_logs(self, body: dict[str, Any]) -> int:
        n = 0
        for stream in body.get("streams", []):
            labels = {str(k): str(v) for k, v in stream.get("stream", {}).items()}
            for value in stream.get("values", []):
                meta = value[2] if len(value) > 2 and isinstance(value[2], dict) else {}
                self.entries.append(Entry(int(value[0]), str(value[1]), labels, dict(meta)))
                n += 1
        return n
