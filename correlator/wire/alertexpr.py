"""What an alert expression measures (errors, latency), read from its parsed PromQL.

The expression is parsed into selectors (``promql.parse_selectors``): the metric names and the
label matchers say what is measured. Numbers are never read: the threshold of ``... > 550``
is not an HTTP status (issue #20, failure mode 10). An expression the tokenizer cannot read
(LogQL, a template typo) falls back to the names and strings found in its text.

* **errors**: a metric named for errors (``*_errors_total``, ``*_failures``, ``exceptions``), a
  status-ish label (``code``, ``status``, ``outcome``, ``grpc_code`` ...) matched against 5xx or
  an error value (``=~"5.."``, ``="error"``) or excluding success (``!~"2.."``), or an
  error-named label (``error="true"``).
* **latency**: a histogram bucket, a duration/latency metric, or a ``*_seconds`` summary/gauge.
"""

from __future__ import annotations

import re

from correlator.wire.promql import Selector, parse_selectors

_LATENCY_NAME = re.compile(r"_bucket$|duration|latency|_seconds$|_seconds_(sum|count)$", re.I)
_ERROR_NAME = re.compile(r"error|fail|exception", re.I)
_STATUS_LABEL = re.compile(r"status|code|outcome|result|error", re.I)
_ERROR_VALUE = re.compile(r"5\.\.|5xx|^5\d\d$|5\[0-9\]|error|fail|exception", re.I)
_OK_VALUE = re.compile(r"^(2\.\.|2xx|2\d\d|2\[0-9\].*|ok|success|succeeded)$", re.I)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LATENCY_TEXT = re.compile(r"_bucket\b|histogram_quantile|duration|latency|_seconds\b", re.I)
_ERROR_WORD = re.compile(r"error|fail|exception|status|code", re.I)


def measures_errors(expr: str | None) -> bool:
    """The expression counts failed requests (or filters on a failure status)."""
    if not expr:
        return False
    selectors = _selectors(expr)
    if selectors is None:
        return _text_says_errors(expr)
    return any(_selector_errors(s) for s in selectors)


def measures_latency(expr: str | None) -> bool:
    """The expression reads a latency/duration series."""
    if not expr:
        return False
    selectors = _selectors(expr)
    if selectors is None:
        return bool(_LATENCY_TEXT.search(expr))
    return any(s.metric is not None and _LATENCY_NAME.search(s.metric) for s in selectors)


def _selectors(expr: str) -> list[Selector] | None:
    try:
        parsed = parse_selectors(expr)
    except ValueError:
        return None
    return parsed.selectors or None


def _selector_errors(sel: Selector) -> bool:
    if sel.metric is not None and _ERROR_NAME.search(sel.metric):
        return True
    for m in sel.matchers:
        if not _STATUS_LABEL.search(m.name):
            continue
        if m.op in ("!=", "!~"):  # everything but success: code!~"2..", outcome!="SUCCESS"
            if all(_OK_VALUE.match(v) for v in m.value.split("|")):
                return True
            continue
        if m.name.lower() == "error" and m.value.lower() in ("true", "1"):
            return True
        if any(_ERROR_VALUE.search(v) for v in m.value.split("|")):
            return True
    return False


def _text_says_errors(expr: str) -> bool:
    strings = [m.group(0)[1:-1] for m in _STRING.finditer(expr)]
    names = _NAME.findall(_STRING.sub(" ", expr))
    return any(_ERROR_WORD.search(n) for n in names) or any(
        _ERROR_VALUE.search(v) for alt in strings for v in alt.split("|")
    )
