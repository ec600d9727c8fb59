"""The backends the evidence chain reads, as ports. ``None`` = not configured: the matching
evidence is recorded with status ``not_configured`` instead of being silently absent."""

from __future__ import annotations

from dataclasses import dataclass

from correlator.ports import (
    AnnotationSource,
    ChangeSource,
    DeployStore,
    ExemplarSource,
    LogSource,
    MetricsSource,
    RuleExprSource,
    SeriesSource,
    TraceSearch,
    TraceSource,
)


@dataclass(frozen=True)
class EvidenceSources:
    exemplars: ExemplarSource | None = None
    metrics: MetricsSource | None = None
    series: SeriesSource | None = None  # metric discovery (evidence/discovery.py); None: skip
    rule_exprs: RuleExprSource | None = None
    traces: TraceSource | None = None
    trace_search: TraceSearch | None = None
    logs: LogSource | None = None
    annotations: AnnotationSource | None = None
    deploys: DeployStore | None = None
    changes: ChangeSource | None = None
