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


# -- LogQL alert expressions (Loki ruler) ----------------------------------------------------

_IDENT_END = re.compile(r"[A-Za-z0-9_:\]})]$")
_MATCHER = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*,?'
)
_LOG_ONLY = re.compile(r"\b(bytes_over_time|bytes_rate|unwrap)\b")
_PIPE_START = re.compile(r"\s*(\|=|\|~|!=|!~|\|)")


def _bare_selector(expr: str) -> tuple[int, int] | None:
    """(start, end) of the first ``{...}`` not attached to a metric name (a stream selector)."""
    quote_char = ""
    for i, ch in enumerate(expr):
        if quote_char:
            if ch == quote_char and expr[i - 1] != "\\":
                quote_char = ""
            continue
        if ch in '"`':
            quote_char = ch
        elif ch == "{" and not _IDENT_END.search(expr[:i].rstrip()):
            end = expr.find("}", i)
            return (i, end + 1) if end > i else None
    return None


def is_logql(expr: str) -> bool:
    """A Loki ruler expression: a stream selector followed by a log pipeline, or a function only
    LogQL has (``bytes_rate``, ``unwrap``). A bare ``rate({job="x"}[5m])`` reads as PromQL."""
    span = _bare_selector(expr)
    if span is None:
        return False
    return bool(_PIPE_START.match(expr[span[1] :])) or bool(_LOG_ONLY.search(expr))


def stream_labels(expr: str) -> dict[str, str]:
    """The equality matchers of the expression's stream selector (``{app="cart", env=~"p.*"}``
    -> ``{"app": "cart"}``): the labels every matching line's stream carries."""
    span = _bare_selector(expr)
    if span is None:
        return {}
    out: dict[str, str] = {}
    for m in _MATCHER.finditer(expr[span[0] + 1 : span[1] - 1]):
        name, op, raw = m.groups()
        if op == "=":
            out[name] = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return out


def log_query(expr: str) -> str | None:
    """The log query inside a LogQL metric expression: the stream selector and its pipeline up
    to the range (``sum(count_over_time({app="cart"} |= "panic" [5m])) > 3`` ->
    ``{app="cart"} |= "panic"``)."""
    span = _bare_selector(expr)
    if span is None:
        return None
    depth, quote_char, end = 0, "", len(expr)
    for i in range(span[1], len(expr)):
        ch = expr[i]
        if quote_char:
            if ch == quote_char and expr[i - 1] != "\\":
                quote_char = ""
            continue
        if ch in '"`':
            quote_char = ch
        elif ch == "(":
            depth += 1
        elif (ch == ")" and depth == 0) or (ch == "[" and depth == 0):
            end = i
            break
        elif ch == ")":
            depth -= 1
    return expr[span[0] : end].strip()
