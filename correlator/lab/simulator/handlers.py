"""Pure response builders in the upstream wire shapes (Tempo, Loki, Grafana)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from correlator.lab.simulator.data import Data, StoredTrace
from correlator.lab.simulator.logql import Selected, parse
from correlator.lab.simulator.traceql import compile_query, referenced_attributes
from correlator.wire.ids import try_normalize_span_id, try_normalize_trace_id

ROOT_NOT_RECEIVED = "<root span not yet received>"


def trace_by_id(data: Data, raw_id: str, *, v2: bool) -> dict[str, Any] | None:
    tid = try_normalize_trace_id(raw_id)
    tr = data.traces.get(tid) if tid else None
    if tr is None:
        return None
    if v2:  # a stored partial response stays partial (Tempo: status PARTIAL + message)
        return {"trace": {"resourceSpans": tr.batches}, **tr.v2_extra}
    return {"batches": tr.batches}


def _attr_json(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _search_item(tr: StoredTrace, q: str, spss: int) -> dict[str, Any] | None:
    pred = compile_query(q) if q else (lambda _s: True)
    matched = [(span, view) for span, view in tr.views() if pred(view)]
    if not matched:
        return None
    refs = referenced_attributes(q) if q else []
    spans = []
    for span, view in matched[:spss]:
        item: dict[str, Any] = {
            "spanID": try_normalize_span_id(span["spanId"]) or "",
            "startTimeUnixNano": str(span["startTimeUnixNano"]),
            "durationNanos": str(view.duration_ns),
        }
        found = [
            _attr_json(k, view.span_attrs.get(k, view.resource_attrs.get(k)))
            for k in refs
            if k in view.span_attrs or k in view.resource_attrs
        ]
        if found:
            item["attributes"] = found
        spans.append(item)
    start, end = tr.bounds()
    root = tr.root()
    out: dict[str, Any] = {"traceID": tr.trace_id.lstrip("0") or "0"}
    if root is not None:
        out["rootServiceName"] = str(root[1].get("service.name", ""))
        out["rootTraceName"] = root[0].get("name", "")
    else:
        out["rootServiceName"] = ROOT_NOT_RECEIVED
    out["startTimeUnixNano"] = str(start)
    duration_ms = (end - start) // 1_000_000
    if duration_ms:
        out["durationMs"] = duration_ms
    spanset = {"spans": spans, "matched": len(matched)}
    out["spanSet"] = spanset
    out["spanSets"] = [spanset]
    return out


def search(
    data: Data, q: str, start: float | None, end: float | None, limit: int, spss: int
) -> dict[str, Any]:
    """``/api/search`` with ``q``: matching traces, newest first (``TraceQLError`` on bad q)."""
    if q:
        compile_query(q)  # raise early on syntax errors
    items = []
    for tr in data.traces.values():
        t0, t1 = tr.bounds()
        if start is not None and t1 < start * 1e9:
            continue
        if end is not None and t0 > end * 1e9:
            continue
        item = _search_item(tr, q, spss)
        if item is not None:
            items.append(item)
    items.sort(key=lambda i: (-int(i["startTimeUnixNano"]), i["traceID"]))
    inspected = sum(len(str(t.batches)) for t in data.traces.values())
    return {
        "traces": items[:limit],
        "metrics": {
            "inspectedTraces": len(data.traces),
            "inspectedBytes": str(inspected),
            "completedJobs": 1,
            "totalJobs": 1,
        },
    }


def parse_loki_time(value: str | None, default_ns: int) -> int:
    """ns epoch integer, float seconds, or RFC3339 (Loki accepts all three)."""
    if value is None or value == "":
        return default_ns
    if value.isdigit():
        n = int(value)
        return n if n > 10**15 else n * 1_000_000_000
    try:
        return int(float(value) * 1e9)
    except ValueError:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int(t.timestamp() * 1e9)


def _stats(lines: int, nbytes: int) -> dict[str, Any]:
    return {
        "summary": {
            "bytesProcessedPerSecond": nbytes * 100,
            "linesProcessedPerSecond": lines * 100,
            "totalBytesProcessed": nbytes,
            "totalLinesProcessed": lines,
            "execTime": 0.01,
            "queueTime": 0.0,
            "subqueries": 0,
            "totalEntriesReturned": lines,
        }
    }


def query_range(
    data: Data,
    query: str,
    start_ns: int,
    end_ns: int,
    limit: int,
    direction: str,
    categorize: bool,
) -> dict[str, Any]:
    """``/loki/api/v1/query_range`` for log queries (``LogQLError`` outside the subset)."""
    q = parse(query)
    window = [e for e in data.entries if start_ns <= e.ts < end_ns]
    selected = q.select(window)
    backward = direction.lower() != "forward"
    selected.sort(key=lambda s: s.entry.ts, reverse=backward)
    selected = selected[:limit]
    streams: dict[tuple[tuple[str, str], ...], list[Selected]] = {}
    for s in selected:
        labels = dict(s.entry.labels)
        if not categorize:
            labels.update(s.entry.metadata)
            labels.update(s.parsed)
        streams.setdefault(tuple(sorted(labels.items())), []).append(s)
    result = []
    for key, items in streams.items():
        values: list[list[Any]] = []
        for s in items:
            if categorize:
                extra: dict[str, Any] = {}
                if s.entry.metadata:
                    extra["structuredMetadata"] = dict(s.entry.metadata)
                if s.parsed:
                    extra["parsed"] = dict(s.parsed)
                values.append([str(s.entry.ts), s.entry.line, extra])
            else:
                values.append([str(s.entry.ts), s.entry.line])
        result.append({"stream": dict(key), "values": values})
    data_out: dict[str, Any] = {}
    if categorize:
        data_out["encodingFlags"] = ["categorize-labels"]
    data_out["resultType"] = "streams"
    data_out["result"] = result
    data_out["stats"] = _stats(len(selected), sum(len(s.entry.line) for s in selected))
    return {"status": "success", "data": data_out}


def find_annotations(
    data: Data,
    from_ms: int | None,
    to_ms: int | None,
    tags: list[str],
    match_any: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """Grafana ``/api/annotations``: time overlap, tags ANDed unless ``matchAny``, newest first."""
    out = []
    for a in data.annotations:
        t0 = int(a.get("time", 0))
        t1 = int(a.get("timeEnd", t0) or t0)
        if from_ms is not None and t1 < from_ms:
            continue
        if to_ms is not None and t0 > to_ms:
            continue
        have = set(a.get("tags", []))
        if tags and not (have & set(tags) if match_any else set(tags) <= have):
            continue
        out.append(a)
    out.sort(key=lambda a: -int(a.get("time", 0)))
    return out[:limit]
