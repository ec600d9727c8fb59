"""Loki streams: log lines per service style (OTLP metadata, logfmt, JSON) and noise."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any

from .emit import ENV, STEP, _iso, onset_ns, steps
from .sim import NS, LogRec
from .spec import ScenarioSpec, Svc


def _line(svc: Svc, lr: LogRec) -> str:
    when = _iso(lr.ts)
    if svc.log_style == "logfmt":
        ids = f" trace_id={lr.trace_id} span_id={lr.span_id}" if lr.trace_id else ""
        return f'ts={when} level={lr.level} msg={json.dumps(lr.msg)}{ids}'
    if svc.log_style == "json":
        body: dict[str, Any] = {"timestamp": when, "level": lr.level.upper(), "message": lr.msg}
        if lr.trace_id:
            body["traceID"], body["spanID"] = lr.trace_id, lr.span_id
        return json.dumps(body, separators=(",", ":"))
    return lr.msg


def noise_logs(spec: ScenarioSpec, rng: random.Random) -> list[LogRec]:
    on = onset_ns(spec)
    ts_all = steps(spec)
    start, end = ts_all[0] - STEP * NS, ts_all[-1]
    out = []
    for nz in spec.noise:
        t = start
        while True:
            t += int(rng.expovariate(nz.per_min / 60.0) * NS)
            if t >= end:
                break
            rel = (t - on) / NS
            if nz.start <= rel < nz.end:
                line = nz.line.replace("{n}", str(rng.randint(1, 9999))).replace("{ms}", str(rng.randint(900, 4000)))
                out.append(LogRec(t, nz.service, nz.level, line))
    return out


def logs_json(spec: ScenarioSpec, logs: list[LogRec]) -> dict[str, Any]:
    svcs = {s.name: s for s in spec.services}
    streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = defaultdict(list)
    for lr in logs:
        svc = svcs[lr.service]
        key = "app" if spec.label == "app" else "service_name"
        labels = {key: svc.name, "namespace": "shop", "level": lr.level}
        if svc.log_style == "otlp":
            labels["deployment_environment_name"] = ENV
            if lr.trace_id:
                labels["trace_id"], labels["span_id"] = lr.trace_id, lr.span_id or ""
        streams[tuple(sorted(labels.items()))].append([str(lr.ts), _line(svc, lr)])
    result = []
    for labels_t in sorted(streams):
        values = sorted(streams[labels_t], key=lambda v: int(v[0]), reverse=True)
        result.append({"stream": dict(labels_t), "values": values})
    total = sum(len(s["values"]) for s in result)
    stats = {"summary": {"bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0, "totalBytesProcessed": 0, "totalLinesProcessed": total, "execTime": 0.0, "queueTime": 0.0, "subqueries": 0, "totalEntriesReturned": total}}
    return {"status": "success", "data": {"resultType": "streams", "result": result, "stats": stats}}
