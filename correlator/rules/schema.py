"""Typed schema of ``rules/*.yaml`` (pydantic, ``extra="forbid"``; nothing is ever evaluated).

A rules file is a mapping with any of these keys (several files are merged by ``loader``):

- ``rules``: which signals apply to which alerts (alertname regex + label regex matchers) and
  their weights.
- ``weights``: default weight per signal (used when a matching rule does not override it).
- ``metrics``: PromQL templates per resource/traffic signal, rendered per implicated service.
- ``remediation``: command templates (kubectl, helm, Argo CD rollback; disable flag; scale;
  restart) and verify-metric templates per fault type.
- ``next_queries``: what a human should run when a piece of evidence is missing.
- ``thresholds``: numeric knobs of the signals and of the no-fault / insufficient outcomes.
- ``settings``: label names used when rendering templates.
- ``fault_typing``: which evidence facts support which fault type, with what weight
  (``FaultTyping``; evaluated by ``faults.verdict``).

Templates are rendered only through ``correlator.templating.render_string`` (sandboxed,
StrictUndefined) with label values escaped for their destination (PromQL string, shell word).
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from correlator.models import Alert, FaultType


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SignalName(StrEnum):
    ERROR_ORIGIN = "error_origin"
    LATENCY_ORIGIN = "latency_origin"
    LOGS = "logs"
    CHANGE = "change"
    RESOURCE = "resource"
    TOPOLOGY = "topology"
    TRAFFIC = "traffic"


class MetricSignal(StrEnum):
    """What a rules-defined PromQL template measures (``MetricSeries.signal``)."""

    CPU = "cpu"
    CPU_THROTTLING = "cpu_throttling"
    MEMORY = "memory"
    DISK = "disk"
    RESTARTS = "restarts"
    FDS = "fds"
    PACKET_DROPS = "packet_drops"
    TARGETS_DOWN = "targets_down"
    REQUEST_RATE = "request_rate"
    ERROR_RATIO = "error_ratio"
    LATENCY = "latency"


_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regex {value!r}: {exc}") from exc
    return value


class Matcher(Strict):
    """Regexes (full match) on the alertname and on label values. All must match."""

    alertname: str = ".*"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("alertname")
    @classmethod
    def _alertname_regex(cls, v: str) -> str:
        return _check_regex(v)

    @field_validator("labels")
    @classmethod
    def _label_regexes(cls, v: dict[str, str]) -> dict[str, str]:
        for name, rx in v.items():
            if not _LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r}")
            _check_regex(rx)
        return v

    def matches(self, alert: Alert) -> bool:
        if not re.fullmatch(self.alertname, alert.alertname):
            return False
        for name, rx in self.labels.items():
            value = alert.labels.get(name)
            if value is None or not re.fullmatch(rx, value):
                return False
        return True


class Rule(Strict):
    name: str = Field(min_length=1, max_length=128)
    description: str = ""
    match: Matcher = Field(default_factory=Matcher)
    signals: list[SignalName] = Field(min_length=1)
    weights: dict[SignalName, float] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, v: dict[SignalName, float]) -> dict[SignalName, float]:
        for k, w in v.items():
            if w < 0:
                raise ValueError(f"weight of {k} must be >= 0")
        return v


class MetricTemplate(Strict):
    """One PromQL template; variables: ``service``, ``namespace`` (escaped), ``service_label``."""

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    signal: MetricSignal
    expr: str = Field(min_length=1, max_length=4096)
    description: str = ""


class RollbackTemplates(Strict):
    """Rollback command templates per tool; variables are shell-quoted before rendering."""

    kubectl: str = ""
    helm: str = ""
    argocd: str = ""


class RemediationTemplates(Strict):
    """Commands are proposals only: rendered into the note, never executed."""

    rollback: RollbackTemplates = Field(default_factory=RollbackTemplates)
    disable_flag: list[str] = Field(default_factory=list)
    revert_config: list[str] = Field(default_factory=list)
    scale: list[str] = Field(default_factory=list)
    restart: list[str] = Field(default_factory=list)
    verify: dict[FaultType, str] = Field(
        default_factory=dict, description="PromQL that should recover, per fault type"
    )
    verify_default: str = ""
    risk: dict[str, str] = Field(default_factory=dict, description="remediation kind -> risk")
    llm_command_shapes: list[str] = Field(
        default_factory=list,
        description="anchored regexes: the only command shapes an LLM proposal may show",
    )
    llm_command_deny: list[str] = Field(
        default_factory=list, description="extra regexes of refused (destructive) commands"
    )


class NextQueries(Strict):
    """Templates of what a human should run when evidence is missing (per evidence kind)."""

    traces: str = ""
    logs: str = ""
    exemplars: str = ""
    deploys: str = ""
    metrics: str = ""


class Thresholds(Strict):
    change_lookback_minutes: float = Field(default=120.0, gt=0)
    change_grace_minutes: float = Field(default=2.0, ge=0)
    change_half_life_minutes: float = Field(default=30.0, gt=0)
    min_change_score: float = Field(
        default=0.2, ge=0, le=1, description="below: a change is context, not the suspect"
    )
    diff_touch_factor: float = Field(
        default=1.3, ge=1, description="change score x this when its diff touches the failing code"
    )
    diff_docs_only_factor: float = Field(
        default=0.15, ge=0, le=1, description="change score x this when its diff is docs/tests only"
    )
    resource_robust_z: float = Field(default=3.0, gt=0)
    resource_guard_seconds: float = Field(default=90.0, ge=0)
    resource_min_relative: float = Field(
        default=0.1,
        ge=0,
        description="the level after the change must exceed the median by this fraction",
    )
    resource_min_delta: dict[MetricSignal, float] = Field(
        default_factory=dict,
        description="absolute minimum rise per metric signal, in the series' unit "
        "(e.g. packet_drops: 0.5 packets/s); sparse counters need it",
    )
    resource_min_effect: float = Field(
        default=2.0, ge=0, description="Cohen's d of after vs before the change point"
    )
    traffic_ratio: float = Field(default=2.0, gt=1)
    traffic_min_baseline: int = Field(
        default=6,
        ge=2,
        description="reference samples a request-rate ratio needs (and 3 after the split): "
        "fewer make no traffic claim",
    )
    latency_ratio: float = Field(default=2.0, gt=1)
    latency_min_excess_ms: float = Field(default=20.0, ge=0)
    loss_dispersion: float = Field(
        default=0.6, gt=0, description="CV of network time above which delay looks like loss"
    )
    log_surge_ratio: float = Field(default=3.0, gt=1)
    log_min_count: int = Field(default=3, ge=1)
    min_score: float = Field(default=0.5, ge=0, description="weighted total below: no accusation")
    min_anomaly: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="a service's own strongest anomaly below: no accusation",
    )
    max_hypotheses: int = Field(default=5, ge=1, le=20)
    inconclusive_below: float = Field(
        default=0.45,
        ge=0,
        le=1,
        description="top confidence below: the analysis is inconclusive and names next queries "
        "(calibration in docs/accuracy.md: below about 0.45 the top suspect was mostly wrong)",
    )


class Settings(Strict):
    service_label: str = Field(
        default="service",
        description="label name for {{ service_label }} when the alert carries none of "
        "alert_service_labels (else the first of those it carries)",
    )
    namespace_label: str = "namespace"
    alert_service_labels: list[str] = Field(
        default_factory=lambda: ["service", "service_name", "app", "job"],
        description="labels that may name the service in PromQL templates: the first one the "
        "alert carries becomes {{ service_label }}. Only the label *name* for templates; which "
        "service an alert is about is settings.prometheus.service_labels (models.alert_service)",
    )

    @field_validator("service_label", "namespace_label")
    @classmethod
    def _label_name(cls, v: str) -> str:
        if not _LABEL_NAME.match(v):
            raise ValueError(f"invalid label name {v!r}")
        return v

    @field_validator("alert_service_labels")
    @classmethod
    def _label_names(cls, v: list[str]) -> list[str]:
        for name in v:
            cls._label_name(name)
        return v


# Evidence facts a fault-typing row may name (docs/rules.md, "Fault typing"). Tags the signals
# put on a service, plus facts ``faults.facts`` derives: ``signal:<name>`` (that signal scored
# the service), ``change`` / ``change:<kind>`` (a suspect change), ``latency_dominant`` (latency
# blame >= error blame) and ``traffic_dominant`` (traffic >= half the strongest other signal).
SIGNAL_TAGS = frozenset(
    {
        "exception", "network_error", "db", "backend", "caller_query", "new_query",
        "bad_response", "client_error", "bad_target", "unreachable", "waits_on_all_callees",
        "self_time", "network_delay", "network_loss", "cpu", "memory", "disk", "restarts",
        "socket", "oom", "config", "packet_drops", "cpu_throttled", "traffic",
        "load_from_surge", "chronic", "own_golden",
        "flag_new", "flag_on_failing", "new_version_on_incident_spans",
        "diff_touches_failing_path", "diff_docs_or_tests_only",
    }
)  # fmt: skip
DERIVED_FACTS = frozenset(
    {"change", "latency_dominant", "traffic_dominant", "alert:errors", "alert:latency", "traced"}
    | {"errors_elsewhere"}
    | {f"signal:{s.value}" for s in SignalName}
    | {"change:deploy", "change:version_change", "change:config", "change:feature_flag"}
)
KNOWN_FACTS = SIGNAL_TAGS | DERIVED_FACTS


def _check_facts(v: list[str]) -> list[str]:
    unknown = sorted(set(v) - KNOWN_FACTS)
    if unknown:
        raise ValueError(
            f"unknown evidence fact(s) {', '.join(map(repr, unknown))}; known: "
            + ", ".join(sorted(KNOWN_FACTS))
        )
    return v


class FaultEvidence(Strict):
    """One row: when every fact of ``when`` holds and none of ``unless``, ``weight`` (times the
    service's score on ``scale``, if set) is added to ``fault``'s total."""

    fault: FaultType
    when: list[str] = Field(min_length=1)
    unless: list[str] = Field(default_factory=list)
    weight: float = Field(gt=0)
    scale: SignalName | None = None
    why: str = ""

    @field_validator("when", "unless")
    @classmethod
    def _facts(cls, v: list[str]) -> list[str]:
        return _check_facts(v)


class FaultTyping(Strict):
    """Fault type as evidence combination: per fault type, the sum of the weights of its rows
    that hold; the highest total wins. Ties go to the fault whose first holding row comes
    earlier in ``evidence``. No row holding: ``default``."""

    default: FaultType = FaultType.CODE_ERROR
    evidence: list[FaultEvidence] = Field(min_length=1)


class RulesFile(Strict):
    """One YAML file as written; all keys optional."""

    rules: list[Rule] = Field(default_factory=list)
    weights: dict[SignalName, float] = Field(default_factory=dict)
    metrics: list[MetricTemplate] = Field(default_factory=list)
    remediation: RemediationTemplates | None = None
    next_queries: NextQueries | None = None
    thresholds: Thresholds | None = None
    settings: Settings | None = None
    fault_typing: FaultTyping | None = None
