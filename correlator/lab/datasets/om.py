"""OpenMetrics text for dataset adapters: families of series with explicit timestamps.

A dataset gives values per scrape; exporters give series. ``Family`` collects the samples of
one metric family and renders them the way ``promtool tsdb dump-openmetrics`` would (one
``# TYPE`` line, samples grouped by series, timestamps ascending), so the output is byte-stable
for the same input. Counter families are named without ``_total`` in ``# TYPE`` (OpenMetrics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

MetricType = Literal["counter", "gauge", "summary", "histogram"]
Labels = tuple[tuple[str, str], ...]


def labels(**kv: str) -> Labels:
    """A label set in a stable (sorted) order."""
    return tuple(sorted(kv.items()))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _render_labels(ls: Labels) -> str:
    if not ls:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in ls) + "}"


def fmt_value(v: float) -> str:
    """Shortest round-trip text of a float (integers without a trailing ``.0``)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(round(v, 9))


def fmt_ts(ms: int) -> str:
    """Unix seconds with millisecond precision (``1661256028.154``)."""
    sec, rem = divmod(ms, 1000)
    return f"{sec}.{rem:03d}" if rem else str(sec)


@dataclass(frozen=True)
class Exemplar:
    trace_id: str
    span_id: str
    value: float
    ts_ms: int

    def render(self) -> str:
        ls = _render_labels((("span_id", self.span_id), ("trace_id", self.trace_id)))
        return f" # {ls} {fmt_value(self.value)} {fmt_ts(self.ts_ms)}"


@dataclass
class Family:
    """One metric family; ``add`` samples in any order, ``render`` sorts them."""

    name: str
    type: MetricType
    help: str
    unit: str = ""
    samples: dict[tuple[str, Labels], list[tuple[int, float, Exemplar | None]]] = field(
        default_factory=dict
    )

    def add(
        self,
        suffix: str,
        ls: Labels,
        ts_ms: int,
        value: float,
        exemplar: Exemplar | None = None,
    ) -> None:
        self.samples.setdefault((self.name + suffix, ls), []).append((ts_ms, value, exemplar))

    def render(self) -> list[str]:
        type_name = self.name.removesuffix("_total") if self.type == "counter" else self.name
        out = [f"# HELP {type_name} {self.help}", f"# TYPE {type_name} {self.type}"]
        if self.unit:
            out.append(f"# UNIT {type_name} {self.unit}")
        for (name, ls), points in sorted(self.samples.items()):
            for ts_ms, value, ex in sorted(points, key=lambda p: p[0]):
                tail = ex.render() if ex is not None else ""
                out.append(f"{name}{_render_labels(ls)} {fmt_value(value)} {fmt_ts(ts_ms)}{tail}")
        return out


def render(families: list[Family]) -> str:
    """The whole ``metrics.om`` text (families sorted by name, ``# EOF`` last)."""
    lines: list[str] = []
    for fam in sorted(families, key=lambda f: f.name):
        if fam.samples:
            lines.extend(fam.render())
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
