"""Self-observability: OpenTelemetry traces of correlator's own work and structured JSON logs.

Tracing is off unless the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` variable is set (and ``OTEL_SDK_DISABLED`` is not
``true``); then spans go over OTLP/HTTP, configured by the other standard ``OTEL_*`` variables.
Without it, ``tracer()`` hands out OpenTelemetry's no-op tracer, so instrumentation costs nothing.

One trace per investigation (span ``investigation``), one child span per pipeline stage; backend
calls nest under the stage that makes them. Attributes: ``alertname``, ``service``, ``team``,
``tenant``, ``investigation.id``, so slow investigations can be grouped by those dimensions.

Logs: ``JsonFormatter`` writes one JSON object per line with the investigation id (from
``investigation_context``) and the current trace/span ids.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

TRACER_NAME = "correlator"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_investigation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlator_investigation_id", default=None
)


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in _ENDPOINT_VARS)


def configure_tracing(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install an OTLP/HTTP exporting provider when the OTLP env vars ask for one.

    Called once by the entry point (``correlator serve``); returns the provider so the caller
    can ``shutdown()`` it (flushing spans) on exit, or ``None`` when tracing stays off.
    """
    if not tracing_requested(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    env = os.environ if environ is None else environ
    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME", "correlator")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    if provider is not None:
        return provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


@contextmanager
def backend_span(
    backend: str, method: str, path: str, *, provider: trace.TracerProvider | None = None
) -> Iterator[trace.Span]:
    """A client span for one backend call (``connectors._http`` wraps each attempt in one).

    Nested under the current stage span; records the exception and an error status when the
    body raises. Attributes follow the OTel HTTP client conventions plus ``backend``.
    """
    attrs = {"backend": backend, "http.request.method": method, "url.path": path[:256]}
    with tracer(provider).start_as_current_span(
        f"{backend} {method} {path[:64]}", kind=trace.SpanKind.CLIENT, attributes=attrs
    ) as span:
        yield span


def alert_attributes(labels: Mapping[str, str], service: str) -> dict[str, str]:
    """Span attributes used to group investigations (only present, short values)."""
    attrs = {"alertname": labels.get("alertname", ""), "service": service}
    for key in ("team", "tenant", "severity", "namespace"):
        if labels.get(key):
            attrs[key] = labels[key]
    return {k: v[:256] for k, v in attrs.items() if v}


@contextmanager
def investigation_context(investigation_id: str) -> Iterator[None]:
    """Log records emitted inside carry ``investigation_id``."""
    token = _investigation_id.set(investigation_id)
    try:
        yield
    finally:
        _investigation_id.reset(token)


_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, investigation_id, trace_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        inv_id = _investigation_id.get()
        if inv_id:
            doc["investigation_id"] = inv_id
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            doc["trace_id"] = format(ctx.trace_id, "032x")
            doc["span_id"] = format(ctx.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://)[^\s/@]{1,512}@")
_SECRET_PATH = re.compile(
    r"(?P<keep>(?i:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|discord(?:app)?\.com/api/webhooks/|\.webhook\.office\.com/))[^\s\"'<>]+"
)
# Request-logging libraries: their INFO lines carry full URLs (userinfo, webhook paths).
QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "urllib3")


def scrub(text: str) -> str:
    """Credentials that URLs carry: ``user:password@`` and webhook URL paths (report D4)."""
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + "[REDACTED]@", text)
    return _SECRET_PATH.sub(lambda m: m.group("keep") + "[REDACTED]", text)


class ScrubFilter(logging.Filter):
    """Rewrites every record's message with ``scrub`` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def configure_logging(level: str = "INFO", *, json_logs: bool = True) -> None:
    """Root logger to stderr, JSON by default (entry points only).

    httpx/httpcore log each request URL at INFO; they are set to WARNING, and every record
    goes through ``ScrubFilter`` so URL userinfo and webhook paths never reach the log.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(ScrubFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
