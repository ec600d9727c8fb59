"""Percentile/median helpers of the benchmark harness."""

from __future__ import annotations

import pytest

from correlator.lab.bench.stats import median, median_or_none, percentile, ratio, summarize_runs


def test_percentile_interpolates_linearly_like_numpy() -> None:
    values = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert percentile(values, 0) == 15.0
    assert percentile(values, 100) == 50.0
    assert percentile(values, 50) == 35.0
    assert percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert percentile(values, 99) == pytest.approx(49.6)


def test_percentile_ignores_input_order_and_handles_one_value() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_median_even_count_is_mean_of_middle_pair() -> None:
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([5.0, 1.0, 9.0]) == 5.0


def test_median_or_none_skips_missing() -> None:
    assert median_or_none([None, 2.0, None, 4.0]) == 3.0
    assert median_or_none([None, None]) is None


def test_ratio_guards_zero_and_missing() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None


def test_summarize_runs_medians_per_key() -> None:
    runs: list[dict[str, float | None]] = [
        {"a": 1.0, "b": 10.0},
        {"a": 3.0, "b": None},
        {"a": 2.0, "b": 30.0},
    ]
    assert summarize_runs(runs) == {"a": 2.0, "b": 20.0}
    assert summarize_runs([]) == {}
