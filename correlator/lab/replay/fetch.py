"""Raw wire reads for ``correlator record``: the backends' own response bodies, not domain models.

A recording keeps what the backends answered in their upstream shapes (the scenario format is
those shapes), so this module speaks plain HTTP on the clients ``correlator.wiring.build_clients``
builds (base URL, timeouts, connection caps); auth/tenant headers are added here from the same
``BackendSettings``. One attempt per request: a recording that cannot read a backend says so
(``Wire.warnings``) instead of retrying for minutes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from correlator.settings import BackendSettings
from correlator.wire.otlp import trace_ids_in
from correlator.wire.promql import escape_regex, quote

_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
LOG_LIMIT = 5000


def auth_headers(cfg: BackendSettings) -> dict[str, str]:
    headers: dict[str, str] = {}
    if cfg.bearer_token is not None:
        headers["Authorization"] = f"Bearer {cfg.bearer_token.get_secret_value()}"
    elif cfg.basic_user and cfg.basic_password is not None:
        raw = f"{cfg.basic_user}:{cfg.basic_password.get_secret_value()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    if cfg.tenant:
        headers["X-Scope-OrgID"] = cfg.tenant
    return headers


def metric_names(queries: Iterable[str], known: set[str]) -> set[str]:
    """Metric names (present in Prometheus) that appear as identifiers in PromQL strings."""
    return {tok for q in queries for tok in _IDENT.findall(q) if tok in known}


@dataclass
class Wire:
    clients: dict[str, httpx.AsyncClient]
    settings: dict[str, BackendSettings]
    warnings: list[str] = field(default_factory=list)

    async def get(
        self, backend: str, path: str, params: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Any:
        """JSON body of a GET, or ``None`` (with a warning) when unavailable."""
        client = self.clients.get(backend)
        if client is None:
            self.warnings.append(f"{backend}: not configured")
            return None
        hdrs = {**auth_headers(self.settings[backend]), **(headers or {})}
        try:
            resp = await client.get(path, params=params, headers=hdrs)
        except httpx.HTTPError as exc:
            self.warnings.append(f"{backend} {path}: {type(exc).__name__}: {exc}")
            return None
        if resp.status_code == 404 and backend == "tempo":
            return None
        if resp.status_code != 200:
            self.warnings.append(f"{backend} {path}: HTTP {resp.status_code}")
            return None
        try:
            return resp.json()
        except ValueError:
            self.warnings.append(f"{backend} {path}: not JSON")
            return None

    async def prom_names(self) -> set[str]:
        body = await self.get("prometheus", "/api/v1/label/__name__/values", {})
        return set(body.get("data", [])) if isinstance(body, dict) else set()

    async def samples(
        self, names: set[str], start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        """Raw samples (range-vector selector at ``end``) of every series of ``names``."""
        if not names:
            return []
        regex = "|".join(escape_regex(n) for n in sorted(names))
        seconds = max(1, round((end - start).total_seconds()))
        query = f"{{__name__=~{quote(regex)}}}[{seconds}s]"
        body = await self.get(
            "prometheus", "/api/v1/query", {"query": query, "time": f"{end.timestamp():.3f}"}
        )
        data = body.get("data", {}) if isinstance(body, dict) else {}
        return list(data.get("result", [])) if data.get("resultType") == "matrix" else []

    async def exemplars(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        params = {
            "query": '{__name__=~".+"}',
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
        }
        body = await self.get("prometheus", "/api/v1/query_exemplars", params)
        return list(body.get("data", []) or []) if isinstance(body, dict) else []

    async def trace(self, trace_id: str) -> dict[str, Any] | None:
        """Tempo's trace-by-id body as served (v2, else v1), only if it holds just that trace."""
        for path in (f"/api/v2/traces/{trace_id}", f"/api/traces/{trace_id}"):
            body = await self.get("tempo", path, {})
            if isinstance(body, dict) and trace_ids_in(body) == {trace_id}:
                return body
        return None

    async def logs(self, query: str, start: datetime, end: datetime) -> dict[str, Any] | None:
        params = {
            "query": query,
            "start": str(int(start.timestamp() * 1e9)),
            "end": str(int(end.timestamp() * 1e9)),
            "limit": str(LOG_LIMIT),
            "direction": "forward",
        }
        flags = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
        body = await self.get("loki", "/loki/api/v1/query_range", params, flags)
        return body if isinstance(body, dict) else None

    async def annotations(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        params = {
            "from": str(int(start.timestamp() * 1000)),
            "to": str(int(end.timestamp() * 1000)),
            "limit": "1000",
        }
        body = await self.get("grafana", "/api/annotations", params)
        return list(body) if isinstance(body, list) else []
