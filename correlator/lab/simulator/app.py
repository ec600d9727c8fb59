"""FastAPI app of the simulator (TEST AND DEMO DOUBLE; see the package docstring)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from correlator.lab.scenarios import Scenario
from correlator.lab.simulator import git, handlers
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.data import Data
from correlator.lab.simulator.logql import LogQLError
from correlator.lab.simulator.promsel import SelectorError, query_exemplars
from correlator.lab.simulator.traceql import TraceQLError

_BACKENDS = (
    ("/loki/", "loki"),
    ("/api/v1/", "prometheus"),
    ("/api/traces", "tempo"),
    ("/api/v2/traces", "tempo"),
    ("/api/search", "tempo"),
    ("/v1/traces", "tempo"),
    ("/api/annotations", "grafana"),
    ("/api/health", "grafana"),
    ("/repos/", "git"),
    ("/api/v4/projects/", "git"),
)


def backend_of(path: str) -> str | None:
    for prefix, name in _BACKENDS:
        if path.startswith(prefix):
            return name
    return None


class RequestCounter:
    """Backend requests seen by the double: total and distinct (method, path, sorted query)."""

    def __init__(self) -> None:
        self.total = 0
        self.by_backend: dict[str, int] = {}
        self.keys: set[tuple[str, str, str]] = set()

    def add(self, backend: str, method: str, path: str, query: str) -> None:
        self.total += 1
        self.by_backend[backend] = self.by_backend.get(backend, 0) + 1
        self.keys.add((method, path, "&".join(sorted(query.split("&"))) if query else ""))

    def snapshot(self) -> dict[str, object]:
        return {"total": self.total, "distinct": len(self.keys), "by_backend": self.by_backend}


def _prom_time(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        return handlers.parse_loki_time(value, 0) / 1e9


def _bad(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "errorType": "bad_data", "error": error}, status_code=status
    )


def create_simulator_app(
    scenario: Scenario, config: SimulatorConfig, *, prometheus_url: str | None
) -> FastAPI:
    """The double for one (time-shifted) scenario; PromQL is proxied to ``prometheus_url``."""
    pool: dict[str, httpx.AsyncClient] = {}  # the Prometheus proxy's client, closed on exit

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if "c" in pool:
            await pool.pop("c").aclose()

    app = FastAPI(
        title="correlator simulator (test/demo double)",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    data = Data.from_scenario(scenario)
    app.state.data = data
    app.state.scenario = scenario
    rng = random.Random(config.seed)
    down = {k for k, v in scenario.meta.simulate.model_dump().items() if v == "down"}
    counter = RequestCounter()
    app.state.requests = counter

    @app.middleware("http")
    async def faults(request: Request, call_next: Any) -> Response:
        backend = backend_of(request.url.path)
        if backend is not None:
            counter.add(backend, request.method, request.url.path, request.url.query)
        if backend in down:
            return Response(f"{backend} unavailable (simulated)\n", status_code=503)
        if backend is not None:
            roll = rng.random()
            if roll < config.hang_rate:
                await asyncio.sleep(config.hang_seconds)
            elif roll < config.hang_rate + config.error_rate:
                return Response("simulated upstream error\n", status_code=503)
            if config.latency_ms > 0:
                await asyncio.sleep(config.latency_ms / 1000.0)
        response: Response = await call_next(request)
        return response

    @app.get("/_sim/requests")
    async def request_counts() -> Response:
        """Backend requests received so far (bench: coalescing/caching ratio)."""
        return JSONResponse(counter.snapshot())

    _tempo_routes(app, data)
    _loki_routes(app, data)
    _grafana_routes(app, data)
    _git_routes(app, scenario)
    _prometheus_routes(app, data, prometheus_url, pool)
    return app


def _tempo_routes(app: FastAPI, data: Data) -> None:
    @app.get("/api/traces/{trace_id}")
    async def trace_v1(trace_id: str) -> Response:
        body = handlers.trace_by_id(data, trace_id, v2=False)
        return JSONResponse(body) if body is not None else Response(status_code=404)

    @app.get("/api/v2/traces/{trace_id}")
    async def trace_v2(trace_id: str) -> Response:
        body = handlers.trace_by_id(data, trace_id, v2=True)
        return JSONResponse(body) if body is not None else Response(status_code=404)

    @app.get("/api/search")
    async def search(request: Request) -> Response:
        p = request.query_params
        try:
            body = handlers.search(
                data,
                p.get("q", ""),
                float(p["start"]) if p.get("start") else None,
                float(p["end"]) if p.get("end") else None,
                int(p.get("limit", "20")),
                int(p.get("spss", "3")),
            )
        except (TraceQLError, ValueError) as exc:
            return Response(f"invalid TraceQL query: {exc}", status_code=400)
        return JSONResponse(body)

    @app.post("/v1/traces")
    async def otlp_push(request: Request) -> Response:
        data.push_traces(await request.json())
        return JSONResponse({"partialSuccess": {}})

    @app.get("/ready")
    async def ready() -> Response:
        return Response("ready\n")


def _loki_routes(app: FastAPI, data: Data) -> None:
    @app.get("/loki/api/v1/query_range")
    async def query_range(request: Request) -> Response:
        p = request.query_params
        now = time.time_ns()
        end = handlers.parse_loki_time(p.get("end"), now)
        start = handlers.parse_loki_time(p.get("start"), end - 3600 * 10**9)
        flags = request.headers.get("X-Loki-Response-Encoding-Flags", "")
        try:
            body = handlers.query_range(
                data,
                p.get("query", ""),
                start,
                end,
                int(p.get("limit", "100")),
                p.get("direction", "backward"),
                "categorize-labels" in flags,
            )
        except (LogQLError, ValueError) as exc:
            return Response(f"parse error : {exc}\n", status_code=400)
        return JSONResponse(body)

    @app.get("/loki/api/v1/query")
    async def query_instant() -> Response:
        return Response(
            "log queries are not supported as an instant query type, "
            "please change your query to a range query type\n",
            status_code=400,
        )

    @app.post("/loki/api/v1/push")
    async def push(request: Request) -> Response:
        data.push_logs(await request.json())
        return Response(status_code=204)


def _grafana_routes(app: FastAPI, data: Data) -> None:
    @app.get("/api/annotations")
    async def annotations(request: Request) -> Response:
        p = request.query_params
        body = handlers.find_annotations(
            data,
            int(p["from"]) if p.get("from") else None,
            int(p["to"]) if p.get("to") else None,
            p.getlist("tags"),
            p.get("matchAny", "false").lower() == "true",
            int(p.get("limit", "100")),
        )
        return JSONResponse(body)

    @app.get("/api/health")
    async def health() -> Response:
        return JSONResponse({"database": "ok", "version": "simulator"})


def _git_routes(app: FastAPI, scenario: Scenario) -> None:
    @app.get("/repos/{owner}/{repo}/compare/{basehead}")
    async def github_compare(owner: str, repo: str, basehead: str, request: Request) -> Response:
        p = request.query_params
        try:
            page = int(p.get("page", "1"))
            per_page = int(p["per_page"]) if p.get("per_page") else None
        except ValueError:
            return JSONResponse({"message": "Invalid request."}, status_code=422)
        body, more = git.github_compare(scenario.git, owner, repo, basehead, page, per_page)
        if body is None:
            return JSONResponse(git.GITHUB_NOT_FOUND, status_code=404)
        headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999"}
        if more:
            path = f"/repos/{owner}/{repo}/compare/{basehead}"
            headers["Link"] = f'<{path}?per_page={per_page}&page={page + 1}>; rel="next"'
        return JSONResponse(body, headers=headers)

    @app.get("/api/v4/projects/{project:path}/repository/compare")
    async def gitlab_compare(project: str, request: Request) -> Response:
        p = request.query_params
        body = git.gitlab_compare(scenario.git, project, p.get("from", ""), p.get("to", ""))
        if body is None:
            return JSONResponse(git.GITLAB_NOT_FOUND, status_code=404)
        return JSONResponse(body)


def _prometheus_routes(
    app: FastAPI, data: Data, prometheus_url: str | None, pool: dict[str, httpx.AsyncClient]
) -> None:
    # One pooled client for the proxy (a client per request costs ~10 ms of CPU in TLS setup).
    def upstream_client() -> httpx.AsyncClient:
        if "c" not in pool:
            pool["c"] = httpx.AsyncClient(
                base_url=prometheus_url or "", timeout=30.0, trust_env=False
            )
        return pool["c"]

    @app.api_route("/api/v1/query_exemplars", methods=["GET", "POST"])
    async def exemplars(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        now = time.time()
        try:
            body = query_exemplars(
                data.exemplars,
                params.get("query", ""),
                _prom_time(params.get("start"), now - 3600),
                _prom_time(params.get("end"), now),
            )
        except SelectorError as exc:
            return _bad(str(exc))
        return JSONResponse({"status": "success", "data": body})

    @app.api_route("/api/v1/{path:path}", methods=["GET", "POST"])
    async def proxy(path: str, request: Request) -> Response:
        if prometheus_url is None:
            return Response("prometheus not started (simulated)\n", status_code=503)
        upstream = await upstream_client().request(
            request.method,
            f"/api/v1/{path}",
            params=list(request.query_params.multi_items()),
            content=await request.body(),
            headers={"Content-Type": request.headers.get("content-type", "")}
            if request.method == "POST"
            else None,
        )
        return Response(
            upstream.content,
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type"),
        )
