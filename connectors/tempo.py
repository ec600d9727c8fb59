"""Grafana Tempo: trace by id (``ports.TraceSource``) and TraceQL search (``ports.TraceSearch``).

``_TempoApi`` only speaks HTTP; ``TempoSource`` maps wire JSON to domain models.

* Trace by id: ``GET /api/v2/traces/<32-hex>`` (Tempo >= 2.6, body ``{"trace": {...}}``); on a
  404 from that route, ``GET /api/traces/<32-hex>`` (v1, body ``{"batches": [...]}``). A 404 from
  both means "no such trace" (``None``). Once v1 answered where v2 said 404, v2 is skipped for the
  life of the source (an older Tempo). Trace bodies are cached (``trace_cache_ttl``).
* Search: ``GET /api/search?q=<TraceQL>&start=<s>&end=<s>&limit=<n>``; ``traceID`` comes back
  hex with leading zeros stripped and is padded to 32 hex here.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from connectors._http import BackendClient, Params
from correlator.errors import BackendBadResponse, BackendRejected
from correlator.metrics import Metrics
from correlator.models import TimeWindow, Trace
from correlator.settings import TempoSettings
from correlator.wire.ids import normalize_trace_id, try_normalize_trace_id
from correlator.wire.otlp import OtlpFormatError, parse_trace

BACKEND = "tempo"
_JSON = {"Accept": "application/json"}


class _TempoApi:
    """Raw Tempo HTTP API: returns decoded JSON, raises ``BackendError``s."""

    def __init__(self, http: BackendClient, trace_cache_ttl: float) -> None:
        self.http = http
        self.trace_cache_ttl = trace_cache_ttl

    async def trace_v2(self, hex_id: str) -> Any:
        return await self.http.get_json(
            f"/api/v2/traces/{hex_id}", headers=_JSON, cache_ttl=self.trace_cache_ttl
        )

    async def trace_v1(self, hex_id: str) -> Any:
        return await self.http.get_json(
            f"/api/traces/{hex_id}", headers=_JSON, cache_ttl=self.trace_cache_ttl
        )

    async def search(
        self, q: str, start: int, end: int, limit: int, cache_ttl: float | None = None
    ) -> Any:
        params: Params = {"q": q, "start": start, "end": end, "limit": limit}
        return await self.http.get_json(
            "/api/search", params=params, headers=_JSON, cache_ttl=cache_ttl
        )


class TempoSource:
    """Satisfies ``TraceSource`` and ``TraceSearch`` over one Tempo (or Grafana Cloud traces)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: TempoSettings,
        *,
        metrics: Metrics | None = None,
        http: BackendClient | None = None,
        trace_cache_ttl: float = 300.0,
    ) -> None:
        self._api = _TempoApi(
            http or BackendClient(BACKEND, client, settings, metrics=metrics), trace_cache_ttl
        )
        self._v2 = True

    async def get_trace(self, trace_id: str) -> Trace | None:
        """The trace, ``None`` when Tempo does not know it (404 or no spans)."""
        try:
            hex_id = normalize_trace_id(trace_id)
        except ValueError as exc:
            raise BackendRejected(BACKEND, f"invalid trace id {trace_id[:64]!r}") from exc
        doc = await self._fetch(hex_id)
        if doc is None:
            return None
        try:
            trace = parse_trace(doc, trace_id=hex_id)
        except OtlpFormatError as exc:
            raise BackendBadResponse(BACKEND, f"trace {hex_id}: {exc}") from exc
        return trace if trace.spans else None

    async def _fetch(self, hex_id: str) -> Any:
        if self._v2:
            try:
                return await self._api.trace_v2(hex_id)
            except BackendRejected as exc:
                if exc.status != 404:
                    raise
        try:
            doc = await self._api.trace_v1(hex_id)
        except BackendRejected as exc:
            if exc.status == 404:
                return None
            raise
        self._v2 = False  # v2 said 404 where v1 found the trace: an older Tempo
        return doc

    async def search(self, traceql: str, window: TimeWindow, limit: int) -> list[str]:
        """Normalised 32-hex trace ids matching ``traceql`` in ``window``, Tempo's order."""
        start = math.floor(window.start.timestamp())
        end = math.ceil(window.end.timestamp())
        ttl = self._api.http.settled_ttl(window.end)
        doc = await self._api.search(traceql, start, end, limit, ttl)
        if not isinstance(doc, dict):
            raise BackendBadResponse(BACKEND, f"search answered {type(doc).__name__}")
        traces = doc.get("traces") or []
        if not isinstance(traces, list):
            raise BackendBadResponse(BACKEND, "search: traces is not a list")
        ids: list[str] = []
        for item in traces:
            raw = item.get("traceID") if isinstance(item, dict) else None
            hex_id = try_normalize_trace_id(raw) if isinstance(raw, str) else None
            if hex_id is not None and hex_id not in ids:
                ids.append(hex_id)
        return ids[:limit] if limit > 0 else ids
