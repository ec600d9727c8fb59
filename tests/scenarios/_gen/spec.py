"""Declarative scenario descriptions: services, call graph, faults, decoys, alert, truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """An outgoing call of a service. ``target`` is a service name (instrumented or not)."""

    target: str
    op: str
    prob: float = 1.0
    ms: float = 2.0  # client-span duration when the target has no telemetry (db, cache, queue)
    query: str | None = None  # db.query.text
    table: str | None = None  # db.collection.name
    log: str | None = None  # warn line the caller logs after the call ({ms} = duration)


@dataclass(frozen=True)
class Svc:
    name: str
    op: str = ""  # server span name ("" for uninstrumented backends: db, cache, queue)
    version: str = "1.0.0"
    commit: str = "0000000"
    lang: str = "go"
    self_ms: float = 6.0
    calls: tuple[Call, ...] = ()
    log_style: str = "otlp"  # otlp (ids as structured metadata) | logfmt | json (ids in the line)
    old_semconv: bool = False  # deployment.environment, vcs.repository.ref.revision, db.statement
    system: str = ""  # for uninstrumented backends: postgresql, redis, kafka
    cpu: float = 0.2  # cores at baseline
    mem_mb: float = 220.0
    info: tuple[str, ...] = ()  # info log templates

    @property
    def instrumented(self) -> bool:
        return bool(self.op)


@dataclass(frozen=True)
class Fault:
    """A fault effect. Times are seconds relative to onset."""

    kind: str  # latency errors slow_call call_fail wrong_value new_call cpu memory disk
    # packet_loss sockets traffic blip
    service: str
    start: float = 0.0
    ramp: float = 0.0
    end: float | None = None
    rate: float = 1.0
    ms: float = 0.0
    mult: float = 1.0
    target: str | None = None
    op: str | None = None
    exc_type: str = ""
    message: str = ""
    query: str | None = None
    table: str | None = None
    flag: str | None = None
    version: str | None = None  # only requests served by this version are affected
    log: str | None = None
    log_level: str = "error"
    code: int = 500
    stack: str = ""  # exception.stacktrace of the fault's own exception events ("" = generic)


@dataclass(frozen=True)
class Flag:
    service: str
    key: str
    on_fraction: float = 1.0
    since: float = 0.0  # relative to onset; before it the variant is "off"
    legacy_event: bool = False  # event "feature_flag" + feature_flag.variant (pre-1.29 names)


@dataclass(frozen=True)
class FileDiff:
    """One changed file of a deploy's diff: ``patch`` is the unified-diff hunks (no header)."""

    path: str
    patch: str
    status: str = "modified"  # added | modified | removed (GitHub's words)


@dataclass(frozen=True)
class DiffSpec:
    """What a deploy changed, recorded as the GitHub compare response of previous...this commit."""

    message: str
    files: tuple[FileDiff, ...]
    author: str = "dev"


@dataclass(frozen=True)
class DeploySpec:
    service: str
    at: float  # seconds relative to onset
    version: str
    commit: str
    kind: str = "deploy"  # deploy | config | feature_flag
    description: str = ""
    author: str = "ci-bot"
    annotation: bool = True
    deploys_json: bool = True
    changes_version: bool = True
    diff: DiffSpec | None = None  # writes git/github/shop/<service>/compare/<prev>...<commit>.json


@dataclass(frozen=True)
class Noise:
    service: str
    line: str
    level: str = "error"
    per_min: float = 2.0
    start: float = -1e9
    end: float = 1e9


@dataclass(frozen=True)
class AlertSpec:
    name: str
    service: str
    kind: str  # latency errors cpu memory disk traffic sockets
    threshold: float
    summary: str
    severity: str = "critical"
    delay: float = 180.0  # startsAt - onset


@dataclass(frozen=True)
class ScenarioSpec:
    id: str
    title: str
    description: str
    onset: str  # RFC3339
    services: tuple[Svc, ...]
    entry: str
    alert: AlertSpec
    truth: dict[str, Any]
    rps: float = 12.0
    tags: tuple[str, ...] = ()
    faults: tuple[Fault, ...] = ()
    flags: tuple[Flag, ...] = ()
    deploys: tuple[DeploySpec, ...] = ()
    noise: tuple[Noise, ...] = ()
    label: str = "service"  # metric/alert service label: service | service_name | app
    exemplars: bool = True
    simulate: dict[str, str] = field(default_factory=dict)
    trace_format: str = "mix"  # v1 | v2 | mix
    remediation: str = ""
    origin: str = "synthetic"
    baseline_min: float = 15.0
    settings: dict[str, Any] = field(default_factory=dict)  # operator settings (scenario.yaml)
