"""Evidence: what the chain gathered, each piece inside a status envelope.

Every item has a stable id (``trace:<hex>``, ``logs:<hex>``, ``patterns:<service>``,
``deploy:<...>``, ``change:<...>``, ``metric:<name>``, ``exemplars:<expr-hash>``,
``diff:<service>:<base>..<head>``) that hypotheses
cite and that the LLM stages must cite back. Trace and span ids are always lowercase hex here
(32 and 16 chars); connectors normalise at the boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from correlator.models.alert import Alert, TimeWindow, no_nul
from correlator.models.diff import ChangeDiff
from correlator.models.feedback import IncidentMemory

AttrValue = str | int | float | bool | list[str] | list[int] | list[float] | list[bool]
Attributes = dict[str, AttrValue]


class EvidenceStatus(StrEnum):
    OK = "ok"
    NO_DATA = "no_data"
    ERROR = "error"
    TIMEOUT = "timeout"
    NOT_CONFIGURED = "not_configured"


class EvidenceKind(StrEnum):
    EXEMPLARS = "exemplars"
    TRACE = "trace"
    TRACE_SEARCH = "trace_search"
    TRACE_LOGS = "trace_logs"
    LOG_PATTERNS = "log_patterns"
    DEPLOYS = "deploys"
    CHANGE = "change"
    METRIC = "metric"
    RULE_EXPR = "rule_expr"
    DIFF = "diff"
    MEMORY = "memory"


class Evidence(BaseModel):
    """The status envelope (HolmesGPT ``StructuredToolResult`` style): never an exception."""

    id: str
    kind: EvidenceKind
    status: EvidenceStatus
    source: str = Field(description="backend name: prometheus, tempo, loki, grafana, correlator")
    query: str = ""
    elapsed_ms: float = 0.0
    error: str | None = None
    link: str | None = Field(default=None, description="deep link built from configured URLs only")
    summary: str = ""
    service: str | None = None


class Exemplar(BaseModel):
    model_config = ConfigDict(frozen=True)

    trace_id: str
    span_id: str | None = None
    value: float
    timestamp: datetime
    series_labels: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class SpanKind(StrEnum):
    UNSPECIFIED = "unspecified"
    INTERNAL = "internal"
    SERVER = "server"
    CLIENT = "client"
    PRODUCER = "producer"
    CONSUMER = "consumer"


class SpanStatus(StrEnum):
    UNSET = "unset"
    OK = "ok"
    ERROR = "error"


class Resource(BaseModel):
    """OTel resource, with semconv renames folded (both old and new names accepted)."""

    service: str = "unknown"
    version: str | None = None
    commit: str | None = None
    environment: str | None = None
    namespace: str | None = None
    k8s_pod: str | None = None
    k8s_deployment: str | None = None
    attributes: Attributes = Field(default_factory=dict)


class SpanEvent(BaseModel):
    name: str
    time: datetime
    attributes: Attributes = Field(default_factory=dict)


class FlagEvaluation(BaseModel):
    """A ``feature_flag.evaluation`` (or legacy ``feature_flag``) span event."""

    key: str
    variant: str | None = None
    provider: str | None = None
    service: str
    span_id: str
    time: datetime


class Span(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str
    kind: SpanKind = SpanKind.UNSPECIFIED
    start: datetime
    end: datetime
    status: SpanStatus = SpanStatus.UNSET
    status_message: str = ""
    attributes: Attributes = Field(default_factory=dict)
    events: list[SpanEvent] = Field(default_factory=list)
    resource: Resource = Field(default_factory=Resource)

    @property
    def service(self) -> str:
        return self.resource.service

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000.0

    @property
    def is_error(self) -> bool:
        """Status ``ERROR``; or, with status left ``UNSET`` (instrumentations and Jaeger/Zipkin
        clients that never set it), what the span's attributes say: the OpenTracing ``error``
        tag, OTel's ``error.type``, an HTTP status >= 500 or a gRPC server-error code. ``OK``
        set explicitly always wins."""
        if self.status is not SpanStatus.UNSET:
            return self.status is SpanStatus.ERROR
        return failed_by_attributes(self.attributes)


_HTTP_STATUS = ("http.response.status_code", "http.status_code")
# OTel semconv: the gRPC codes a server span marks as an error (UNKNOWN, DEADLINE_EXCEEDED,
# UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS); NotFound and the like are the client's.
_GRPC_SERVER_ERRORS = frozenset({2, 4, 12, 13, 14, 15})


def failed_by_attributes(attrs: Attributes) -> bool:
    """A span whose status was never set, judged by the attributes that conventions use."""
    flag = attrs.get("error")
    if flag is True or (isinstance(flag, str) and flag.lower() == "true"):
        return True
    if isinstance(attrs.get("error.type"), str) and attrs["error.type"]:
        return True
    for key in _HTTP_STATUS:
        code = _int(attrs.get(key))
        if code is not None and code >= 500:
            return True
    grpc = _int(attrs.get("rpc.grpc.status_code"))
    return grpc in _GRPC_SERVER_ERRORS


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


class Trace(BaseModel):
    trace_id: str
    spans: list[Span] = Field(default_factory=list)


class ServiceEdge(BaseModel):
    caller: str
    callee: str
    calls: int = 1
    errors: int = 0


class TraceAnalysis(BaseModel):
    """Derived facts of one trace (computed by ``correlator.evidence.traces``)."""

    root_service: str | None = None
    root_span_name: str | None = None
    duration_ms: float = 0.0
    error_span_ids: list[str] = Field(default_factory=list)
    root_error_span_id: str | None = Field(
        default=None, description="deepest erroring span with no erroring children"
    )
    root_error_service: str | None = None
    self_time_ms: dict[str, float] = Field(
        default_factory=dict, description="per-service self time on the critical path"
    )
    critical_path: list[str] = Field(default_factory=list, description="span ids, root first")
    edges: list[ServiceEdge] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict, description="service -> version")
    commits: dict[str, str] = Field(default_factory=dict, description="service -> commit")
    flags: list[FlagEvaluation] = Field(default_factory=list)
    db_statements: list[str] = Field(default_factory=list)
    exceptions: list[str] = Field(default_factory=list, description="exception type: message")


class TraceEvidence(BaseModel):
    evidence_id: str
    trace: Trace
    analysis: TraceAnalysis
    from_exemplar: bool = True
    baseline: bool = Field(default=False, description="a pre-onset trace used for comparison")


class LogLine(BaseModel):
    timestamp: datetime
    line: str
    labels: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict, description="Loki structured metadata")
    service: str | None = None
    level: str | None = None
    trace_id: str | None = None
    span_id: str | None = None


class TraceLogs(BaseModel):
    evidence_id: str
    trace_id: str
    lines: list[LogLine] = Field(default_factory=list)


class LogPattern(BaseModel):
    """A mined log template for one service: now vs baseline."""

    service: str
    template: str
    level: str | None = None
    count: int
    baseline_count: int = 0
    is_new: bool = False
    samples: list[str] = Field(default_factory=list)


class ServiceLogPatterns(BaseModel):
    evidence_id: str
    service: str
    window: TimeWindow
    baseline: TimeWindow
    patterns: list[LogPattern] = Field(default_factory=list)
    error_count: int = 0
    baseline_error_count: int = 0


class ChangeKind(StrEnum):
    DEPLOY = "deploy"
    VERSION_CHANGE = "version_change"
    CONFIG = "config"
    FEATURE_FLAG = "feature_flag"


class Deploy(BaseModel):
    """A deploy as CI/CD POSTs it to ``/api/v1/deploys``."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=256)
    version: str | None = Field(default=None, max_length=256)
    commit: str | None = Field(default=None, max_length=128)
    environment: str | None = Field(default=None, max_length=128)
    time: datetime
    url: str | None = Field(default=None, max_length=2048)
    author: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=4096)
    kind: ChangeKind = ChangeKind.DEPLOY

    @field_validator("service", "environment")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        """Indexed columns: PostgreSQL text cannot hold NUL (a 500 there, D10)."""
        return no_nul(value) if value is not None else None

    @field_validator("time")
    @classmethod
    def _representable_in_utc(cls, value: datetime) -> datetime:
        """``9999-12-31T23:59:59-14:00`` overflows once converted to UTC (a 500, D10)."""
        try:
            utc = value.astimezone(UTC) if value.tzinfo else value
        except OverflowError as exc:
            raise ValueError("time out of range once converted to UTC") from exc
        if not 1970 <= utc.year <= 9000:
            raise ValueError("time out of range (1970..9000)")
        return value


