"""Turn a ScenarioSpec into the scenario files, in the exact upstream wire shapes."""

from __future__ import annotations

import base64
import hashlib
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


from .sim import MS, NS, LogRec, Request, SpanRec, World, strength
from .spec import ScenarioSpec, Svc

STEP = 30
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ENV = "production"


def _iso(ns: int) -> str:
    t = datetime.fromtimestamp(ns // MS / 1000, tz=UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _num(v: float) -> str:
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.4f}".rstrip("0")


@dataclass
class Agg:
    buckets: list[float] = field(default_factory=lambda: [0.0] * (len(BUCKETS) + 1))
    count: float = 0.0
    total: float = 0.0
    codes: dict[str, float] = field(default_factory=lambda: {"200": 0.0, "500": 0.0})


@dataclass
class Built:
    hist: dict[str, list[tuple[int, list[int], int, float]]]  # svc -> (ts, cum buckets, count, sum)
    codes: dict[str, list[tuple[int, dict[str, int]]]]
    ex_hist: dict[tuple[str, int], tuple[int, str, str, float, int]]  # (svc, ts) -> (bucket, tid, sid, val, ts_ns)
    ex_err: dict[tuple[str, int], tuple[str, str, float, int]]
    traces: dict[str, Request]
    logs: list[LogRec]
    rps: dict[str, list[float]]


def seed_of(spec: ScenarioSpec, tag: str = "") -> int:
    key = spec.id if not tag else f"{spec.id}#{tag}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def onset_ns(spec: ScenarioSpec) -> int:
    t = datetime.fromisoformat(spec.onset.replace("Z", "+00:00"))
    return int(t.timestamp()) * NS


def steps(spec: ScenarioSpec) -> list[int]:
    on = onset_ns(spec)
    start = on - int(spec.baseline_min * 60) * NS
    end = on + int(spec.alert.delay) * NS + STEP * NS
    return list(range(start + STEP * NS, end + 1, STEP * NS))


def traffic_mult(spec: ScenarioSpec, rel: float) -> float:
    m = 1.0
    for f in spec.faults:
        if f.kind == "traffic":
            m *= 1.0 + (f.mult - 1.0) * strength(f, rel)
    return m


def simulate(spec: ScenarioSpec, rng: random.Random) -> Built:
    on = onset_ns(spec)
    world = World(spec, on, rng)
    inst = [s.name for s in spec.services if s.instrumented]
    agg = {s: Agg() for s in inst}
    b = Built(defaultdict(list), defaultdict(list), {}, {}, {}, [], defaultdict(list))
    for i, ts in enumerate(steps(spec)):
        rel = (ts - on) / NS
        n = spec.rps * STEP * traffic_mult(spec, rel)
        k = min(math.ceil(n), 14)
        weight = n / k
        reqs = [world.request(ts - STEP * NS + int(rng.random() * STEP * NS)) for _ in range(k)]
        reqs.sort(key=lambda r: r.start)
        per_step: dict[str, float] = defaultdict(float)
        for r in reqs:
            for sp in r.spans:
                if sp.kind != "SERVER":
                    continue
                a, dur = agg[sp.service], (sp.end - sp.start) / NS
                a.buckets[next((j for j, le in enumerate(BUCKETS) if dur <= le), len(BUCKETS))] += weight
                a.count += weight
                a.total += dur * weight
                a.codes["500" if sp.error else "200"] += weight
                per_step[sp.service] += weight
        _keep_logs(b, reqs, rng)
        for s in inst:
            a = agg[s]
            cum = [round(sum(a.buckets[: j + 1])) for j in range(len(a.buckets))]
            b.hist[s].append((ts, cum, round(a.count), a.total))
            b.codes[s].append((ts, {c: round(v) for c, v in a.codes.items()}))
            b.rps[s].append(per_step[s] / STEP)
        for r in _chosen(reqs, ts >= on + STEP * NS, i, rng):
            b.traces[r.trace_id] = r
            _attach_exemplars(b, r, ts)
    b.logs.sort(key=lambda lr: (lr.ts, lr.service, lr.msg))
    return b


