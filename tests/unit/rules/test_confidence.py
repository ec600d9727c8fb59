"""Confidence reads like a probability and runners-up say why they rank lower."""

from __future__ import annotations

from correlator.rules import load_ruleset
from correlator.rules.schema import SignalName
from correlator.rules.scoring import confidence, less_likely, rank
from tests.unit.rules import shop
from tests.unit.rules.conftest import RULES_DIR
from tests.unit.rules.factories import bundle, series


def test_confidence_is_monotone_in_total_and_share() -> None:
    weights = 10.0
    assert confidence(2.0, [2.0, 2.0], weights) < confidence(4.0, [4.0, 2.0], weights)
    assert confidence(4.0, [4.0, 2.0], weights) < confidence(4.0, [4.0], weights)
    assert 0.0 < confidence(0.5, [0.5, 3.0], weights) < 0.5 < confidence(6.0, [6.0], weights)


def test_runner_up_says_why_it_is_less_likely() -> None:
    parts = {
        "payment": {SignalName.ERROR_ORIGIN: 3.0, SignalName.CHANGE: 1.0},
        "checkout": {SignalName.ERROR_ORIGIN: 0.6},
    }
    line = less_likely("checkout", "payment", parts)
    assert line == (
        "less likely than payment because: weaker error_origin (0.60 vs 3.00); "
        "no change evidence of its own"
    )
    assert less_likely("payment", "payment", parts) is None


def test_ranked_runners_up_carry_the_line_and_the_top_does_not() -> None:
    ruleset = load_ruleset(RULES_DIR)
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy()]
    cpu = series("checkout", "cpu", [0.2] * 232 + [1.5] * 12)
    analysis = rank(bundle(traces=traces, metrics=[cpu]), ruleset)
    assert [h.service for h in analysis.hypotheses][:2] == ["payment", "checkout"]
    top, second = analysis.hypotheses[:2]
    assert top.less_likely is None
    assert second.less_likely is not None
    assert second.less_likely.startswith("less likely than payment because: ")


def test_a_weak_top_suspect_makes_the_analysis_inconclusive_with_next_queries() -> None:
    """Only a small CPU rise on one service (no traces blame anyone): a suspect, not an answer."""
    ruleset = load_ruleset(RULES_DIR)
    strict = ruleset.model_copy(
        update={"thresholds": ruleset.thresholds.model_copy(update={"inconclusive_below": 0.99})}
    )
    cpu = series("checkout", "cpu", [0.2] * 232 + [1.5] * 12)
    b = bundle(traces=[shop.healthy(baseline=False), shop.healthy()], metrics=[cpu])
    weak = rank(b, strict)
    assert weak.inconclusive
    assert weak.top is not None
    assert weak.insufficient is not None
    assert weak.insufficient.next_queries
    assert not rank(
        b,
        ruleset.model_copy(
            update={"thresholds": ruleset.thresholds.model_copy(update={"inconclusive_below": 0.0})}
        ),
    ).inconclusive
