"""Prometheus HTTP API: exemplars, range queries, series discovery and alerting-rule expressions.

``_PrometheusApi`` only speaks HTTP (GET with params; the expression arrives already built and
escaped by ``correlator.evidence``); ``PrometheusSource`` maps wire JSON to domain models and
satisfies ``ports.ExemplarSource``, ``ports.MetricsSource``, ``ports.SeriesSource`` and
``ports.RuleExprSource``. ``/api/v1/series`` (``match[]`` repeated, ``start``/``end``) answers
``data`` as a list of label sets; selectors go ``SERIES_CHUNK`` per request so no URL grows
past a few kilobytes.

Wire facts (REFERENCE.md §1, wire-formats.md §2): envelope ``{"status", "data", "errorType",
"error"}``; sample values are strings (``"NaN"``, ``"+Inf"``, ``"-Inf"`` too) and timestamps
float seconds; exemplar trace ids live under ``trace_id`` or ``traceID`` (``settings.
trace_id_labels``); native-histogram samples (``histogram``/``histograms``) carry no float value
and are skipped. Works with Prometheus and API-compatible backends (Mimir, Thanos, VictoriaMetrics;
``tenant`` sets ``X-Scope-OrgID``).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors._http import BackendClient, Params
from correlator.errors import BackendBadResponse, BackendRejected
from correlator.metrics import Metrics
from correlator.models import Exemplar, MetricSeries, TimeWindow
from correlator.settings import PrometheusSettings
from correlator.wire.ids import try_normalize_span_id, try_normalize_trace_id

BACKEND = "prometheus"
SPAN_ID_LABELS = ("span_id", "spanID", "spanId")
MAX_POINTS = 11_000  # Prometheus' own per-series cap for query_range
SERIES_CHUNK = 40  # match[] selectors per /api/v1/series request


def _ts(value: datetime) -> str:
    return f"{value.timestamp():.3f}"


class _PrometheusApi:
    """Raw Prometheus HTTP API: the ``data`` member of successful envelopes."""

    def __init__(self, http: BackendClient) -> None:
        self.http = http

    async def _data(self, path: str, params: Params, cache_ttl: float | None = None) -> Any:
        body = await self.http.get_json(path, params=params, cache_ttl=cache_ttl)
        if not isinstance(body, dict):
            raise BackendBadResponse(BACKEND, f"{path}: body is {type(body).__name__}")
        if body.get("status") != "success":
            detail = ": ".join(str(body[k]) for k in ("errorType", "error") if body.get(k))
            raise BackendRejected(BACKEND, f"{path}: {detail or 'status is not success'}")
        return body.get("data")

    async def query_exemplars(self, query: str, window: TimeWindow) -> Any:
        params = {"query": query, "start": _ts(window.start), "end": _ts(window.end)}
        ttl = self.http.settled_ttl(window.end)
        return await self._data("/api/v1/query_exemplars", params, ttl)

    async def query_range(self, query: str, window: TimeWindow, step: str) -> Any:
        params = {"query": query, "start": _ts(window.start), "end": _ts(window.end), "step": step}
        return await self._data("/api/v1/query_range", params, self.http.settled_ttl(window.end))

    async def series(self, matchers: Sequence[str], window: TimeWindow) -> Any:
        params: Params = {
            "match[]": list(matchers),
            "start": _ts(window.start),
            "end": _ts(window.end),
        }
        return await self._data("/api/v1/series", params, self.http.settled_ttl(window.end))

    async def alert_rules(self) -> Any:
        return await self._data("/api/v1/rules", {"type": "alert"})


class PrometheusSource:
    """Exemplars, range queries and rule expressions from one Prometheus-compatible backend."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: PrometheusSettings,
        *,
        metrics: Metrics | None = None,
        http: BackendClient | None = None,
    ) -> None:
        self._api = _PrometheusApi(
            http or BackendClient(BACKEND, client, settings, metrics=metrics)
        )
        self._settings = settings

    async def query_exemplars(self, expr: str, window: TimeWindow) -> list[Exemplar]:
        """Exemplars carrying a valid trace id (normalised hex) for ``expr``'s selectors."""
        data = await self._api.query_exemplars(expr, window)
        if data is None:
            return []
        if not isinstance(data, list):
            raise BackendBadResponse(BACKEND, "query_exemplars: data is not a list")
        out: list[Exemplar] = []
        for group in data:
            if not isinstance(group, Mapping):
                continue
            series = _labels(group.get("seriesLabels"))
            for raw in _list(group.get("exemplars")):
                ex = self._exemplar(raw, series)
                if ex is not None:
                    out.append(ex)
        return out

    def _exemplar(self, raw: Any, series: dict[str, str]) -> Exemplar | None:
        if not isinstance(raw, Mapping):
            return None
        labels = _labels(raw.get("labels"))
        trace_id = _first_id(labels, self._settings.trace_id_labels, try_normalize_trace_id)
        value = parse_value(raw.get("value"))
        when = parse_time(raw.get("timestamp"))
        if trace_id is None or value is None or when is None:
            return None
        return Exemplar(
            trace_id=trace_id,
            span_id=_first_id(labels, SPAN_ID_LABELS, try_normalize_span_id),
            value=value,
            timestamp=when,
            series_labels=series,
            labels=labels,
        )

    async def series(self, matchers: Sequence[str], window: TimeWindow) -> list[dict[str, str]]:
        """Label sets of the series matching any of ``matchers`` with samples in ``window``."""
        chunks = [matchers[i : i + SERIES_CHUNK] for i in range(0, len(matchers), SERIES_CHUNK)]
        answers = await asyncio.gather(*(self._api.series(c, window) for c in chunks))
        out: list[dict[str, str]] = []
        for data in answers:
            if not isinstance(data, list):
                raise BackendBadResponse(BACKEND, "series: data is not a list")
            out.extend(_labels(item) for item in data if isinstance(item, Mapping))
        return out

    async def query_range(
        self, expr: str, window: TimeWindow, step_seconds: float
    ) -> list[MetricSeries]:
        """Matrix series of ``expr``; values as floats (NaN/Inf kept), histogram samples skipped."""
        step = max(step_seconds, window.seconds / MAX_POINTS, 0.001)
        data = await self._api.query_range(expr, window, f"{step:.3f}".rstrip("0").rstrip("."))
        if not isinstance(data, Mapping):
            raise BackendBadResponse(BACKEND, "query_range: data is not an object")
        kind = data.get("resultType")
        result = data.get("result")
        if kind != "matrix" or not isinstance(result, list):
            raise BackendBadResponse(BACKEND, f"query_range: resultType {kind!r}, not a matrix")
        evidence_id = "metric:" + hashlib.sha256(expr.encode()).hexdigest()[:12]
        return [self._series(item, expr, evidence_id) for item in result if isinstance(item, dict)]

    def _series(self, item: Mapping[str, Any], expr: str, evidence_id: str) -> MetricSeries:
        labels = _labels(item.get("metric"))
        points: list[tuple[float, float]] = []
        for pair in _list(item.get("values")):
            if isinstance(pair, list) and len(pair) == 2:
                value = parse_value(pair[1])
                t = _seconds(pair[0])
                if value is not None and t is not None:
                    points.append((t, value))
        service = next(
            (labels[k] for k in self._settings.service_labels if labels.get(k)),
            None,
        )
        return MetricSeries(
            evidence_id=evidence_id,
            name=labels.get("__name__") or expr[:200],
            query=expr,
            labels=labels,
            points=points,
            service=service,
        )

    async def alert_rule_expr(self, alertname: str) -> str | None:
        """The ``query`` of the first alerting rule named ``alertname`` (``None`` if unknown)."""
        data = await self._api.alert_rules()
        groups = data.get("groups") if isinstance(data, Mapping) else None
        if not isinstance(groups, list):
            raise BackendBadResponse(BACKEND, "rules: data.groups is not a list")
        for group in groups:
            for rule in _list(group.get("rules")) if isinstance(group, Mapping) else []:
                if not isinstance(rule, Mapping) or rule.get("name") != alertname:
                    continue
                if rule.get("type", "alerting") == "alerting" and isinstance(
                    rule.get("query"), str
                ):
                    return str(rule["query"])
        return None


def parse_value(raw: Any) -> float | None:
    """A Prometheus sample value: a string (``"1"``, ``"NaN"``, ``"+Inf"``) or a number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return None
    return None


def _seconds(raw: Any) -> float | None:
    value = parse_value(raw)
    return value if value is not None and math.isfinite(value) else None


def parse_time(raw: Any) -> datetime | None:
    """Float unix seconds -> aware UTC datetime."""
    seconds = _seconds(raw)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str | int | float)}


def _first_id(labels: Mapping[str, str], names: Any, normalize: Any) -> str | None:
    for name in names:
        value = labels.get(name)
        if value:
            normalized: str | None = normalize(value)
            if normalized:
                return normalized
    return None