def _keep_logs(b: Built, reqs: list[Request], rng: random.Random) -> None:
    per_service: dict[str, int] = defaultdict(int)
    for r in reqs:
        for lr in r.logs:
            if lr.level == "info" or per_service[lr.service] < 6:
                b.logs.append(lr)
                if lr.level != "info":
                    per_service[lr.service] += 1


def _chosen(reqs: list[Request], incident: bool, i: int, rng: random.Random) -> list[Request]:
    if not incident:
        return [rng.choice(reqs)] if i % 6 == 0 else []
    slowest = max(reqs, key=lambda r: r.duration)
    errs = [r for r in reqs if r.error]
    out = [slowest]
    if errs:
        e = max(errs, key=lambda r: r.duration)
        if e is not slowest:
            out.append(e)
    return out


def _attach_exemplars(b: Built, r: Request, ts: int) -> None:
    for sp in r.spans:
        if sp.kind != "SERVER":
            continue
        dur = (sp.end - sp.start) / NS
        j = next((j for j, le in enumerate(BUCKETS) if dur <= le), len(BUCKETS))
        b.ex_hist.setdefault((sp.service, ts), (j, sp.trace_id, sp.span_id, dur, sp.end))
        if sp.error:
            b.ex_err.setdefault((sp.service, ts), (sp.trace_id, sp.span_id, 1.0, sp.end))


# ---- metrics.om -------------------------------------------------------------------------------


