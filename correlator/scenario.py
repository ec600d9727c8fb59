"""Scenario directories: load, validate, and time-shift (format contract: docs/scenarios.md).

A scenario is an incident frozen in the upstream wire formats::

    <scenario>/scenario.yaml     id, title, description, origin, tags, simulate flags
    <scenario>/alert.json        Alertmanager webhook v4 body
    <scenario>/metrics.om        OpenMetrics with explicit timestamps and inline exemplars
    <scenario>/traces/<id>.json  Tempo /api/traces/<id> responses (v1 ``batches`` or v2 ``trace``)
    <scenario>/logs.json         Loki query_range ``streams`` response
    <scenario>/annotations.json  optional Grafana /api/annotations response
    <scenario>/deploys.json      optional list of deploys as CI/CD POSTs them
    <scenario>/truth.yaml        ground truth, read only by ``load_truth`` (eval)

Timestamps are real. ``Scenario.shifted(delta)`` moves every timestamp (metric samples,
exemplars, span times, log times, annotations, deploys, alert) so an old scenario replays as
recent; ``offset_to(now)`` gives the delta that lands the alert's ``startsAt`` at ``now``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from correlator.models import AlertmanagerWebhook, Deploy
from correlator.models.analysis import FaultType

BackendState = Literal["up", "down"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
STRUCTURED_METADATA_KEYS = ("trace_id", "span_id")
TIME_KEYS_NS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano")
GO_ZERO = "0001-01-01T00:00:00Z"


class ScenarioError(ValueError):
    """A scenario directory that does not follow the format."""


class Simulate(BaseModel):
    """Simulator switches: a backend marked ``down`` answers 503 on all its paths."""

    model_config = ConfigDict(extra="forbid")

    prometheus: BackendState = "up"
    tempo: BackendState = "up"
    loki: BackendState = "up"
    grafana: BackendState = "up"


class LokiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    structured_metadata: list[str] = Field(
        default_factory=lambda: list(STRUCTURED_METADATA_KEYS),
        description="stream-label keys of logs.json that are structured metadata, not index labels",
    )


class ScenarioMeta(BaseModel):
    """``scenario.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,80}$")
    title: str = Field(min_length=1)
    description: str = ""
    origin: Literal["synthetic", "recorded", "dataset"]
    tags: list[str] = Field(default_factory=list)
    simulate: Simulate = Field(default_factory=Simulate)
    loki: LokiOptions = Field(default_factory=LokiOptions)
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="settings an operator of this stack would set (eval and demo merge them)",
    )


