"""``correlator serve`` (the HTTP service) and ``correlator investigate`` (one-shot run)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from correlator.models import Investigation
    from correlator.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the HTTP service (webhook intake, API, workers)")
    serve.add_argument("--host", help="listen address (default: settings host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: settings port, 8080)")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without CORRELATOR_WEBHOOK_TOKEN/CORRELATOR_UI_TOKEN",
    )
    serve.add_argument(
        "--worker-processes",
        type=int,
        metavar="N",
        help="run the workers in N separate processes so intake never waits for investigation"
        " CPU (default: settings worker_processes, 0 = inside the HTTP process)",
    )
    serve.set_defaults(func=_serve)
    once = sub.add_parser(
        "investigate", help="run the pipeline once on an Alertmanager webhook body (JSON file)"
    )
    once.add_argument("alert", metavar="ALERT.json", help="webhook body; '-' reads stdin")
    once.add_argument("--json", action="store_true", help="print the investigation JSON")
    once.set_defaults(func=_investigate)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from correlator.api import create_app
    from correlator.settings import load_settings
    from correlator.telemetry import configure_logging, configure_tracing

    overrides = {}
    if args.worker_processes is not None:
        overrides["worker_processes"] = args.worker_processes
    settings = load_settings(args.config, **overrides)
    configure_logging(settings.log_level)
    provider = configure_tracing()
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    problem = exposure_problem(host, settings.webhook_token, settings.ui_token)
    if problem and not args.insecure:
        print(f"correlator serve: {problem}; set the tokens or pass --insecure", file=sys.stderr)
        return 2
    config = uvicorn.Config(create_app(settings), host=host, port=port, **uvicorn_options(settings))
    try:
        uvicorn.Server(config).run()
    finally:
        if provider is not None:
            provider.shutdown()
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``serve``: bounded connections and keep-alive (D11); the body read
    deadline is the app's own (``correlator.api.readtimeout``)."""
    return {
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 15,
        "limit_concurrency": settings.http_limit_concurrency,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "h11_max_incomplete_event_size": 16 * 1024,  # request line + headers (h11 default)
    }


def exposure_problem(host: str, webhook_token: object, ui_token: object) -> str | None:
    """Why listening on ``host`` without tokens would expose intake to the network (D5)."""
    from correlator.api.security import is_loopback_name

    if is_loopback_name(host):
        return None
    missing = [
        name
        for name, value in (
            ("CORRELATOR_WEBHOOK_TOKEN", webhook_token),
            ("CORRELATOR_UI_TOKEN", ui_token),
        )
        if value is None
    ]
    if not missing:
        return None
    return f"listening on {host} (not loopback) without {' and '.join(missing)}"


def _investigate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from correlator.models import AlertmanagerWebhook
    from correlator.settings import load_settings
    from correlator.wiring import investigate_once

    raw = sys.stdin.read() if args.alert == "-" else Path(args.alert).read_text(encoding="utf-8")
    try:
        hook = AlertmanagerWebhook.model_validate_json(raw)
    except ValidationError as exc:
        print(f"{args.alert}: not an Alertmanager webhook body:\n{exc}", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    results = asyncio.run(investigate_once(hook, settings))
    if args.json:
        docs = [inv.model_dump(mode="json") for inv in results]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        print("\n\n".join(inv.note or summary(inv) for inv in results))
    return 0 if all(inv.status.value == "done" for inv in results) else 1


def summary(inv: Investigation) -> str:
    """Plain text until notes exist: what fired, the PromQL, the window, what ran."""
    alert = inv.alert
    from correlator.models.alert import alert_service
    from correlator.settings import SERVICE_LABELS

    where = alert_service(alert.labels, SERVICE_LABELS) or "?"
    lines = [
        f"{alert.alertname} ({where}) {inv.alert_status.value}"
        f" since {alert.starts_at:%Y-%m-%d %H:%M:%S} UTC",
        f"investigation {inv.id}: {inv.status.value}",
        f"PromQL: {inv.expr or '(none found)'}",
    ]
    if inv.window_start and inv.window_end:
        lines.append(f"window: {inv.window_start:%H:%M:%S} .. {inv.window_end:%H:%M:%S} UTC")
    top = inv.analysis.top if inv.analysis else None
    if top is not None:
        lines.append(f"top hypothesis: {top.statement} ({top.confidence:.0%})")
    if inv.partial:
        lines.append(f"partial: {inv.partial}")
    if inv.error:
        lines.append(f"error: {inv.error}")
    stages = ", ".join(f"{s.name} {s.status} {s.elapsed_ms:.1f} ms" for s in inv.stages)
    lines.append(f"stages: {stages}")
    return "\n".join(lines)