def _lbl(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


def _exm(tid: str, sid: str, value: float, ts_ns: int) -> str:
    return f' # {{trace_id="{tid}",span_id="{sid}"}} {_num(round(value, 4))} {ts_ns // MS / 1000:.3f}'


def resource_series(spec: ScenarioSpec, b: Built, rng: random.Random) -> dict[str, list[tuple[str, dict[str, str], list[tuple[int, float]]]]]:
    """Per-service resource series (cAdvisor / kube-state-metrics / process collector names)."""
    on = onset_ns(spec)
    L = spec.label
    fams: dict[str, list[tuple[str, dict[str, str], list[tuple[int, float]]]]] = defaultdict(list)
    for svc in spec.services:
        lab = {L: svc.name}
        cpu = restarts = drops = 0.0
        mem_limit = svc.mem_mb * 2.5 * 1024 * 1024
        fs_limit = 20 * 1024**3
        mem_extra = 0.0
        pts: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for ts in steps(spec):
            rel = (ts - on) / NS
            tm = traffic_mult(spec, rel)
            cores = svc.cpu * (0.7 + 0.3 * tm) * (1 + rng.gauss(0, 0.05))
            mem = svc.mem_mb * 1024 * 1024 * (1 + rng.gauss(0, 0.02))
            fs = fs_limit * 0.31 * (1 + rng.gauss(0, 0.002))
            fds = 60 + 20 * tm + rng.randint(0, 6)
            d_drop = float(rng.random() < 0.1)
            for f in spec.faults:
                if f.service != svc.name:
                    continue
                s = strength(f, rel)
                if f.kind == "cpu":
                    cores += f.mult * svc.cpu * s * 4
                elif f.kind == "memory" and s > 0:
                    mem_extra += mem_limit * 0.09 * s
                elif f.kind == "disk":
                    fs = fs_limit * (0.31 + 0.685 * s)
                elif f.kind == "sockets":
                    fds = 60 + (1024 - 60) * s
                elif f.kind == "packet_loss":
                    d_drop += 800 * f.rate * s * (1 + rng.gauss(0, 0.1))
            if mem + mem_extra > mem_limit * 0.97:
                mem_extra, restarts = 0.0, restarts + 1
            cpu += cores * STEP
            drops += d_drop
            pts["process_cpu_seconds"].append((ts, round(cpu, 2)))
            pts["container_memory_working_set_bytes"].append((ts, float(round(mem + mem_extra))))
            pts["container_spec_memory_limit_bytes"].append((ts, float(round(mem_limit))))
            pts["container_fs_usage_bytes"].append((ts, float(round(fs))))
            pts["container_fs_limit_bytes"].append((ts, float(fs_limit)))
            pts["kube_pod_container_status_restarts"].append((ts, restarts))
            pts["process_open_fds"].append((ts, float(round(fds))))
            pts["process_max_fds"].append((ts, 1024.0))
            pts["container_network_receive_packets_dropped"].append((ts, round(drops)))
        for name, series in pts.items():
            fams[name].append((name, lab, series))
    return fams


CONSTANT = {"container_spec_memory_limit_bytes", "container_fs_limit_bytes", "process_max_fds"}
FAMILIES = {
    "process_cpu_seconds": ("counter", "Total user and system CPU time spent in seconds."),
    "container_memory_working_set_bytes": ("gauge", "Current working set of the container in bytes."),
    "container_spec_memory_limit_bytes": ("gauge", "Memory limit for the container."),
    "container_fs_usage_bytes": ("gauge", "Number of bytes that are consumed by the container on this filesystem."),
    "container_fs_limit_bytes": ("gauge", "Number of bytes that can be consumed by the container on this filesystem."),
    "kube_pod_container_status_restarts": ("counter", "The number of container restarts per container."),
    "process_open_fds": ("gauge", "Number of open file descriptors."),
    "process_max_fds": ("gauge", "Maximum number of open file descriptors."),
    "container_network_receive_packets_dropped": ("counter", "Cumulative count of packets dropped while receiving."),
}


def metrics_om(spec: ScenarioSpec, b: Built, world: World, rng: random.Random) -> str:
    L = spec.label
    out = [
        "# HELP http_server_request_duration_seconds Duration of HTTP/RPC server requests.",
        "# TYPE http_server_request_duration_seconds histogram",
        "# UNIT http_server_request_duration_seconds seconds",
    ]
    for s in sorted(b.hist):
        lab = {L: s}
        for ts, cum, count, total in b.hist[s]:
            ex = b.ex_hist.get((s, ts)) if spec.exemplars else None
            tsx = f"{ts // NS}"
            for j, le in enumerate((*[_num(x) for x in BUCKETS], "+Inf")):
                tail = _exm(ex[1], ex[2], ex[3], ex[4]) if ex and ex[0] == j else ""
                out.append(f"http_server_request_duration_seconds_bucket{_lbl({**lab, 'le': le})} {cum[j]} {tsx}{tail}")
            out.append(f"http_server_request_duration_seconds_count{_lbl(lab)} {count} {tsx}")
            out.append(f"http_server_request_duration_seconds_sum{_lbl(lab)} {_num(round(total, 3))} {tsx}")
    out += ["# HELP http_requests Requests served, by status code.", "# TYPE http_requests counter"]
    for s in sorted(b.codes):
        for code in ("200", "500"):
            lab = {L: s, "code": code}
            for ts, codes in b.codes[s]:
                ex = b.ex_err.get((s, ts)) if spec.exemplars and code == "500" else None
                tail = _exm(ex[0], ex[1], ex[2], ex[3]) if ex else ""
                out.append(f"http_requests_total{_lbl(lab)} {codes[code]} {ts // NS}{tail}")
    fams = resource_series(spec, b, rng)
    for name, (typ, help_) in FAMILIES.items():
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {typ}"]
        suffix = "_total" if typ == "counter" else ""
        every = 8 if name in CONSTANT else 2  # cAdvisor/KSM scraped every 60 s; limits rarely
        for _, lab, series in sorted(fams[name], key=lambda x: x[1][L]):
            for i, (ts, v) in enumerate(series):
                if (len(series) - 1 - i) % every == 0:
                    out.append(f"{name}{suffix}{_lbl(lab)} {_num(v)} {ts // NS}")
    out += ["# HELP build_info Build information of the running service.", "# TYPE build_info gauge"]
    for svc in spec.services:
        if not svc.instrumented:
            continue
        by_version: dict[tuple[str, str], list[int]] = defaultdict(list)
        for ts in steps(spec):
            by_version[world.version_at(svc, ts)].append(ts)
        for (version, commit), tss in by_version.items():
            lab = {L: svc.name, "version": version, "revision": commit}
            keep = [ts for i, ts in enumerate(tss) if i % 4 == 0 or i == len(tss) - 1]
            out += [f"build_info{_lbl(lab)} 1 {ts // NS}" for ts in keep]
    out.append("# EOF")
    return "\n".join(out) + "\n"


# ---- traces -----------------------------------------------------------------------------------


def _b64(hexid: str) -> str:
    return base64.b64encode(bytes.fromhex(hexid)).decode()


def _av(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    return {"stringValue": str(v)}


def _kv(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _av(v)} for k, v in pairs]


def _resource(svc: Svc, version: str, commit: str) -> dict[str, Any]:
    env_key = "deployment.environment" if svc.old_semconv else "deployment.environment.name"
    rev_key = "vcs.repository.ref.revision" if svc.old_semconv else "vcs.ref.head.revision"
    pod = f"{svc.name}-{hashlib.sha256((svc.name + version).encode()).hexdigest()[:9]}-x7k2p"
    return {
        "attributes": _kv(
            [
                ("service.name", svc.name),
                ("service.namespace", "shop"),
                ("service.version", version),
                (env_key, ENV),
                (rev_key, commit),
                ("telemetry.sdk.language", svc.lang),
                ("telemetry.sdk.name", "opentelemetry"),
                ("k8s.pod.name", pod),
                ("k8s.deployment.name", svc.name),
            ]
        )
    }


def _event(name: str, t: int, attrs: list[tuple[str, Any]], svc: Svc) -> dict[str, Any]:
    if name == "flag":
        a = dict(attrs)
        variant = "on" if a["on"] else "off"
        if a["legacy"]:
            return {"timeUnixNano": str(t), "name": "feature_flag", "attributes": _kv([("feature_flag.key", a["key"]), ("feature_flag.provider_name", "flagd"), ("feature_flag.variant", variant)])}
        return {"timeUnixNano": str(t), "name": "feature_flag.evaluation", "attributes": _kv([("feature_flag.key", a["key"]), ("feature_flag.provider.name", "flagd"), ("feature_flag.result.variant", variant), ("feature_flag.result.value", a["on"]), ("feature_flag.result.reason", "TARGETING_MATCH")])}
    if "exception.stacktrace" not in dict(attrs):
        attrs = [*attrs, ("exception.stacktrace", f"{dict(attrs).get('exception.type')}: {dict(attrs).get('exception.message')}\n\tat {svc.name}")]
    return {"timeUnixNano": str(t), "name": name, "attributes": _kv(attrs)}


def _span(sp: SpanRec, svc: Svc) -> dict[str, Any]:
    out: dict[str, Any] = {"traceId": _b64(sp.trace_id), "spanId": _b64(sp.span_id)}
    if sp.parent:
        out["parentSpanId"] = _b64(sp.parent)
    out["name"] = sp.name
    out["kind"] = f"SPAN_KIND_{sp.kind}"
    out["startTimeUnixNano"] = str(sp.start)
    out["endTimeUnixNano"] = str(sp.end)
    if sp.attrs:
        out["attributes"] = _kv(sp.attrs)
    if sp.events:
        out["events"] = [_event(n, t, a, svc) for n, t, a in sp.events]
    out["status"] = {"code": "STATUS_CODE_ERROR", "message": sp.message} if sp.error else {}
    return out


SCOPES = {"go": ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.58.0"), "java": ("io.opentelemetry.armeria", "2.10.0-alpha"), "python": ("opentelemetry.instrumentation.fastapi", "0.49b0"), "nodejs": ("@opentelemetry/instrumentation-http", "0.57.0"), "dotnet": ("OpenTelemetry.Instrumentation.AspNetCore", "1.10.0"), "rust": ("tracing-opentelemetry", "0.28.0"), "ruby": ("OpenTelemetry::Instrumentation::Rack", "0.25.0")}


def trace_json(spec: ScenarioSpec, r: Request, rng: random.Random) -> dict[str, Any]:
    svcs = {s.name: s for s in spec.services}
    groups: dict[tuple[str, str, str], list[SpanRec]] = defaultdict(list)
    for sp in r.spans:
        groups[(sp.service, sp.version, sp.commit)].append(sp)
    batches = []
    for (name, version, commit), spans in groups.items():
        svc = svcs[name]
        scope_name, scope_version = SCOPES.get(svc.lang, ("opentelemetry", "1.0.0"))
        batches.append({"resource": _resource(svc, version, commit), "scopeSpans": [{"scope": {"name": scope_name, "version": scope_version}, "spans": [_span(sp, svc) for sp in spans]}]})
    fmt = spec.trace_format if spec.trace_format != "mix" else rng.choice(("v1", "v2"))
    return {"batches": batches} if fmt == "v1" else {"trace": {"resourceSpans": batches}}
