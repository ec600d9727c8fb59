"""The rule evaluator's Prometheus semantics in isolation (the real-Prometheus agreement is
tests/lab/test_dataset_alerts.py)."""

from __future__ import annotations

import math

from correlator.lab.datasets.alerting import Rule, firings, instant, nice_ceiling, rate

MIN = 60_000


def _rule(kind: str = "instant", threshold: float = 1.0) -> Rule:
    return Rule("R", "x > 1", kind, threshold, "critical", "", "")  # type: ignore[arg-type]


def test_instant_takes_the_newest_sample_within_five_minutes() -> None:
    pts = [(0, 1.0), (MIN, 2.0)]
    assert instant(pts, MIN + 1) == 2.0
    assert instant(pts, MIN - 1) == 1.0
    assert instant(pts, MIN + 5 * MIN + 1) is None


def test_rate_extrapolates_like_prometheus() -> None:
    # samples 60 s apart, window 120 s ending 30 s after the last: both edges within 1.1 avg
    pts = [(30_000, 100.0), (90_000, 160.0)]
    got = rate(pts, 120_000, 2 * MIN)
    assert got is not None
    # sampled 60 s, +30 s to the start (< 66 s threshold), +30 s to the end -> 120 s
    assert math.isclose(got, 60.0 * 120 / 60 / 120)
    assert rate(pts[:1], 120_000, 2 * MIN) is None


def test_rate_does_not_extrapolate_below_zero() -> None:
    pts = [(30_000, 0.0), (90_000, 6.0)]
    got = rate(pts, 120_000, 2 * MIN)
    assert got is not None
    assert math.isclose(got, 6.0 * 90 / 60 / 120)  # start edge cut at the zero point


def test_for_one_minute_fires_on_the_third_true_evaluation() -> None:
    pts = [(t * 30_000, 0.0) for t in range(4)] + [(t * 30_000, 5.0) for t in range(4, 12)]
    fired = firings(_rule(), [pts], [pts], 0, 11 * 30_000)
    assert fired == [6 * 30_000]  # true from 4, fired at 4 + 2 evaluations (60 s)


def test_a_short_blip_never_fires() -> None:
    pts = [(0, 0.0), (30_000, 5.0), (60_000, 5.0), (90_000, 0.0), (120_000, 0.0)]
    assert firings(_rule(), [pts], [pts], 0, 120_000) == []


def test_nice_ceiling_is_strictly_above_and_respects_the_floor() -> None:
    assert nice_ceiling(0.24, 0.0) == 0.3
    assert nice_ceiling(0.3, 0.0) == 0.4
    assert nice_ceiling(1.149, 0.0) == 2.0
    assert nice_ceiling(0.0, 0.01) == 0.02
