"""Prometheus raw samples + exemplars -> the scenario's ``metrics.om`` (OpenMetrics text).

Samples come from a range-vector query (``{__name__=~"..."}[Ns]`` at the end of the window), so
they are the stored samples with their own timestamps. Each exemplar goes inline on one sample
line of its series: the first sample at or after the exemplar (the scrape that carried it), else
the nearest earlier one; a line holds at most one exemplar (extra ones are dropped and counted).
Lines are sorted by timestamp; ``promtool tsdb create-blocks-from openmetrics`` accepts them without
``# TYPE`` metadata.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Redact = Callable[[str], str]


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str], redact: Redact) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_esc(redact(v))}"' for k, v in sorted(labels.items())) + "}"


def _num(v: Any) -> str:
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f) if not f.is_integer() or abs(f) >= 1e15 else str(int(f))


def _key(labels: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


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
        head = name + _labels(labels, redact)
        for t in times:
            line = f"{head} {_num(values[k][t])} {t:.3f}"
            ex = attached.get((k, t))
            if ex is not None:
                ex_labels, ex_value, ex_ts = ex
                line += f" # {_labels(ex_labels, lambda s: s)} {_num(ex_value)} {ex_ts:.3f}"
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
