"""The investigation's time window: where it starts and ends, and when the fault began.

The window runs from ``exemplar_lookback_seconds`` before the alert's ``startsAt`` to
``exemplar_grace_seconds`` after it; a window still open ends at "now" floored to a whole number
of query steps counted from the window's start. Counting from the start (not from the epoch)
makes the window a function of the alert and "now" alone: investigations of one alert a few ms
apart send identical, coalescable queries, and a replay whose clock is pinned to the data gets
the same window, steps and samples whatever the data's absolute time (an epoch-aligned floor
moved the end by up to a step with the replay's start time, which changed the metric step and
with it rank 4 of a real case between two eval runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from correlator.models import Alert, MetricSeries, TimeWindow
from correlator.settings import PrometheusSettings


def investigation_window(
    alert: Alert, prom: PrometheusSettings, now: datetime
) -> tuple[TimeWindow, datetime]:
    """The window for ``alert`` and the (possibly step-floored) "now" it was computed at."""
    span = prom.exemplar_lookback_seconds + prom.exemplar_grace_seconds
    start = alert.starts_at - timedelta(seconds=prom.exemplar_lookback_seconds)
    end = alert.starts_at + timedelta(seconds=prom.exemplar_grace_seconds)
    if end > now:  # a window still open ends at "now", floored to the query step
        now = align(now, max(1.0, round(span / 200)), anchor=start)
        end = now
    return TimeWindow(start=start, end=max(end, alert.starts_at + timedelta(seconds=1))), now


def align(t: datetime, step: float, *, anchor: datetime | None = None) -> datetime:
    """``t`` floored to a whole number of ``step`` seconds after ``anchor`` (the epoch if None)."""
    base = anchor.timestamp() if anchor is not None else 0.0
    return datetime.fromtimestamp(base + math.floor((t.timestamp() - base) / step) * step, tz=UTC)


def onset_of(series: Sequence[MetricSeries], starts_at: datetime, step: float) -> datetime:
    """Start of the run of samples (gaps up to 2 steps) that is ongoing at ``starts_at``.

    With an alert expression such as ``x > 0.5`` samples exist only while the condition holds,
    so this is when the condition became true (at most ``starts_at``).
    """
    ts = sorted({t for s in series for t, v in s.points if not math.isnan(v)})
    limit = starts_at.timestamp() + step
    ts = [t for t in ts if t <= limit]
    if not ts:
        return starts_at
    start = ts[-1]
    for earlier in reversed(ts[:-1]):
        if start - earlier > 2 * step:
            break
        start = earlier
    return min(datetime.fromtimestamp(start, tz=UTC), starts_at)