class ChangeRef(BaseModel):
    """The culprit change: any of id / version / commit identifies it."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    version: str | None = None
    commit: str | None = None

    @model_validator(mode="after")
    def _one_given(self) -> ChangeRef:
        if not (self.id or self.version or self.commit):
            raise ValueError("change needs at least one of id, version, commit")
        return self


class RootCause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str | list[str] | None = None
    fault_type: FaultType
    change: ChangeRef | None = None

    @property
    def services(self) -> list[str]:
        if self.service is None:
            return []
        return [self.service] if isinstance(self.service, str) else list(self.service)

    @model_validator(mode="after")
    def _consistent(self) -> RootCause:
        if self.fault_type is FaultType.NONE and self.services:
            raise ValueError("fault_type none (no-fault control) must not name a service")
        if self.fault_type is not FaultType.NONE and not self.services:
            raise ValueError("a fault needs root_cause.service")
        return self


class Truth(BaseModel):
    """``truth.yaml``: ground truth for eval, never read by the pipeline."""

    model_config = ConfigDict(extra="forbid")

    root_cause: RootCause
    remediation: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario (everything except the truth)."""

    root: Path
    meta: ScenarioMeta
    alert: dict[str, Any]
    metrics_text: str
    traces: dict[str, dict[str, Any]]
    logs: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    deploys: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def webhook(self) -> AlertmanagerWebhook:
        return AlertmanagerWebhook.model_validate(self.alert)

    @property
    def alert_time(self) -> datetime:
        """The earliest ``startsAt`` of the alert's alerts (the replay anchor)."""
        return min(a.starts_at for a in self.webhook.alerts)

    def deploy_models(self) -> list[Deploy]:
        return [Deploy.model_validate(d) for d in self.deploys]

    def offset_to(self, now: datetime) -> timedelta:
        """Whole-second delta that moves the alert's ``startsAt`` to ``now``."""
        return timedelta(seconds=round((now - self.alert_time).total_seconds()))

    def shifted(self, delta: timedelta) -> Scenario:
        """A copy with every timestamp moved by ``delta`` (whole milliseconds)."""
        ms = round(delta.total_seconds() * 1000)
        if ms == 0:
            return self
        return replace(
            self,
            alert=shift_alert(self.alert, ms),
            metrics_text=shift_openmetrics(self.metrics_text, ms),
            traces={k: shift_trace(v, ms) for k, v in self.traces.items()},
            logs=shift_logs(self.logs, ms),
            annotations=[shift_annotation(a, ms) for a in self.annotations],
            deploys=[shift_deploy(d, ms) for d in self.deploys],
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def load_scenario(path: Path | str) -> Scenario:
    """Load and validate a scenario directory; raises ``ScenarioError`` with the problems."""
    root = Path(path)
    if not root.is_dir():
        raise ScenarioError(f"not a scenario directory: {root}")
    try:
        meta = ScenarioMeta.model_validate(_read_yaml(root / "scenario.yaml"))
        alert = _read_json(root / "alert.json")
        AlertmanagerWebhook.model_validate(alert)
    except ValidationError as exc:
        raise ScenarioError(f"{root}: {exc}") from exc
    traces: dict[str, dict[str, Any]] = {}
    tdir = root / "traces"
    if tdir.is_dir():
        for f in sorted(tdir.glob("*.json")):
            traces[f.stem.lower()] = _read_json(f)
    metrics = (root / "metrics.om").read_text(encoding="utf-8")
    logs_path = root / "logs.json"
    logs = _read_json(logs_path) if logs_path.exists() else _empty_logs()
    ann_path, dep_path = root / "annotations.json", root / "deploys.json"
    annotations = _read_json(ann_path) if ann_path.exists() else []
    deploys = _read_json(dep_path) if dep_path.exists() else []
    scenario = Scenario(root, meta, alert, metrics, traces, logs, annotations, deploys)
    problems = validate(scenario)
    if problems:
        raise ScenarioError(f"{root}: " + "; ".join(problems))
    return scenario


def load_truth(path: Path | str) -> Truth:
    """``truth.yaml`` of a scenario directory (eval only)."""
    try:
        return Truth.model_validate(_read_yaml(Path(path) / "truth.yaml"))
    except ValidationError as exc:
        raise ScenarioError(f"{path}/truth.yaml: {exc}") from exc


def discover(root: Path | str) -> list[Path]:
    """Scenario directories under ``root`` (or ``root`` itself), sorted by name."""
    base = Path(root)
    if (base / "scenario.yaml").exists():
        return [base]
    return sorted(p.parent for p in base.glob("*/scenario.yaml"))


def _empty_logs() -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "streams", "result": []}}


def validate(s: Scenario) -> list[str]:
    """Format problems of a loaded scenario (empty when valid)."""
    problems: list[str] = []
    if s.meta.id != s.root.name:
        problems.append(f"id {s.meta.id!r} differs from directory name {s.root.name!r}")
    if not s.metrics_text.rstrip().endswith("# EOF"):
        problems.append("metrics.om must end with '# EOF'")
    for name, body in s.traces.items():
        if not HEX32.match(name):
            problems.append(f"traces/{name}.json: file name must be a 32-char lowercase hex id")
            continue
        ids = trace_ids_in(body)
        if ids != {name}:
            problems.append(f"traces/{name}.json: contains trace ids {sorted(ids)}")
    data = s.logs.get("data", {}) if isinstance(s.logs, dict) else {}
    if data.get("resultType") != "streams":
        problems.append("logs.json: data.resultType must be 'streams'")
    for stream in data.get("result", []):
        for value in stream.get("values", []):
            if not (isinstance(value[0], str) and value[0].isdigit()):
                problems.append("logs.json: timestamps must be nanosecond strings")
                break
    for i, d in enumerate(s.deploys):
        try:
            Deploy.model_validate(d)
        except ValidationError as exc:
            problems.append(f"deploys.json[{i}]: {exc}")
    for ex in parse_exemplars(s.metrics_text):
        tid = ex.labels.get("trace_id") or ex.labels.get("traceID") or ""
        if tid and tid.lower() not in s.traces:
            problems.append(f"exemplar trace {tid} has no traces/{tid}.json")
            break
    return problems


