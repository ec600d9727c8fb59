"""The investigation window depends on the alert and "now" only, not on absolute time.

Regression: the open window's end was floored to multiples of the step since the epoch, so a
replay of the same data started a few seconds later (the simulator rebases the data to its start
time) got a window up to a step shorter, a different metric step, other samples and, on a real
Nezha case, a different rank 4 between two eval runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from correlator.evidence.window import align, investigation_window
from correlator.settings import Settings
from tests.unit.evidence.test_chain import slow_alert


@pytest.mark.parametrize("shift_s", [0.0, 1.0, 2.5, 3.0, 4.0, 7.25, 59.0, 3601.3])
def test_open_window_is_the_same_relative_to_the_alert_whatever_its_absolute_time(
    shift_s: float,
) -> None:
    prom = Settings().prometheus
    base = slow_alert()
    shift = timedelta(seconds=shift_s)
    moved = base.model_copy(update={"starts_at": base.starts_at + shift})
    age = timedelta(seconds=42.3)  # replay clock: the alert fired 42.3 s ago, window still open
    ref, _ = investigation_window(base, prom, base.starts_at + age)
    win, _ = investigation_window(moved, prom, moved.starts_at + age)
    assert win.start - moved.starts_at == ref.start - base.starts_at
    assert win.end - moved.starts_at == ref.end - base.starts_at
    assert win.seconds == ref.seconds


def test_open_window_ends_on_whole_steps_from_its_start_and_never_after_now() -> None:
    prom = Settings().prometheus
    alert = slow_alert()
    now = alert.starts_at + timedelta(seconds=13.7)
    win, floored = investigation_window(alert, prom, now)
    step = max(1.0, round((prom.exemplar_lookback_seconds + prom.exemplar_grace_seconds) / 200))
    assert floored == win.end
    assert now - timedelta(seconds=step) < win.end <= now
    assert ((win.end - win.start).total_seconds() / step).is_integer()


def test_closed_window_is_not_cut() -> None:
    prom = Settings().prometheus
    alert = slow_alert()
    now = alert.starts_at + timedelta(hours=2)
    win, same = investigation_window(alert, prom, now)
    assert same == now
    assert win.end == alert.starts_at + timedelta(seconds=prom.exemplar_grace_seconds)


def test_align_without_anchor_floors_to_epoch_multiples() -> None:
    t = datetime(2026, 12, 3, 14, 0, 7, 500_000, tzinfo=UTC)
    assert align(t, 5.0) == datetime(2026, 12, 3, 14, 0, 5, tzinfo=UTC)
    anchor = datetime(2026, 12, 3, 14, 0, 1, tzinfo=UTC)
    assert align(t, 5.0, anchor=anchor) == datetime(2026, 12, 3, 14, 0, 6, tzinfo=UTC)
