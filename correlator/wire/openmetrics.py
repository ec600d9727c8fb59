"""OpenMetrics text: writing a scenario's ``metrics.om`` and reading samples and exemplars back.

Label values use OpenMetrics' three escapes (backslash, double quote, ``\\n``); ``escape`` and
``_unescape`` are the one pair for both directions.

Writing (``build_openmetrics``, used by ``correlator record``): samples come from a range-vector
query (``{__name__=~"..."}[Ns]`` at the end of the window), so they are the stored samples with
their own timestamps. Each exemplar goes inline on one sample line of its series: the first sample
at or after the exemplar (the scrape that carried it), else the nearest earlier one; a line holds
at most one exemplar (extra ones are dropped and counted). Lines are sorted by timestamp;
``promtool tsdb create-blocks-from openmetrics`` accepts them without ``# TYPE`` metadata.

Reading (``parse_sample_line``, ``parse_exemplars``): scenario validation and the simulator.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Redact = Callable[[str], str]


def escape(v: str) -> str:
    """An OpenMetrics label value (backslash, newline and double quote escaped)."""
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_set(labels: dict[str, str], redact: Redact) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(redact(v))}"' for k, v in sorted(labels.items())) + "}"


def _num(v: Any) -> str:
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f) if not f.is_integer() or abs(f) >= 1e15 else str(int(f))


def _key(labels: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


class OpenMetricsError(ValueError):
    """A line of metrics.om that is not an OpenMetrics sample."""


@dataclass
class OMResult:
    text: str
    series: int
    samples: int
    exemplars: int
    dropped_exemplars: int


def build_openmetrics(
    matrix: Sequence[dict[str, Any]],
    exemplars: Sequence[dict[str, Any]],
    *,
    keep_trace: Callable[[dict[str, str]], bool],
    redact: Redact = lambda s: s,
) -> OMResult:
    """OpenMetrics text from a matrix result and a ``query_exemplars`` result."""
    series: dict[tuple[tuple[str, str], ...], list[float]] = {}
    values: dict[tuple[tuple[str, str], ...], dict[float, str]] = {}
    for s in matrix:
        k = _key(s.get("metric", {}))
        points = {float(t): str(v) for t, v in s.get("values", [])}
        values.setdefault(k, {}).update(points)
    for k, pts in values.items():
        series[k] = sorted(pts)
    attached: dict[
        tuple[tuple[tuple[str, str], ...], float], tuple[dict[str, str], str, float]
    ] = {}
    dropped = 0
    for group in exemplars:
        k = _key(group.get("seriesLabels", {}))
        times = series.get(k, [])
        for ex in group.get("exemplars", []):
            labels = {str(a): str(b) for a, b in ex.get("labels", {}).items()}
            ts = float(ex.get("timestamp", 0))
            slot = _slot(times, ts, k, attached)
            if slot is None or not keep_trace(labels):
                dropped += 1
                continue
            attached[(k, slot)] = (labels, str(ex.get("value", "0")), ts)
    lines: list[tuple[float, str]] = []
    for k, times in series.items():
        labels = dict(k)
        name = labels.pop("__name__", "")
        head = name + _label_set(labels, redact)
        for t in times:
            line = f"{head} {_num(values[k][t])} {t:.3f}"
            ex = attached.get((k, t))
            if ex is not None:
                ex_labels, ex_value, ex_ts = ex
                line += f" # {_label_set(ex_labels, lambda s: s)} {_num(ex_value)} {ex_ts:.3f}"
            lines.append((t, line))
    lines.sort(key=lambda p: p[0])
    text = "\n".join(line for _, line in lines) + ("\n" if lines else "") + "# EOF\n"
    n = sum(len(v) for v in series.values())
    return OMResult(text, len(series), n, len(attached), dropped)


def _slot(
    times: list[float],
    ts: float,
    k: tuple[tuple[str, str], ...],
    taken: dict[tuple[tuple[tuple[str, str], ...], float], Any],
) -> float | None:
    """First free sample time at/after ``ts``, else the nearest free one before."""
    i = bisect.bisect_left(times, ts - 1e-6)
    for t in times[i:]:
        if (k, t) not in taken:
            return t
    for t in reversed(times[:i]):
        if (k, t) not in taken:
            return t
    return None


# ---- reading: samples + exemplars (scenario validation, the simulator, record tests) ---------

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True)
class OMExemplar:
    series: dict[str, str]
    labels: dict[str, str]
    value: str
    timestamp: float


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPES = {"n": "\n", '"': '"', "\\": "\\"}


def _unescape(v: str) -> str:
    """Undo ``escape`` in one pass (``\\\\n`` is a backslash then ``n``, not a newline)."""
    return _ESCAPED.sub(lambda m: _UNESCAPES.get(m.group(1), m.group(0)), v)


def _parse_labels(text: str, pos: int) -> tuple[dict[str, str], int]:
    """Parse ``{a="b",...}`` starting at ``text[pos] == '{'``; returns labels and end index."""
    labels: dict[str, str] = {}
    pos += 1
    while pos < len(text) and text[pos] != "}":
        m = _LABEL.match(text, pos)
        if not m:
            raise OpenMetricsError(f"bad label set in: {text[:120]}")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels, pos + 1


@dataclass(frozen=True)
class OMLine:
    name: str
    labels: dict[str, str]
    value: str
    timestamp: str | None
    exemplar: tuple[dict[str, str], str, str | None] | None


def parse_sample_line(line: str) -> OMLine:
    m = _NAME.match(line)
    if not m:
        raise OpenMetricsError(f"bad sample line: {line[:120]}")
    name, pos = m.group(0), m.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _parse_labels(line, pos)
    rest = line[pos:]
    exemplar = None
    if " # " in rest:
        head, ex = rest.split(" # ", 1)
        ex_labels, epos = _parse_labels(ex, ex.index("{"))
        parts = ex[epos:].split()
        exemplar = (ex_labels, parts[0], parts[1] if len(parts) > 1 else None)
        rest = head
    parts = rest.split()
    return OMLine(name, labels, parts[0], parts[1] if len(parts) > 1 else None, exemplar)


def parse_exemplars(text: str) -> list[OMExemplar]:
    out: list[OMExemplar] = []
    for line in text.splitlines():
        if not line or line.startswith("#") or " # " not in line:
            continue
        s = parse_sample_line(line)
        if s.exemplar is None:
            continue
        labels, value, ts = s.exemplar
        when = float(ts) if ts is not None else float(s.timestamp or 0)
        out.append(OMExemplar({"__name__": s.name, **s.labels}, labels, value, when))
    return out


def _shift_ts(ts: str, ms: int) -> str:
    whole, _, frac = ts.partition(".")
    total = int(whole) * 1000 + (int((frac + "000")[:3]) if frac else 0) + ms
    sec, rem = divmod(total, 1000)
    return f"{sec}.{rem:03d}" if (frac or rem) else str(sec)


_TS_TAIL = re.compile(r"(\s)(\d+(?:\.\d+)?)$")


def shift_openmetrics(text: str, ms: int) -> str:
    """Shift sample and exemplar timestamps (text otherwise unchanged)."""
    out: list[str] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            out.append(line)
            continue
        head, sep, ex = line.partition(" # ")
        head = _TS_TAIL.sub(lambda m: m.group(1) + _shift_ts(m.group(2), ms), head)
        if sep:
            close = ex.rindex("}")
            tail = _TS_TAIL.sub(lambda m: m.group(1) + _shift_ts(m.group(2), ms), ex[close + 1 :])
            # exemplar tail is " value [ts]": only shift when a timestamp is present
            if len(ex[close + 1 :].split()) < 2:
                tail = ex[close + 1 :]
            ex = ex[: close + 1] + tail
        out.append(head + sep + ex)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