def resource_spans(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The resourceSpans list of a v1 (``batches``) or v2 (``trace``) trace-by-id body."""
    if "batches" in body:
        return list(body["batches"])
    inner = body.get("trace", body)
    return list(inner.get("resourceSpans", []))


def b64_to_hex(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def trace_ids_in(body: dict[str, Any]) -> set[str]:
    ids: set[str] = set()
    for rs in resource_spans(body):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                ids.add(b64_to_hex(span.get("traceId", "")))
    return ids


# ---- OpenMetrics parsing (samples + exemplars), shared with the simulator ------------------

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class OMExemplar:
    series: dict[str, str]
    labels: dict[str, str]
    value: str
    timestamp: float


def _unescape(v: str) -> str:
    return v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def _labels(text: str, pos: int) -> tuple[dict[str, str], int]:
    """Parse ``{a="b",...}`` starting at ``text[pos] == '{'``; returns labels and end index."""
    labels: dict[str, str] = {}
    pos += 1
    while pos < len(text) and text[pos] != "}":
        m = _LABEL.match(text, pos)
        if not m:
            raise ScenarioError(f"bad label set in: {text[:120]}")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels, pos + 1


@dataclass(frozen=True)
class OMLine:
    name: str
    labels: dict[str, str]
    value: str
    timestamp: str | None
    exemplar: tuple[dict[str, str], str, str | None] | None


def parse_sample_line(line: str) -> OMLine:
    m = _NAME.match(line)
    if not m:
        raise ScenarioError(f"bad sample line: {line[:120]}")
    name, pos = m.group(0), m.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _labels(line, pos)
    rest = line[pos:]
    exemplar = None
    if " # " in rest:
        head, ex = rest.split(" # ", 1)
        ex_labels, epos = _labels(ex, ex.index("{"))
        parts = ex[epos:].split()
        exemplar = (ex_labels, parts[0], parts[1] if len(parts) > 1 else None)
        rest = head
    parts = rest.split()
    return OMLine(name, labels, parts[0], parts[1] if len(parts) > 1 else None, exemplar)


def parse_exemplars(text: str) -> list[OMExemplar]:
    out: list[OMExemplar] = []
    for line in text.splitlines():
        if not line or line.startswith("#") or " # " not in line:
            continue
        s = parse_sample_line(line)
        if s.exemplar is None:
            continue
        labels, value, ts = s.exemplar
        when = float(ts) if ts is not None else float(s.timestamp or 0)
        out.append(OMExemplar({"__name__": s.name, **s.labels}, labels, value, when))
    return out


def _shift_ts(ts: str, ms: int) -> str:
    whole, _, frac = ts.partition(".")
    total = int(whole) * 1000 + (int((frac + "000")[:3]) if frac else 0) + ms
    sec, rem = divmod(total, 1000)
    return f"{sec}.{rem:03d}" if (frac or rem) else str(sec)


_TS_TAIL = re.compile(r"(\s)(\d+(?:\.\d+)?)$")


def shift_openmetrics(text: str, ms: int) -> str:
    """Shift sample and exemplar timestamps (text otherwise unchanged)."""
    out: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            out.append(line)
            continue
        head, sep, ex = line.partition(" # ")
        head = _TS_TAIL.sub(lambda m: m.group(1) + _shift_ts(m.group(2), ms), head)
        if sep:
            close = ex.rindex("}")
            tail = _TS_TAIL.sub(lambda m: m.group(1) + _shift_ts(m.group(2), ms), ex[close + 1 :])
            # exemplar tail is " value [ts]": only shift when a timestamp is present
            if len(ex[close + 1 :].split()) < 2:
                tail = ex[close + 1 :]
            ex = ex[: close + 1] + tail
        out.append(head + sep + ex)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def _shift_ns_tree(node: Any, ns: int) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                str(int(v) + ns)
                if k in TIME_KEYS_NS and v not in (None, "")
                else _shift_ns_tree(v, ns)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_shift_ns_tree(v, ns) for v in node]
    return node


def shift_trace(body: dict[str, Any], ms: int) -> dict[str, Any]:
    shifted: dict[str, Any] = _shift_ns_tree(body, ms * 1_000_000)
    return shifted


def shift_logs(body: dict[str, Any], ms: int) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for stream in out.get("data", {}).get("result", []):
        for value in stream.get("values", []):
            value[0] = str(int(value[0]) + ms * 1_000_000)
    return out


def shift_annotation(a: dict[str, Any], ms: int) -> dict[str, Any]:
    out = dict(a)
    for k in ("time", "timeEnd", "created", "updated"):
        if isinstance(out.get(k), int) and out[k]:
            out[k] = out[k] + ms
    return out


def _shift_iso(value: str, ms: int) -> str:
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = (t + timedelta(milliseconds=ms)).astimezone(UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shift_deploy(d: dict[str, Any], ms: int) -> dict[str, Any]:
    out = dict(d)
    if out.get("time"):
        out["time"] = _shift_iso(out["time"], ms)
    return out


def shift_alert(body: dict[str, Any], ms: int) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for a in out.get("alerts", []):
        for k in ("startsAt", "endsAt"):
            if a.get(k) and not str(a[k]).startswith("0001-"):
                a[k] = _shift_iso(a[k], ms)
    return out
