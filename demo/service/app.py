"""The HTTP service: ``/checkout``, ``/healthz``, ``/metrics``, ``POST /admin/deploy``."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from demo.service.announce import announce, make_deploy
from demo.service.config import DemoConfig
from demo.service.logs import JsonLogger
from demo.service.telemetry import Tracing

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HISTORY_FAST = (
    "SELECT id, total FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 5"
)
HISTORY_SLOW = (
    "SELECT o.id, o.total, count(i.id) FROM orders o LEFT JOIN order_items i ON i.order_id = o.id "
    "WHERE lower(o.email) = lower($1) GROUP BY o.id ORDER BY o.created_at DESC"
)
INSERT_ORDER = "INSERT INTO orders (customer_id, total, email) VALUES ($1, $2, $3) RETURNING id"


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["route", "method", "status_code"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "http_server_errors",
            "HTTP server requests answered with a 5xx status.",
            ["route", "method", "status_code"],
            registry=registry,
        )
        self.build_info = Gauge(
            "build_info", "Running version.", ["version", "commit"], registry=registry
        )


@dataclass
class State:
    version: str
    commit: str
    flags: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class CheckoutService:
    """Everything the handler needs; no module globals."""

    def __init__(self, config: DemoConfig, tracing: Tracing, logger: JsonLogger) -> None:
        self.config = config
        self.tracing = tracing
        self.logger = logger
        self.metrics = Metrics(CollectorRegistry())
        self.state = State(version=config.version, commit=config.commit)
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self._apply_version(config.version, config.commit, set())

    def _apply_version(self, version: str, commit: str, flags: set[str]) -> None:
        c = self.config
        with self.state.lock:
            old = (self.state.version, self.state.commit)
            self.state.version, self.state.commit, self.state.flags = version, commit, flags
        self.tracing.redeploy(c.service_name, version, commit, c.environment)
        self.logger.version = version
        with contextlib.suppress(KeyError):
            self.metrics.build_info.remove(*old)
        self.metrics.build_info.labels(version, commit).set(1)

    def deploy(self, version: str, commit: str, flag: str | None) -> dict[str, object]:
        previous = (self.state.version, self.state.commit)
        self._apply_version(version, commit, {flag} if flag else set())
        self.logger.info(
            "deployed",
            previous_version=previous[0],
            previous_commit=previous[1],
            commit=commit,
            flag=flag or "",
        )
        return {
            "version": version,
            "commit": commit,
            "flags": sorted(self.state.flags),
            "announced": self.announce(flag),
        }

    def announce(self, flag: str | None = None) -> dict[str, int | str]:
        c = self.config
        deploy = make_deploy(
            service=c.service_name,
            version=self.state.version,
            commit=self.state.commit,
            environment=c.environment,
            flag=flag,
            repo_url=c.repo_url,
            author=c.author,
        )
        return announce(
            deploy,
            self.logger,
            grafana_url=c.grafana_url,
            grafana_token=c.grafana_token,
            correlator_url=c.correlator_url,
            correlator_token=c.correlator_token,
        )

    def _query_seconds(self, slow: bool) -> float:
        if not slow:
            return self.config.fast_query_seconds
        base = self.config.slow_query_seconds
        with self._rng_lock:
            return self._rng.uniform(base * 0.75, base * 1.5)

    def _order_history(self, slow: bool) -> bool:
        """The order-history query; returns False when it hit the statement timeout."""
        c = self.config
        tracer = self.tracing.tracer()
        attrs: dict[str, AttributeValue] = {
            "db.system.name": "postgresql",
            "db.namespace": "shop",
            "db.operation.name": "SELECT",
            "db.collection.name": "orders",
            "db.query.text": HISTORY_SLOW if slow else HISTORY_FAST,
            "server.address": "db-primary",
            "server.port": 5432,
            "peer.service": "db-primary",
        }
        with tracer.start_as_current_span(
            "SELECT shop.orders", kind=SpanKind.CLIENT, attributes=attrs
        ) as span:
            seconds = self._query_seconds(slow)
            timed_out = seconds > c.statement_timeout_seconds
            time.sleep(min(seconds, c.statement_timeout_seconds))
            if slow:
                span.set_attribute("db.rows_examined", 1_100_000)
                self.logger.warning(
                    "slow query: seq scan on orders",
                    duration_ms=round(seconds * 1000),
                    db_query_text=HISTORY_SLOW,
                    rows_examined=1_100_000,
                )
            if timed_out:
                msg = "canceling statement due to statement timeout"
                span.set_status(Status(StatusCode.ERROR, msg))
                span.set_attribute("error.type", "57014")
                span.add_event(
                    "exception", {"exception.type": "QueryCanceledError", "exception.message": msg}
                )
                return False
            return True

    def checkout(self) -> tuple[int, dict[str, object]]:
        tracer = self.tracing.tracer()
        started = time.perf_counter()
        attrs = {"http.request.method": "POST", "http.route": "/checkout", "url.path": "/checkout"}
        with tracer.start_as_current_span(
            "POST /checkout", kind=SpanKind.SERVER, attributes=attrs
        ) as span:
            ctx = span.get_span_context()
            flag_on = "new_checkout" in self.state.flags
            span.add_event(
                "feature_flag.evaluation",
                {
                    "feature_flag.key": "new_checkout",
                    "feature_flag.result.variant": "on" if flag_on else "off",
                    "feature_flag.provider.name": "demo-static",
                },
            )
            ok = self._order_history(slow=flag_on)
            if ok:
                with tracer.start_as_current_span(
                    "INSERT shop.orders",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "db.system.name": "postgresql",
                        "db.operation.name": "INSERT",
                        "db.query.text": INSERT_ORDER,
                        "server.address": "db-primary",
                        "peer.service": "db-primary",
                    },
                ):
                    time.sleep(self.config.fast_query_seconds)
            status = 200 if ok else 500
            span.set_attribute("http.response.status_code", status)
            if not ok:
                span.set_status(Status(StatusCode.ERROR, "order history query failed"))
                self.logger.error(
                    "checkout failed: canceling statement due to statement timeout",
                    http_status=status,
                )
            else:
                self.logger.info("checkout ok", http_status=status)
        trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        exemplar = {"trace_id": trace_id, "span_id": span_id}
        code = str(status)
        self.metrics.duration.labels("/checkout", "POST", code).observe(
            time.perf_counter() - started, exemplar=exemplar
        )
        if status >= 500:
            self.metrics.errors.labels("/checkout", "POST", code).inc(exemplar=exemplar)
        return status, {
            "status": "ok" if ok else "error",
            "trace_id": trace_id,
            "version": self.state.version,
        }


class Handler(BaseHTTPRequestHandler):
    server: DemoHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return None  # access logs would drown the JSON logs

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: object) -> None:
        self._send(status, json.dumps(obj).encode())

    def do_GET(self) -> None:
        svc = self.server.service
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._json(200, {"status": "ok", "version": svc.state.version})
        elif path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(svc.metrics.registry), content_type)
        elif path == "/checkout":
            self._json(*svc.checkout())
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        svc = self.server.service
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path == "/checkout":
            self._json(*svc.checkout())
        elif url.path == "/admin/deploy":
            self._admin_deploy(parse_qs(url.query))
        else:
            self._json(404, {"error": "not found"})

    def _admin_deploy(self, query: dict[str, list[str]]) -> None:
        svc = self.server.service
        token = svc.config.admin_token
        if token and self.headers.get("Authorization", "") != f"Bearer {token}":
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "bad token"})
            return
        version = (query.get("version") or [""])[0]
        commit = (query.get("commit") or [""])[0]
        flag = (query.get("flag") or [""])[0] or None
        if not version or not commit:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "version and commit are required"})
            return
        self._json(200, svc.deploy(version, commit, flag))


class DemoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: CheckoutService) -> None:
        super().__init__(address, Handler)
        self.service = service
