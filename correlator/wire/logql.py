"""LogQL builders: stream selectors, trace-to-logs and per-service error-line queries.

Values are written as Go string literals (LogQL uses ``strconv.Unquote``); label names are
validated, never escaped into place. Which stream label carries the service differs per setup
(``service_name`` for OTLP ingest, ``app``/``job``/``service`` for promtail/alloy), so the label
comes from ``settings.loki.service_labels[0]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from correlator.errors import ConfigError
from correlator.settings import LokiSettings
from correlator.wire.promql import escape_regex, quote, substitute

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_ID = re.compile(r"[0-9a-f]{1,32}")


def service_label(loki: LokiSettings) -> str:
    """The stream label that names a service in this Loki (first of ``service_labels``)."""
    label = loki.service_labels[0] if loki.service_labels else "service_name"
    if not _LABEL_NAME.fullmatch(label):
        raise ConfigError(f"loki.service_labels: {label!r} is not a valid label name")
    return label


def matcher(label: str, value: str, op: str = "=") -> str:
    if not _LABEL_NAME.fullmatch(label):
        raise ValueError(f"invalid label name {label!r}")
    if op not in {"=", "!=", "=~", "!~"}:
        raise ValueError(f"invalid matcher operator {op!r}")
    return f"{label}{op}{quote(value)}"


def services_matcher(label: str, services: Iterable[str]) -> str:
    """``label="a"`` for one service, ``label=~"a|b"`` (regex-escaped) for several, ``=~".+"``
    for none."""
    names = sorted({s for s in services if s})
    if not names:
        return matcher(label, ".+", "=~")
    if len(names) == 1:
        return matcher(label, names[0])
    return matcher(label, "|".join(escape_regex(n) for n in names), "=~")


def stream_selector(*matchers: str) -> str:
    return "{" + ", ".join(matchers) + "}"


def trace_logs_query(loki: LokiSettings, trace_id: str, services: Iterable[str]) -> str:
    """LogQL for the logs of one trace, from ``loki.trace_logs_template``.

    ``{selector}`` is filled with the matcher list (the template supplies the braces) and
    ``{trace_id}`` with the lowercase hex id. The id is validated hex, so it is also safe in
    line filters (``|= "{trace_id}"``) and JSON label filters.
    """
    if not _HEX_ID.fullmatch(trace_id):
        raise ValueError(f"trace id is not lowercase hex: {trace_id!r}")
    selector = services_matcher(service_label(loki), services)
    return substitute(loki.trace_logs_template, {"selector": selector, "trace_id": trace_id})


def error_lines_query(loki: LokiSettings, service: str) -> str:
    """Error lines of one service: ``{label="svc"} <loki.error_filter>``."""
    selector = stream_selector(matcher(service_label(loki), service))
    return f"{selector} {loki.error_filter}".strip()
