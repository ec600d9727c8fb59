"""Scenario directories: load, validate, and time-shift (format contract: docs/scenarios.md).

A scenario is an incident frozen in the upstream wire formats::

    <scenario>/scenario.yaml     id, title, description, origin, tags, simulate flags
    <scenario>/alert.json        Alertmanager webhook v4 body
    <scenario>/metrics.om        OpenMetrics with explicit timestamps and inline exemplars
    <scenario>/traces/<id>.json  Tempo /api/traces/<id> responses (v1 ``batches`` or v2 ``trace``)
    <scenario>/logs.json         Loki query_range ``streams`` response
    <scenario>/annotations.json  optional Grafana /api/annotations response
    <scenario>/deploys.json      optional list of deploys as CI/CD POSTs them
    <scenario>/git/              optional recorded compare responses of a Git provider:
                                 github/<owner>/<repo>/compare/<base>...<head>.json (GitHub) or
                                 gitlab/<project path or id>/compare/<from>...<to>.json (GitLab)
    <scenario>/truth.yaml        ground truth, read only by ``load_truth`` (eval)

Timestamps are real. ``Scenario.shifted(delta)`` moves every timestamp (metric samples,
exemplars, span times, log times, annotations, deploys, alert) so an old scenario replays as
recent; ``offset_to(now)`` gives the delta that lands the alert's ``startsAt`` at ``now``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from correlator.lab.timeshift import (
    shift_alert,
    shift_annotation,
    shift_deploy,
    shift_logs,
    shift_trace,
)
from correlator.models import AlertmanagerWebhook, Deploy
from correlator.models.analysis import FaultType
from correlator.wire.ids import try_normalize_trace_id
from correlator.wire.openmetrics import (
    OMExemplar,
    OpenMetricsError,
    parse_exemplars,
    shift_openmetrics,
)
from correlator.wire.otlp import resource_spans, trace_ids_in

__all__ = [
    "ChangeRef",
    "DatasetRef",
    "LokiOptions",
    "OMExemplar",
    "RootCause",
    "Scenario",
    "ScenarioError",
    "ScenarioMeta",
    "Simulate",
    "Truth",
    "discover",
    "load_meta",
    "load_scenario",
    "load_truth",
    "parse_exemplars",
    "resource_spans",
    "shift_openmetrics",
    "trace_ids_in",
    "validate",
]

BackendState = Literal["up", "down"]
HEX32 = re.compile(r"^[0-9a-f]{32}$")
GIT_FILE = re.compile(
    r"^(github/[\w.-]+/[\w.-]+|gitlab/[\w.-]+(?:/[\w.-]+)*)/compare/[0-9a-f]{7,64}\.\.\.[0-9a-f]{7,64}\.json$"
)
GIT_DATE_KEYS = ("date", "created_at", "authored_date", "committed_date")
STRUCTURED_METADATA_KEYS = ("trace_id", "span_id")


class ScenarioError(ValueError):
    """A scenario directory that does not follow the format."""


class Simulate(BaseModel):
    """Simulator switches: a backend marked ``down`` answers 503 on all its paths."""

    model_config = ConfigDict(extra="forbid")

    prometheus: BackendState = "up"
    tempo: BackendState = "up"
    loki: BackendState = "up"
    grafana: BackendState = "up"
    git: BackendState = "up"


class LokiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    structured_metadata: list[str] = Field(
        default_factory=lambda: list(STRUCTURED_METADATA_KEYS),
        description="stream-label keys of logs.json that are structured metadata, not index labels",
    )


class DatasetRef(BaseModel):
    """The source of an ``origin: dataset`` scenario (``correlator dataset import`` writes it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="the dataset, e.g. nezha-onlineboutique")
    case: dict[str, str] = Field(
        default_factory=dict, description="the dataset's own key of the case (time, pod, fault)"
    )


class ScenarioMeta(BaseModel):
    """``scenario.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,80}$")
    title: str = Field(min_length=1)
    description: str = ""
    origin: Literal["synthetic", "recorded", "dataset"]
    dataset: DatasetRef | None = None
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
    git: dict[str, dict[str, Any]] = field(default_factory=dict)  # git/ path -> response

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
            git={k: _shift_dates(v, delta) for k, v in self.git.items()},
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
    git = {
        f.relative_to(root / "git").as_posix(): _read_json(f)
        for f in sorted((root / "git").rglob("*.json"))
    }
    scenario = Scenario(root, meta, alert, metrics, traces, logs, annotations, deploys, git)
    problems = validate(scenario)
    if problems:
        raise ScenarioError(f"{root}: " + "; ".join(problems))
    return scenario


def load_meta(path: Path | str) -> ScenarioMeta:
    """``scenario.yaml`` alone (eval tags each case with its origin and dataset)."""
    try:
        return ScenarioMeta.model_validate(_read_yaml(Path(path) / "scenario.yaml"))
    except ValidationError as exc:
        raise ScenarioError(f"{path}/scenario.yaml: {exc}") from exc


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


def _shift_dates(value: Any, delta: timedelta) -> Any:
    """Commit dates inside a recorded compare response, moved like every other timestamp."""
    if isinstance(value, dict):
        return {
            k: _shift_iso(v, delta) if k in GIT_DATE_KEYS else _shift_dates(v, delta)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shift_dates(v, delta) for v in value]
    return value


def _shift_iso(value: Any, delta: timedelta) -> Any:
    if not isinstance(value, str):
        return value
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    text = (when + delta).isoformat()
    return text.replace("+00:00", "Z") if value.endswith("Z") else text


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
    for name, body in s.git.items():
        if not GIT_FILE.match(name) or not isinstance(body, dict):
            problems.append(f"git/{name}: expected <provider>/<repo>/compare/<base>...<head>.json")
    for i, d in enumerate(s.deploys):
        try:
            Deploy.model_validate(d)
        except ValidationError as exc:
            problems.append(f"deploys.json[{i}]: {exc}")
    try:
        exemplars = parse_exemplars(s.metrics_text)
    except OpenMetricsError as exc:
        return [*problems, f"metrics.om: {exc}"]
    for ex in exemplars:
        tid = ex.labels.get("trace_id") or ex.labels.get("traceID") or ""
        # 64-bit (16-hex) and zero-stripped ids are the zero-padded 32-hex id Tempo serves
        hex_id = try_normalize_trace_id(tid) if tid else None
        if tid and (hex_id or tid.lower()) not in s.traces:
            problems.append(f"exemplar trace {tid} has no traces/{hex_id or tid}.json")
            break
    return problems