class Change(BaseModel):
    evidence_id: str
    service: str
    kind: ChangeKind
    time: datetime
    source: str = Field(description="grafana, deploy_api, trace, metric")
    from_version: str | None = None
    to_version: str | None = None
    from_commit: str | None = None
    to_commit: str | None = None
    environment: str | None = None
    url: str | None = Field(default=None, description="compare/commit URL (configured template)")
    author: str | None = None
    description: str | None = None
    flag_key: str | None = None


class MetricSeries(BaseModel):
    evidence_id: str
    name: str
    query: str
    labels: dict[str, str] = Field(default_factory=dict)
    points: list[tuple[float, float]] = Field(
        default_factory=list, description="(unix seconds, value); NaN/Inf kept as floats"
    )
    service: str | None = None
    signal: str | None = Field(default=None, description="rules signal that asked for it")


class MetricQuery(BaseModel):
    """A per-service PromQL query that rules ask the evidence chain to run."""

    name: str
    expr: str
    service: str | None = None
    signal: str | None = None


class EvidenceBundle(BaseModel):
    """Everything gathered for one alert. Typed payloads point back to their envelope by id."""

    alert: Alert
    window: TimeWindow
    onset: datetime
    expr: str | None = None
    expr_source: str = "none"
    alert_service: str | None = None
    items: list[Evidence] = Field(default_factory=list)
    exemplars: list[Exemplar] = Field(default_factory=list)
    traces: list[TraceEvidence] = Field(default_factory=list)
    trace_logs: list[TraceLogs] = Field(default_factory=list)
    log_patterns: list[ServiceLogPatterns] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)
    metrics: list[MetricSeries] = Field(default_factory=list)
    redactions: dict[str, int] = Field(
        default_factory=dict, description="secrets redacted when the evidence entered, by type"
    )
    diffs: list[ChangeDiff] = Field(
        default_factory=list, description="compare results of suspect changes (Git provider)"
    )
    memory: IncidentMemory | None = Field(
        default=None, description="similar past incidents and the track record (docs/feedback.md)"
    )

    def ids(self) -> set[str]:
        return {e.id for e in self.items}

    def missing(self) -> list[Evidence]:
        bad = {EvidenceStatus.ERROR, EvidenceStatus.TIMEOUT, EvidenceStatus.NOT_CONFIGURED}
        return [e for e in self.items if e.status in bad]
