"""Write one scenario directory from its spec (alert, annotations, deploys, truth, scenario.yaml)."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import yaml

from . import emit, git, logs
from .sim import NS, World
from .spec import AlertSpec, ScenarioSpec


def alert_expr(spec: ScenarioSpec, a: AlertSpec) -> str:
    L, s = spec.label, a.service
    sel = f'{L}="{s}"'
    thr = emit._num(a.threshold)
    if a.kind == "latency":
        return f"histogram_quantile(0.95, sum by (le, {L}) (rate(http_server_request_duration_seconds_bucket{{{sel}}}[5m]))) > {thr}"
    if a.kind == "errors":
        return f'sum by ({L}) (rate(http_requests_total{{{sel},code=~"5.."}}[5m])) / sum by ({L}) (rate(http_requests_total{{{sel}}}[5m])) > {thr}'
    if a.kind == "cpu":
        return f"sum by ({L}) (rate(process_cpu_seconds_total{{{sel}}}[5m])) > {thr}"
    if a.kind == "memory":
        return f"max by ({L}) (container_memory_working_set_bytes{{{sel}}} / container_spec_memory_limit_bytes{{{sel}}}) > {thr}"
    if a.kind == "disk":
        return f"max by ({L}) (container_fs_usage_bytes{{{sel}}} / container_fs_limit_bytes{{{sel}}}) > {thr}"
    if a.kind == "sockets":
        return f"max by ({L}) (process_open_fds{{{sel}}} / process_max_fds{{{sel}}}) > {thr}"
    if a.kind == "traffic":
        return f"sum by ({L}) (rate(http_requests_total{{{sel}}}[5m])) > {thr}"
    if a.kind == "restarts":
        return f"increase(kube_pod_container_status_restarts_total{{{sel}}}[10m]) > {thr}"
    raise ValueError(f"unknown alert kind {a.kind}")


def alert_json(spec: ScenarioSpec) -> dict[str, Any]:
    a = spec.alert
    labels = {"alertname": a.name, "namespace": "shop", spec.label: a.service, "severity": a.severity}
    labels = dict(sorted(labels.items()))
    annotations = {"description": a.summary, "runbook_url": f"https://runbooks.example.internal/{a.name}", "summary": f"{a.name} on {a.service}"}
    starts = emit.onset_ns(spec) + int(a.delay * NS) + 914_000_000
    fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    expr = alert_expr(spec, a)
    return {
        "receiver": "correlator",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "annotations": annotations, "startsAt": emit._iso(starts), "endsAt": "0001-01-01T00:00:00Z", "generatorURL": f"http://prometheus-0:9090/graph?g0.expr={quote_plus(expr)}&g0.tab=1", "fingerprint": fp}],
        "groupLabels": {"alertname": a.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager-0:9093",
        "version": "4",
        "groupKey": f'{{}}/{{severity=~"warning|critical"}}:{{alertname="{a.name}"}}',
        "truncatedAlerts": 0,
    }


def annotations_json(spec: ScenarioSpec) -> list[dict[str, Any]]:
    on = emit.onset_ns(spec)
    out = []
    ann = [d for d in spec.deploys if d.annotation]
    for i, d in enumerate(sorted(ann, key=lambda d: d.at, reverse=True)):
        ms = (on + int(d.at * NS)) // 1_000_000
        text = {"deploy": f"Deploy {d.service} {d.version} ({d.commit})", "config": f"Config push {d.service}: {d.description}", "feature_flag": f"Flag change {d.service}: {d.description}"}[d.kind]
        if d.description and d.kind == "deploy":
            text += f" - {d.description}"
        item: dict[str, Any] = {"id": 4100 + len(ann) - i, "time": ms, "timeEnd": ms, "text": text, "tags": [d.kind if d.kind != "feature_flag" else "flag", d.service, emit.ENV]}
        if i % 2 == 0:
            item = {"id": item["id"], "dashboardUID": "svc-overview", "panelId": 2, **{k: v for k, v in item.items() if k != "id"}}
        item.update({"created": ms + 412, "updated": ms + 412, "login": d.author, "email": f"{d.author}@example.com", "avatarUrl": "/avatar/46d229b033af06a191ff2267bca9ae56", "data": {}})
        out.append(item)
    return out


def deploys_json(spec: ScenarioSpec) -> list[dict[str, Any]]:
    on = emit.onset_ns(spec)
    out = []
    for d in sorted((d for d in spec.deploys if d.deploys_json), key=lambda d: d.at):
        item: dict[str, Any] = {"service": d.service, "version": d.version, "commit": d.commit, "environment": emit.ENV, "time": emit._iso(on + int(d.at * NS)), "url": f"https://git.example.com/shop/{d.service}/commit/{d.commit}", "author": d.author, "kind": d.kind}
        if d.description:
            item["description"] = d.description
        out.append(item)
    return out


def scenario_yaml(spec: ScenarioSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"id": spec.id, "title": spec.title, "description": spec.description, "origin": spec.origin, "tags": list(spec.tags)}
    if spec.simulate:
        out["simulate"] = dict(spec.simulate)
    settings = {**spec.settings, **git.git_settings(spec)}
    if settings:
        out["settings"] = settings
    return out


def _dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _dump_json(data: Any, *, pretty: bool) -> str:
    if pretty:
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


def build(spec: ScenarioSpec, out_root: Path, *, reseed: str = "") -> Path:
    rng = random.Random(emit.seed_of(spec, reseed))
    built = emit.simulate(spec, rng)
    world = World(spec, emit.onset_ns(spec), rng)
    root = out_root / spec.id
    if root.exists():
        shutil.rmtree(root)
    (root / "traces").mkdir(parents=True)
    files: dict[str, str] = {
        "scenario.yaml": _dump_yaml(scenario_yaml(spec)),
        "alert.json": _dump_json(alert_json(spec), pretty=True),
        "metrics.om": emit.metrics_om(spec, built, world, rng),
        "logs.json": _dump_json(logs.logs_json(spec, sorted(built.logs + logs.noise_logs(spec, rng), key=lambda lr: (lr.ts, lr.service, lr.msg))), pretty=False),
        "truth.yaml": _dump_yaml({"root_cause": spec.truth, **({"remediation": spec.remediation} if spec.remediation else {})}),
    }
    if any(d.annotation for d in spec.deploys):
        files["annotations.json"] = _dump_json(annotations_json(spec), pretty=True)
    if any(d.deploys_json for d in spec.deploys):
        files["deploys.json"] = _dump_json(deploys_json(spec), pretty=True)
    for name, body in git.compare_files(spec).items():
        (root / "git" / name).parent.mkdir(parents=True, exist_ok=True)
        files[f"git/{name}"] = _dump_json(body, pretty=True)
    for tid in sorted(built.traces):
        files[f"traces/{tid}.json"] = _dump_json(emit.trace_json(spec, built.traces[tid], rng), pretty=False)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root
