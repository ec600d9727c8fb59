"""Baselines per service: a service that always logs errors, and faults visible only in a
service's own golden signals (no error logs, no error status on spans).

Series are shaped like real per-service golden signals (an error ratio from
``http_requests_total{code}``, 15 s steps, an hour before onset); log patterns like
``evidence.logmine`` output for a noisy service (the same template at the same rate before and
after onset).
"""

from __future__ import annotations

from correlator.rules import load_ruleset
from correlator.rules.schema import SignalName
from correlator.rules.scoring import rank
from correlator.rules.signals import Context, run_signals
from tests.unit.rules import shop
from tests.unit.rules.conftest import RULES_DIR
from tests.unit.rules.factories import bundle, pattern, patterns, series

QUIET = [0.0] * 232
ERRORS_AT_ONSET = QUIET + [0.0] * 4 + [0.3] * 8  # onset + 2 min at the end, 15 s steps


def test_a_service_that_always_logs_errors_is_not_accused() -> None:
    """``ads`` logs the same error template at the same rate before and after onset; ``cart``
    has a new template. Only ``cart`` is evidence; ``ads`` is not even ranked."""
    pats = [
        patterns("ads", pattern("ads", "failed to load ad <*>: context canceled", 120, 115)),
        patterns("cart", pattern("cart", "redis: connection refused <*>", 30, new=True)),
    ]
    ruleset = load_ruleset(RULES_DIR)
    b = bundle(
        log_patterns=pats,
        traces=[shop.payment_slow(), shop.healthy()],
        metrics=[series("cart", "error_ratio", ERRORS_AT_ONSET)],
    )
    results = run_signals(Context(b, ruleset.thresholds))
    assert "ads" not in results[SignalName.LOGS].scores
    ranked = [h.service for h in rank(b, ruleset).hypotheses]
    assert "ads" not in ranked


def test_own_error_ratio_moving_explains_a_fault_without_logs_or_span_status() -> None:
    """A wrong return value: the entry service's error ratio rises, traces carry no error
    status and no callee is slow. The service whose own golden signal moved is accused."""
    ruleset = load_ruleset(RULES_DIR)
    traces = [shop.healthy(baseline=False) for _ in range(3)] + [shop.healthy()]
    b = bundle(traces=traces, metrics=[series("frontend", "error_ratio", ERRORS_AT_ONSET)])
    analysis = rank(b, ruleset)
    assert analysis.top is not None
    assert analysis.top.service == "frontend"
    results = run_signals(Context(b, ruleset.thresholds))
    assert "own_golden" in results[SignalName.ERROR_ORIGIN].tags["frontend"]


def test_a_deeper_culprit_with_trace_evidence_outranks_the_moved_golden_signal() -> None:
    ruleset = load_ruleset(RULES_DIR)
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy()]
    b = bundle(traces=traces, metrics=[series("frontend", "error_ratio", ERRORS_AT_ONSET)])
    results = run_signals(Context(b, ruleset.thresholds))
    assert "frontend" not in results[SignalName.ERROR_ORIGIN].scores  # payment explains it
    assert rank(b, ruleset).top.service == "payment"  # type: ignore[union-attr]


def test_a_golden_signal_that_did_not_move_adds_nothing() -> None:
    ruleset = load_ruleset(RULES_DIR)
    flat = [0.05] * len(ERRORS_AT_ONSET)
    traces = [shop.healthy(baseline=False) for _ in range(3)] + [shop.healthy()]
    b = bundle(traces=traces, metrics=[series("frontend", "error_ratio", flat)])
    results = run_signals(Context(b, ruleset.thresholds))
    assert "frontend" not in results[SignalName.ERROR_ORIGIN].scores
