"""Demo service configuration: command-line flags with ``DEMO_*`` environment defaults."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    service_name: str = "checkout-api"
    version: str = "2.4.0"
    commit: str = "1c9d0b4"
    environment: str = "demo"
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    loki_url: str | None = None
    grafana_url: str | None = None
    grafana_token: str | None = None
    correlator_url: str | None = None
    correlator_token: str | None = None
    repo_url: str = "https://git.example.com/shop/checkout-api"
    author: str = "ci-bot"
    announce_startup: bool = True
    slow_query_seconds: float = 0.8
    statement_timeout_seconds: float = 1.0
    fast_query_seconds: float = 0.01
    seed: int = 7
    admin_token: str | None = None


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def build_parser() -> argparse.ArgumentParser:
    d = DemoConfig()
    p = argparse.ArgumentParser(
        prog="python -m demo.service",
        description="checkout-api demo service (traces, exemplars, logs, deploy markers)",
    )
    p.add_argument("--host", default=_env("DEMO_HOST", d.host))
    p.add_argument("--port", type=int, default=int(_env("DEMO_PORT", str(d.port)) or d.port))
    p.add_argument("--service-name", default=_env("DEMO_SERVICE_NAME", d.service_name))
    p.add_argument("--version", default=_env("DEMO_VERSION", d.version))
    p.add_argument("--commit", default=_env("DEMO_COMMIT", d.commit))
    p.add_argument("--environment", default=_env("DEMO_ENVIRONMENT", d.environment))
    p.add_argument(
        "--otlp-endpoint",
        default=_env("DEMO_OTLP_ENDPOINT", _env("OTEL_EXPORTER_OTLP_ENDPOINT")),
        help="OTLP/HTTP base URL (…/v1/traces is appended); unset = no trace export",
    )
    p.add_argument(
        "--otlp-protocol",
        choices=["http/json", "http/protobuf"],
        default=_env("DEMO_OTLP_PROTOCOL", _env("OTEL_EXPORTER_OTLP_PROTOCOL", d.otlp_protocol)),
    )
    p.add_argument("--loki-url", default=_env("DEMO_LOKI_URL"), help="Loki base URL for push")
    p.add_argument("--grafana-url", default=_env("DEMO_GRAFANA_URL"))
    p.add_argument("--grafana-token", default=_env("DEMO_GRAFANA_TOKEN"))
    p.add_argument("--correlator-url", default=_env("DEMO_CORRELATOR_URL"))
    p.add_argument("--correlator-token", default=_env("DEMO_CORRELATOR_TOKEN"))
    p.add_argument("--repo-url", default=_env("DEMO_REPO_URL", d.repo_url))
    p.add_argument("--admin-token", default=_env("DEMO_ADMIN_TOKEN"))
    p.add_argument(
        "--no-announce-startup",
        dest="announce_startup",
        action="store_false",
        default=_env("DEMO_ANNOUNCE_STARTUP", "1") not in ("0", "false", "no"),
    )
    p.add_argument(
        "--slow-query-seconds",
        type=float,
        default=float(_env("DEMO_SLOW_QUERY_SECONDS") or d.slow_query_seconds),
    )
    p.add_argument(
        "--statement-timeout-seconds",
        type=float,
        default=float(_env("DEMO_STATEMENT_TIMEOUT_SECONDS") or d.statement_timeout_seconds),
    )
    p.add_argument("--seed", type=int, default=int(_env("DEMO_SEED", str(d.seed)) or 7))
    return p


def config_from_args(argv: list[str] | None = None) -> DemoConfig:
    ns = build_parser().parse_args(argv)
    return DemoConfig(
        host=ns.host,
        port=ns.port,
        service_name=ns.service_name,
        version=ns.version,
        commit=ns.commit,
        environment=ns.environment,
        otlp_endpoint=ns.otlp_endpoint,
        otlp_protocol=ns.otlp_protocol,
        loki_url=ns.loki_url,
        grafana_url=ns.grafana_url,
        grafana_token=ns.grafana_token,
        correlator_url=ns.correlator_url,
        correlator_token=ns.correlator_token,
        repo_url=ns.repo_url,
        admin_token=ns.admin_token,
        announce_startup=ns.announce_startup,
        slow_query_seconds=ns.slow_query_seconds,
        statement_timeout_seconds=ns.statement_timeout_seconds,
        seed=ns.seed,
    )
