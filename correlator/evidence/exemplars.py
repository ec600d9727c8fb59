"""Which exemplars matter for an alert, and which service the alert is about.

Latency alerts (``wire.alertexpr.measures_latency``: a bucket, duration or latency series):
the slowest exemplars. Error alerts (``measures_errors``): exemplars on error series
(status/code label 5xx, or an error-ish value such as ``error``/``fail``; or an error-named
metric). Exemplars whose
series contradicts the alert's own labels (another ``route``) are dropped first. Deduplicated by
trace id (lowercase hex), capped at ``settings.prometheus.max_exemplars``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from correlator.models import Exemplar
from correlator.models.alert import alert_service
from correlator.settings import Settings
from correlator.wire.alertexpr import measures_errors, measures_latency
from correlator.wire.ids import try_normalize_trace_id
from correlator.wire.promql import series_labels

_ERROR_VALUE = re.compile(r"^(5\d\d|5xx|error|err|failed?|failure|exception|fatal|internal)$", re.I)
_GRPC_ERROR = frozenset({"unknown", "internal", "unavailable", "deadline_exceeded", "data_loss"})
_STATUS_LABELS = (
    "status",
    "code",
    "status_code",
    "http_status_code",
    "http_response_status_code",
    "response_code",
    "grpc_code",
    "rpc_grpc_status_code",
    "outcome",
    "result",
    "error",
    "otel_status_code",
)
_ERROR_METRIC = re.compile(r"error|fail|exception", re.I)


def is_error_series(labels: Mapping[str, str]) -> bool:
    """True when the exemplar's series is an error series (5xx status, error outcome...)."""
    for name in _STATUS_LABELS:
        value = labels.get(name)
        if value is None:
            continue
        if _ERROR_VALUE.match(value) or value.lower() in _GRPC_ERROR:
            return True
        if name == "error" and value.lower() in ("true", "1"):
            return True
    return bool(_ERROR_METRIC.search(labels.get("__name__", "")))


def matches_alert(ex: Exemplar, alert_series_labels: Mapping[str, str]) -> bool:
    """No label of the alert's series contradicts the exemplar's series labels."""
    return all(ex.series_labels.get(k, v) == v for k, v in alert_series_labels.items())


def select_exemplars(
    exemplars: Sequence[Exemplar],
    *,
    expr: str | None,
    alert_labels: Mapping[str, str],
    settings: Settings,
) -> list[Exemplar]:
    """The exemplars worth following for this alert, best first, with normalised trace ids."""
    cap = settings.prometheus.max_exemplars
    wanted = series_labels(alert_labels, settings.prometheus.external_labels)
    usable = [e for e in _normalised(exemplars) if matches_alert(e, wanted)]
    if not usable:
        return []
    # ties broken by trace id: the choice depends on the exemplars, never on the order the
    # backend listed them in
    by_value = sorted(usable, key=lambda e: (-e.value, -e.timestamp.timestamp(), e.trace_id))
    latest = sorted(usable, key=lambda e: (-e.timestamp.timestamp(), e.trace_id))
    if measures_latency(expr) and not _ERROR_METRIC.search(expr or ""):
        ranked = by_value
    elif measures_errors(expr):
        errors = [e for e in latest if is_error_series(e.series_labels)]
        ranked = errors or latest
    else:
        ranked = by_value
    return _dedupe(ranked)[:cap]


def _normalised(exemplars: Iterable[Exemplar]) -> list[Exemplar]:
    out: list[Exemplar] = []
    for ex in exemplars:
        tid = try_normalize_trace_id(ex.trace_id)
        if tid is None or ex.value != ex.value:  # NaN values cannot be ranked
            continue
        out.append(ex if tid == ex.trace_id else ex.model_copy(update={"trace_id": tid}))
    return out


def _dedupe(exemplars: Iterable[Exemplar]) -> list[Exemplar]:
    seen: set[str] = set()
    out: list[Exemplar] = []
    for ex in exemplars:
        if ex.trace_id not in seen:
            seen.add(ex.trace_id)
            out.append(ex)
    return out


def exemplar_service(exemplars: Sequence[Exemplar], settings: Settings) -> str | None:
    """Fallback: the service label shared by the selected exemplars' series."""
    for ex in exemplars:
        found = alert_service(ex.series_labels, settings.prometheus.service_labels)
        if found:
            return found
    return None
