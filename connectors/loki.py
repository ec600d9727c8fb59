"""Grafana Loki: log lines for a LogQL query (``ports.LogSource``).

``_LokiApi`` only speaks HTTP; ``LokiSource`` maps wire JSON to ``LogLine``s.

``GET /loki/api/v1/query_range?query=&start=<ns>&end=<ns>&limit=&direction=`` (``/query`` rejects
log queries since Loki 3.2). Two response encodings (wire-formats.md §4.1):

* with header ``X-Loki-Response-Encoding-Flags: categorize-labels`` (Loki >= 3.0, sent when
  ``settings.categorize_labels``): ``stream`` holds only indexed labels and each value is
  ``[ts, line, {"structuredMetadata": {...}, "parsed": {...}}]``;
* without it (or from an older Loki that ignores the header): structured metadata and parsed
  labels are merged into ``stream``, values are ``[ts, line]``, one stream per trace id.

Both map to the same ``LogLine``: ``labels`` = stream labels (+ parsed labels), ``metadata`` =
structured metadata; ``trace_id``/``span_id`` from metadata, then labels, normalised to hex;
``service`` from ``settings.service_labels`` (first present); ``level`` from ``level``,
``detected_level``, ``severity`` (lower-cased). Lines come back oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx

from connectors._http import BackendClient
from correlator.errors import BackendBadResponse
from correlator.metrics import Metrics
from correlator.models import LogLine, TimeWindow
from correlator.settings import LokiSettings
from correlator.wire.ids import try_normalize_span_id, try_normalize_trace_id

BACKEND = "loki"
ENCODING_HEADER = "X-Loki-Response-Encoding-Flags"
CATEGORIZE = "categorize-labels"
TRACE_ID_KEYS = ("trace_id", "traceID", "traceId", "trace.id")
SPAN_ID_KEYS = ("span_id", "spanID", "spanId", "span.id")
LEVEL_KEYS = ("level", "detected_level", "severity", "severity_text")
MAX_LINE = 8192
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_nanos(value: datetime) -> str:
    """Epoch nanoseconds as the decimal string Loki expects (exact, no float rounding)."""
    delta = value.astimezone(UTC) - _EPOCH
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)


def from_nanos(raw: Any) -> datetime | None:
    if isinstance(raw, bool):
        return None
    try:
        return _EPOCH + timedelta(microseconds=int(raw) // 1000)
    except (TypeError, ValueError, OverflowError):  # garbage, inf, beyond year 9999
        return None


class _LokiApi:
    def __init__(self, http: BackendClient, categorize: bool, direction: str) -> None:
        self.http = http
        self.headers = {ENCODING_HEADER: CATEGORIZE} if categorize else {}
        self.direction = direction

    async def query_range(
        self, query: str, start: str, end: str, limit: int, cache_ttl: float | None = None
    ) -> Any:
        params = {
            "query": query,
            "start": start,
            "end": end,
            "limit": str(limit),
            "direction": self.direction,
        }
        return await self.http.get_json(
            "/loki/api/v1/query_range", params=params, headers=self.headers, cache_ttl=cache_ttl
        )


class LokiSource:
    """Satisfies ``LogSource`` over one Loki (``tenant`` sets ``X-Scope-OrgID``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: LokiSettings,
        *,
        metrics: Metrics | None = None,
        http: BackendClient | None = None,
        direction: Literal["backward", "forward"] = "backward",
    ) -> None:
        http = http or BackendClient(BACKEND, client, settings, metrics=metrics)
        self._api = _LokiApi(http, settings.categorize_labels, direction)
        self._settings = settings

    async def query_range(self, logql: str, window: TimeWindow, limit: int) -> list[LogLine]:
        """Up to ``limit`` lines matching ``logql`` in ``window`` (end inclusive), oldest first."""
        end = window.end + timedelta(microseconds=1)  # Loki's end is exclusive
        ttl = self._api.http.settled_ttl(window.end)
        body = await self._api.query_range(
            logql, to_nanos(window.start), to_nanos(end), max(1, limit), ttl
        )
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, Mapping):
            raise BackendBadResponse(BACKEND, "query_range: no data object")
        kind = data.get("resultType")
        result = data.get("result")
        if kind != "streams" or not isinstance(result, list):
            raise BackendBadResponse(BACKEND, f"query_range: resultType {kind!r}, not streams")
        lines: list[LogLine] = []
        for stream in result:
            if isinstance(stream, Mapping):
                lines.extend(self._stream(stream))
        lines.sort(key=lambda ln: ln.timestamp)
        return lines[-limit:] if limit > 0 and self._api.direction == "backward" else lines[:limit]

    def _stream(self, stream: Mapping[str, Any]) -> list[LogLine]:
        labels = _strings(stream.get("stream"))
        out: list[LogLine] = []
        values = stream.get("values")
        for value in values if isinstance(values, list) else []:
            if not isinstance(value, list) or len(value) < 2:
                continue
            when = from_nanos(value[0])
            if when is None or not isinstance(value[1], str):
                continue
            extra = value[2] if len(value) > 2 and isinstance(value[2], Mapping) else {}
            out.append(self._line(when, value[1], labels, extra))
        return out

    def _line(
        self, when: datetime, text: str, labels: dict[str, str], extra: Mapping[str, Any]
    ) -> LogLine:
        metadata = _strings(extra.get("structuredMetadata"))
        merged = {**labels, **_strings(extra.get("parsed"))}
        lookup = {**merged, **metadata}  # structured metadata wins (as in Loki >= 3.7)
        return LogLine(
            timestamp=when,
            line=text[:MAX_LINE],
            labels=merged,
            metadata=metadata,
            service=next((lookup[k] for k in self._settings.service_labels if lookup.get(k)), None),
            level=next((lookup[k].lower() for k in LEVEL_KEYS if lookup.get(k)), None),
            trace_id=_first(lookup, TRACE_ID_KEYS, try_normalize_trace_id),
            span_id=_first(lookup, SPAN_ID_KEYS, try_normalize_span_id),
        )


def _strings(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str | int | float)}


def _first(values: Mapping[str, str], keys: tuple[str, ...], normalize: Any) -> str | None:
    for key in keys:
        if values.get(key):
            got: str | None = normalize(values[key])
            if got:
                return got
    return None
