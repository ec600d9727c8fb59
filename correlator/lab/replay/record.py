"""``correlator record``: a live incident's evidence written as a scenario directory.

``record_scenario(body, settings, out)`` first runs the investigation (``investigate_once``,
notifiers cleared) to learn what the pipeline reads, then fetches those reads raw from the same
backends over the window it used:

* ``metrics.om``: stored samples of every metric named by the evidence's PromQL (alert expr,
  per-service metric queries, version queries) and by exemplar series, with the exemplars inline;
* ``traces/<id>.json``: Tempo trace-by-id bodies as served (v2 ``trace`` with base64 ids), for
  every trace the evidence used and every exemplar (exemplars without a trace are dropped);
* ``logs.json``: the evidence's LogQL queries re-run over the window, streams merged, structured
  metadata folded into stream labels (its keys listed in ``scenario.yaml``);
* ``annotations.json``: Grafana annotations from ``change_lookback_seconds`` before onset;
* ``deploys.json``: deploys correlator had been told about (changes from ``deploy_api``);
* ``alert.json`` (the first alert of the body) and ``scenario.yaml`` (origin ``recorded``).

Redaction (``correlator.llm.redact``) applies to every string written except ids and timestamps, on
by default. The directory is validated with ``correlator.lab.scenarios.load_scenario`` at the end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from correlator.lab.replay.fetch import Wire, metric_names
from correlator.lab.replay.runner import quiet_settings
from correlator.lab.replay.scrub import Scrub
from correlator.lab.replay.sources import SourceError, split_webhook
from correlator.lab.scenarios import ScenarioError, ScenarioMeta, load_scenario
from correlator.models import AlertmanagerWebhook, Investigation
from correlator.settings import BackendSettings, Settings
from correlator.wire.ids import try_normalize_trace_id
from correlator.wire.openmetrics import build_openmetrics
from correlator.wiring import build_clients, investigate_once

MAX_TRACES = 200


class RecordError(RuntimeError):
    """The incident could not be recorded (bad alert, output exists, invalid result)."""


@dataclass
class RecordResult:
    path: Path
    investigation: Investigation | None
    counts: dict[str, int] = field(default_factory=dict)
    redactions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        inv = self.investigation
        top = inv.analysis.top if inv is not None and inv.analysis is not None else None
        lines = [f"recorded {self.path}"]
        lines += [f"  {k}: {v}" for k, v in self.counts.items()]
        lines.append(f"  redactions: {self.redactions or 'none'}")
        if top is not None:
            lines.append(
                f"  live top hypothesis: {top.service} ({top.fault_type}) {top.confidence:.2f}"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _window(inv: Investigation, settings: Settings, now: datetime) -> tuple[datetime, datetime]:
    """The span of time the investigation read (plus a minute of margin before)."""
    starts = inv.alert.starts_at
    lo = [starts - timedelta(seconds=settings.prometheus.exemplar_lookback_seconds)]
    hi = [starts + timedelta(seconds=settings.prometheus.exemplar_grace_seconds)]
    lo.append(starts - timedelta(seconds=settings.loki.pattern_before_seconds))
    hi.append(starts + timedelta(seconds=settings.loki.pattern_after_seconds))
    b = inv.evidence
    if b is not None:
        lo.append(b.window.start)
        hi.append(b.window.end)
        for p in b.log_patterns:
            lo += [p.baseline.start, p.window.start]
            hi += [p.baseline.end, p.window.end]
        pts = [t for m in b.metrics for t, _ in m.points]
        if pts:
            lo.append(datetime.fromtimestamp(min(pts), UTC))
            hi.append(datetime.fromtimestamp(max(pts), UTC))
    return min(lo) - timedelta(seconds=60), min(max(hi) + timedelta(seconds=1), now)


def _prom_queries(inv: Investigation, settings: Settings) -> list[str]:
    out = list(settings.prometheus.version_queries)
    if inv.expr:
        out.append(inv.expr)
    b = inv.evidence
    if b is not None:
        out += [b.expr or ""] + [m.query for m in b.metrics]
        out += [e.query for e in b.items if e.source == "prometheus"]
    return out


def _exemplar_trace_ids(groups: Iterable[dict[str, Any]], labels: Iterable[str]) -> list[str]:
    keys, ids = list(labels), []
    for g in groups:
        for ex in g.get("exemplars", []):
            raw = next(
                (ex.get("labels", {}).get(k) for k in keys if ex.get("labels", {}).get(k)), None
            )
            tid = try_normalize_trace_id(raw)
            if tid and tid not in ids:
                ids.append(tid)
    return ids


def _merge_streams(bodies: Iterable[dict[str, Any]]) -> tuple[dict[str, Any], set[str]]:
    """One ``streams`` response from many, structured metadata folded into stream labels."""
    merged: dict[tuple[tuple[str, str], ...], set[tuple[str, str]]] = {}
    sm_keys: set[str] = set()
    for body in bodies:
        data = body.get("data", {})
        if data.get("resultType") != "streams":
            continue
        for stream in data.get("result", []):
            base = {str(k): str(v) for k, v in stream.get("stream", {}).items()}
            for value in stream.get("values", []):
                labels = dict(base)
                if len(value) > 2 and isinstance(value[2], dict):
                    sm = value[2].get("structuredMetadata") or {}
                    sm_keys.update(sm)
                    labels.update({str(k): str(v) for k, v in sm.items()})
                key = tuple(sorted(labels.items()))
                merged.setdefault(key, set()).add((str(value[0]), str(value[1])))
    result = [
        {"stream": dict(k), "values": [list(v) for v in sorted(vals, key=lambda x: int(x[0]))]}
        for k, vals in merged.items()
    ]
    body = {"status": "success", "data": {"resultType": "streams", "result": result}}
    return body, sm_keys


def operator_settings(settings: Settings) -> dict[str, Any]:
    """Non-default, non-connection settings of the live stack (scenario.yaml ``settings``).

    Service/trace-id labels, templates, windows: what the offline replay needs to read the
    recording the way the live run read the backends. URLs, timeouts, auth and secrets are left out.
    """
    connection = set(BackendSettings.model_fields)
    out: dict[str, Any] = {}
    for section in ("prometheus", "tempo", "loki", "grafana"):
        cfg = getattr(settings, section)
        default, dumped = type(cfg)(), cfg.model_dump(mode="json")
        diff = {
            name: dumped[name]
            for name in type(cfg).model_fields
            if name not in connection and getattr(cfg, name) != getattr(default, name)
        }
        if diff:
            out[section] = diff
    if settings.change_lookback_seconds != Settings.model_fields["change_lookback_seconds"].default:
        out["change_lookback_seconds"] = settings.change_lookback_seconds
    return out


def _one_alert(body: dict[str, Any]) -> dict[str, Any]:
    try:
        items = split_webhook(body, "jsonl")
    except SourceError as exc:
        raise RecordError(str(exc)) from exc
    hook = items[0].webhook
    assert hook is not None
    return hook


async def _investigate(hook: dict[str, Any], settings: Settings) -> Investigation:
    results = await investigate_once(AlertmanagerWebhook.model_validate(hook), settings)
    if not results:
        raise RecordError("the investigation produced no result")
    return results[0]


@dataclass
class _Fetched:
    om_text: str = "# EOF\n"
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[str, Any] = field(default_factory=dict)
    sm_keys: set[str] = field(default_factory=set)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


async def _fetch(
    inv: Investigation, settings: Settings, now: datetime, scrub: Scrub, wire: Wire
) -> _Fetched:
    start, end = _window(inv, settings, now)
    out = _Fetched(settings=operator_settings(settings))
    groups = await wire.exemplars(start, end)
    known = await wire.prom_names()
    names = metric_names(_prom_queries(inv, settings), known)
    names |= {str(g.get("seriesLabels", {}).get("__name__")) for g in groups} & known
    matrix = await wire.samples(names, start, end)
    used = [t.trace.trace_id for t in inv.evidence.traces] if inv.evidence else []
    wanted = list(
        dict.fromkeys(used + _exemplar_trace_ids(groups, settings.prometheus.trace_id_labels))
    )
    gate = asyncio.Semaphore(8)

    async def one(tid: str) -> None:
        async with gate:
            body = await wire.trace(tid)
        if body is not None:
            out.traces[tid] = body

    await asyncio.gather(*(one(t) for t in wanted[:MAX_TRACES]))
    keys = settings.prometheus.trace_id_labels

    def keep(labels: dict[str, str]) -> bool:
        tid = try_normalize_trace_id(next((labels[k] for k in keys if labels.get(k)), None))
        return tid is None or tid in out.traces

    om = build_openmetrics(matrix, groups, keep_trace=keep, redact=scrub.text)
    out.om_text = om.text
    queries = dict.fromkeys(
        e.query
        for e in (inv.evidence.items if inv.evidence else [])
        if e.source == "loki" and e.query
    )
    bodies = await asyncio.gather(*(wire.logs(q, start, end) for q in queries))
    out.logs, out.sm_keys = _merge_streams(b for b in bodies if b is not None)
    ann_start = inv.alert.starts_at - timedelta(seconds=settings.change_lookback_seconds)
    out.annotations = await wire.annotations(ann_start, end)
    lines = sum(len(s["values"]) for s in out.logs["data"]["result"])
    out.counts = {
        "series": om.series,
        "samples": om.samples,
        "exemplars": om.exemplars,
        "exemplars_dropped": om.dropped_exemplars,
        "traces": len(out.traces),
        "log_lines": lines,
        "annotations": len(out.annotations),
    }
    return out


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _deploys(inv: Investigation) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in inv.evidence.changes if inv.evidence else []:
        if c.source == "deploy_api":
            d = {
                "service": c.service,
                "version": c.to_version,
                "commit": c.to_commit,
                "environment": c.environment,
                "time": c.time.isoformat(),
                "url": c.url,
                "author": c.author,
                "description": c.description,
                "kind": str(c.kind),
            }
            out.append({k: v for k, v in d.items() if v is not None})
    return out


def _meta(
    out: Path, inv: Investigation, title: str | None, f: _Fetched, warnings: list[str]
) -> dict[str, Any]:
    alert = inv.alert
    when = alert.starts_at.isoformat(timespec="seconds")
    desc = f"Recorded by correlator record at {datetime.now(UTC).isoformat(timespec='seconds')}."
    if warnings:
        desc += " Incomplete: " + "; ".join(warnings)
    meta: dict[str, Any] = {
        "id": out.name,
        "title": title or f"{alert.alertname} at {when}",
        "description": desc,
        "origin": "recorded",
        "tags": ["recorded"],
    }
    if f.sm_keys:
        meta["loki"] = {"structured_metadata": sorted(f.sm_keys)}
    if f.settings:
        meta["settings"] = f.settings
    try:
        ScenarioMeta.model_validate(meta)
    except ValidationError as exc:
        raise RecordError(
            f"scenario.yaml would be invalid (directory name is the id): {exc}"
        ) from exc
    return meta


def _write(
    out: Path,
    hook: dict[str, Any],
    inv: Investigation,
    f: _Fetched,
    scrub: Scrub,
    meta: dict[str, Any],
) -> None:
    out.mkdir(parents=True)
    (out / "traces").mkdir()
    _dump(out / "alert.json", scrub.tree(hook))
    (out / "metrics.om").write_text(f.om_text, encoding="utf-8")
    for tid, body in f.traces.items():
        _dump(out / "traces" / f"{tid}.json", scrub.tree(body))
    _dump(out / "logs.json", scrub.logs(f.logs))
    if f.annotations:
        _dump(out / "annotations.json", scrub.tree(f.annotations))
    deploys = _deploys(inv)
    if deploys:
        _dump(out / "deploys.json", scrub.tree(deploys))
    text = yaml.safe_dump(scrub.tree(meta), sort_keys=False, allow_unicode=True)
    (out / "scenario.yaml").write_text(text, encoding="utf-8")


async def record_scenario(
    body: dict[str, Any],
    settings: Settings,
    out: Path,
    *,
    redact: bool = True,
    title: str | None = None,
    now: datetime | None = None,
) -> RecordResult:
    """Investigate the first alert of ``body`` live and write what it read to ``out``."""

    if await asyncio.to_thread(out.exists):
        raise RecordError(f"{out} exists; record writes a new scenario directory")
    hook = _one_alert(body)
    quiet = quiet_settings(settings)
    inv = await _investigate(hook, quiet)
    scrub = Scrub(redact)
    clients = build_clients(quiet)
    wire = Wire(clients, {n: getattr(quiet, n) for n in clients})
    try:
        fetched = await _fetch(inv, quiet, now or datetime.now(UTC), scrub, wire)
    finally:
        for client in clients.values():
            await client.aclose()
    meta = _meta(out, inv, title, fetched, wire.warnings)
    await asyncio.to_thread(_write, out, hook, inv, fetched, scrub, meta)
    try:
        await asyncio.to_thread(load_scenario, out)
    except ScenarioError as exc:
        raise RecordError(f"recorded scenario does not validate: {exc}") from exc
    return RecordResult(out, inv, fetched.counts, scrub.redactor.snapshot(), wire.warnings)
