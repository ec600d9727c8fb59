"""Alerting rules evaluated as Prometheus 2.x evaluates them, on a dataset's own samples.

A dataset records telemetry, not alerts; an adapter decides which faults would have paged by
running a small fixed rule set over the samples it writes to ``metrics.om``:

* ``evaluation_interval`` 30 s, evaluation times at whole multiples of it;
* an instant selector takes the newest sample in ``[t - 5m, t]`` (the default lookback delta);
* ``rate(x[r])`` is Prometheus' ``extrapolatedRate`` (counter resets, extrapolation towards the
  range edges limited to 1.1 average intervals and to where the counter would reach zero), over
  the samples in ``[t - r, t]`` (closed at both ends in 2.x);
* ``for: 1m``: pending from the first true evaluation (``activeAt``), firing at the first
  evaluation at least ``for`` later that is still true; the webhook's ``startsAt`` is that firing
  time (Prometheus sends ``FiredAt``); a false evaluation resolves it.

The real Prometheus agrees with this (tests/lab/test_dataset_alerts.py backfills the imported
metrics and queries each rule's expression at ``startsAt`` and across the baseline).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

LOOKBACK_MS = 5 * 60 * 1000
EVAL_INTERVAL_MS = 30_000

Points = Sequence[tuple[int, float]]


def _window(points: Points, start: int, end: int) -> list[tuple[int, float]]:
    times = [p[0] for p in points]
    lo = bisect_right(times, start - 1)
    hi = bisect_right(times, end)
    return list(points[lo:hi])


def instant(points: Points, t: int) -> float | None:
    """The newest sample at or before ``t`` within the lookback delta."""
    w = _window(points, t - LOOKBACK_MS, t)
    return w[-1][1] if w else None


def rate(points: Points, t: int, range_ms: int) -> float | None:
    """``rate(x[range])`` at ``t`` as Prometheus 2.x computes it (``None`` = no sample pair)."""
    w = _window(points, t - range_ms, t)
    if len(w) < 2:
        return None
    result = w[-1][1] - w[0][1]
    last = 0.0
    for _, v in w:
        if v < last:
            result += last
        last = v
    to_start = (w[0][0] - (t - range_ms)) / 1000
    to_end = (t - w[-1][0]) / 1000
    sampled = (w[-1][0] - w[0][0]) / 1000
    avg = sampled / (len(w) - 1)
    if result > 0 and w[0][1] >= 0:
        to_start = min(to_start, sampled * (w[0][1] / result))
    threshold = avg * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else avg / 2
    interval += to_end if to_end < threshold else avg / 2
    return result * (interval / sampled) / (range_ms / 1000)


@dataclass(frozen=True)
class Rule:
    """One alerting rule over series the adapter writes.

    ``kind`` ``"instant"``: ``max(series) > threshold``; ``"ratio"``: ``sum(rate(num[r])) /
    sum(rate(den[r])) > threshold`` (a ``0/0`` is NaN, which compares false, as in PromQL).
    ``expr`` is the PromQL text that means the same (what the alert's ``generatorURL`` carries).
    """

    name: str
    expr: str
    kind: Literal["instant", "ratio"]
    threshold: float
    severity: str
    summary: str
    description: str
    for_ms: int = 60_000
    range_ms: int = 120_000

    def value(self, num: Sequence[Points], den: Sequence[Points], t: int) -> float | None:
        """The expression's value at ``t``: ``max`` of the instants, or ``sum(rate(num)) /
        sum(rate(den))`` (``None`` = no result, NaN for ``0/0``)."""
        if self.kind == "instant":
            vals = [v for v in (instant(p, t) for p in num) if v is not None]
            return max(vals) if vals else None
        a = [v for v in (rate(p, t, self.range_ms) for p in num) if v is not None]
        b = [v for v in (rate(p, t, self.range_ms) for p in den) if v is not None]
        if not a or not b:
            return None
        return sum(a) / sum(b) if sum(b) else math.nan

    def true_at(self, num: Sequence[Points], den: Sequence[Points], t: int) -> bool:
        v = self.value(num, den, t)
        return v is not None and not math.isnan(v) and v > self.threshold


def eval_times(start_ms: int, end_ms: int) -> list[int]:
    """Evaluation instants (multiples of the interval) in ``[start, end]``."""
    first = -(-start_ms // EVAL_INTERVAL_MS) * EVAL_INTERVAL_MS
    return list(range(first, end_ms + 1, EVAL_INTERVAL_MS))


def firings(
    rule: Rule, num: Sequence[Points], den: Sequence[Points], start_ms: int, end_ms: int
) -> list[int]:
    """Every ``FiredAt`` of the rule between ``start`` and ``end`` (the ``for`` state machine)."""
    active_at: int | None = None
    firing = False
    fired: list[int] = []
    for t in eval_times(start_ms, end_ms):
        if not rule.true_at(num, den, t):
            active_at, firing = None, False
            continue
        if active_at is None:
            active_at = t
        if not firing and t - active_at >= rule.for_ms:
            firing = True
            fired.append(t)
    return fired


def nice_ceiling(value: float, floor: float) -> float:
    """Smallest ``k * 10**n`` (k = 1..9) strictly above ``max(value, floor)``: one rounding rule
    for every threshold, so nobody picks a threshold per case."""
    x = max(value, floor)
    exp = math.floor(math.log10(x)) if x > 0 else 0
    step = 10.0**exp
    k = math.floor(x / step + 1e-9) + 1
    return round(k * step, 12)
