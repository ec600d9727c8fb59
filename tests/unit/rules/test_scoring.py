"""rank(): fault types, culprit change, remediation, no-fault and insufficient outcomes."""

from __future__ import annotations

from correlator.models import (
    ChangeKind,
    EvidenceKind,
    EvidenceStatus,
    FaultType,
    RemediationKind,
    SpanKind,
    TraceEvidence,
)
from correlator.rules import RuleSet, rank
from tests.unit.rules import shop
from tests.unit.rules.factories import (
    alert,
    bundle,
    change,
    envelope,
    pattern,
    patterns,
    series,
    span,
    trace,
)


def test_deploy_regression_names_the_culprit_and_ignores_a_decoy(ruleset: RuleSet) -> None:
    traces = [shop.payment_fails(version="2.0") for _ in range(3)] + [shop.healthy()]
    culprit = change(
        "payment",
        12,
        to_version="2.0",
        from_version="1.0",
        to_commit="7a3f9c2",
        from_commit="1111111",
        url="https://git.example/compare/1111111...7a3f9c2",
    )
    decoy = change("search", 3, to_version="5.0")
    a = rank(bundle(traces=traces, changes=[culprit, decoy]), ruleset)
    top = a.top
    assert top is not None
    assert top.service == "payment"
    assert top.fault_type is FaultType.DEPLOY_REGRESSION
    assert top.suspect_change is not None
    assert top.suspect_change.evidence_id == culprit.evidence_id
    assert all(h.service != "search" for h in a.hypotheses)
    rem = top.remediation
    assert rem is not None
    assert rem.kind is RemediationKind.ROLLBACK
    assert rem.target_commit == "1111111"
    assert rem.compare_url == culprit.url
    assert any("rollout undo deployment/payment" in c for c in rem.commands)
    assert any(c.startswith("helm") for c in rem.commands)
    assert any("argocd app set payment --revision 1111111" in c for c in rem.commands)
    assert 0 < top.confidence <= 1
    assert set(top.scores) >= {"error_origin", "change"}


def test_unreachable_dependency_is_dependency_down(ruleset: RuleSet) -> None:
    traces = [shop.checkout_dials("payment:50051") for _ in range(3)] + [shop.healthy()]
    top = rank(bundle(traces=traces), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == (
        "payment",
        FaultType.DEPENDENCY_DOWN,
    )


def test_bad_address_is_a_config_problem_of_the_caller(ruleset: RuleSet) -> None:
    traces = [shop.checkout_dials("badAddress:50051", shop.DNS_ERROR) for _ in range(3)] + [
        shop.healthy()
    ]
    top = rank(bundle(traces=traces), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == (
        "checkout",
        FaultType.CONFIG_CHANGE,
    )
    assert top.remediation is not None
    assert top.remediation.kind is RemediationKind.REVERT_CONFIG


def test_slow_query_is_database_slow_with_an_index_fix(ruleset: RuleSet) -> None:
    stmt = "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at"

    def t(ms: float, baseline: bool) -> TraceEvidence:
        root = span("checkout", ms=ms + 20)
        db = span(
            "checkout",
            parent=root,
            kind=SpanKind.CLIENT,
            ms=ms,
            attrs={"db.system": "postgresql", "db.statement": stmt},
        )
        return trace([root, db], baseline=baseline)

    traces = [t(5, True) for _ in range(3)] + [t(900, False) for _ in range(3)]
    logs = [
        patterns(
            "checkout",
            pattern("checkout", "slow query: seq scan on orders <*>", 30, new=True, level="warn"),
        )
    ]
    a = rank(
        bundle(traces=traces, log_patterns=logs, the_alert=alert("CheckoutHighLatency")), ruleset
    )
    top = a.top
    assert top is not None
    assert top.service == "checkout"
    assert top.fault_type is FaultType.DATABASE_SLOW
    assert top.remediation is not None
    assert top.remediation.kind is RemediationKind.FIX
    assert "CREATE INDEX CONCURRENTLY ON orders (customer_id)" in top.remediation.summary


def test_feature_flag_change_is_feature_flag(ruleset: RuleSet) -> None:
    traces = [shop.payment_fails() for _ in range(2)] + [shop.healthy()]
    flag = change("payment", 4, kind=ChangeKind.FEATURE_FLAG, flag_key="paymentFailure")
    top = rank(bundle(traces=traces, changes=[flag]), ruleset).top
    assert top is not None
    assert top.fault_type is FaultType.FEATURE_FLAG
    assert top.remediation is not None
    assert top.remediation.kind is RemediationKind.DISABLE_FLAG
    assert any("paymentFailure" in c for c in top.remediation.commands)


def test_cpu_saturation_is_resource_cpu_with_scale(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    cpu = series("payment", "cpu", [0.2] * 10 + [0.97] * 8)
    top = rank(bundle(traces=traces, metrics=[cpu], the_alert=alert("HighLatency")), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("payment", FaultType.RESOURCE_CPU)
    assert top.remediation is not None
    assert top.remediation.kind is RemediationKind.SCALE


def test_nothing_anomalous_is_no_fault_even_with_a_deploy_nearby(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(3)] + [shop.healthy(baseline=False) for _ in range(3)]
    a = rank(bundle(traces=traces, changes=[change("checkout", 5, to_version="3.1")]), ruleset)
    assert a.no_fault
    assert a.hypotheses == []


def test_missing_backends_give_insufficient_with_next_queries(ruleset: RuleSet) -> None:
    items = [
        envelope("exemplars:abc", EvidenceKind.EXEMPLARS, EvidenceStatus.NO_DATA),
        envelope("trace_search:x", EvidenceKind.TRACE_SEARCH, EvidenceStatus.ERROR, "tempo: 503"),
        envelope("patterns:checkout", EvidenceKind.LOG_PATTERNS, EvidenceStatus.TIMEOUT),
    ]
    b = bundle(extra_items=items, the_alert=alert("HighErrorRate", service='check"out'))
    a = rank(b, ruleset)
    assert not a.no_fault
    assert a.hypotheses == []
    assert a.insufficient is not None
    text = "\n".join(a.insufficient.missing)
    assert "tempo: 503" in text
    assert "no exemplars" in text
    assert "timeout" in text
    assert any('resource.service.name = "check\\"out"' in q for q in a.insufficient.next_queries)


async def test_rank_stage_is_the_pipeline_rules_stage(ruleset: RuleSet) -> None:
    from datetime import UTC, datetime

    from correlator.models import AlertStatus, Investigation, InvestigationStatus
    from correlator.rules import RankStage

    b = bundle(traces=[shop.payment_fails() for _ in range(2)])
    now = datetime.now(UTC)
    inv = Investigation(
        id="i",
        fingerprint="f",
        alert=b.alert,
        alert_status=AlertStatus.FIRING,
        status=InvestigationStatus.RUNNING,
        created_at=now,
        updated_at=now,
    )
    analysis = await RankStage(ruleset)(inv, b)
    assert analysis == rank(b, ruleset)
    assert analysis.top is not None
    assert analysis.top.service == "payment"


def test_steady_noisy_logs_with_no_baseline_accuse_nobody(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.healthy(baseline=False) for _ in range(3)]
    logs = [patterns("auth", pattern("auth", "failed to refresh JWKS cache: deadline", 30))]
    a = rank(bundle(traces=traces, log_patterns=logs), ruleset)
    assert a.no_fault
    assert a.hypotheses == []


def test_surge_at_the_entry_is_traffic_surge_not_downstream_cpu(ruleset: RuleSet) -> None:
    steady = [100.0, 102, 98, 101, 99, 100, 103, 97]
    surge = [400.0, 410, 395, 405, 420]
    cpu = [0.2, 0.21, 0.19, 0.2, 0.22, 0.2, 0.21, 0.19, 0.6, 0.62, 0.61, 0.6, 0.63]
    metrics = [
        series("frontend", "request_rate", steady + surge),
        series("checkout", "request_rate", steady + surge),
        series("payment", "request_rate", steady + surge),
        series("frontend", "cpu", cpu),
        series("checkout", "cpu", cpu),
        series("payment", "cpu", cpu),
    ]
    traces = [shop.healthy(), shop.healthy(baseline=False)]
    top = rank(bundle(traces=traces, metrics=metrics, the_alert=alert("HighLatency")), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("frontend", FaultType.TRAFFIC_SURGE)


def test_config_push_on_the_caller_keeps_blame_when_a_known_peer_fails(ruleset: RuleSet) -> None:
    traces = [shop.checkout_dials("payment:50051") for _ in range(3)] + [shop.healthy()]
    push = change("checkout", 3, kind=ChangeKind.CONFIG, description="PAYMENT_ADDR=10.0.0.9")
    top = rank(bundle(traces=traces, changes=[push]), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("checkout", FaultType.CONFIG_CHANGE)
    assert top.suspect_change is not None
    assert top.suspect_change.evidence_id == push.evidence_id
    assert top.remediation is not None
    assert "PAYMENT_ADDR" in top.remediation.summary


def test_flag_flip_recorded_as_a_plain_marker_is_a_feature_flag(ruleset: RuleSet) -> None:
    from correlator.models import FlagEvaluation
    from tests.unit.rules.factories import ONSET

    flip = change("payment", 1, description="Flag change payment: 3ds_v2 -> 50%")
    t = shop.payment_fails()
    on = FlagEvaluation(key="3ds_v2", variant="on", service="payment", span_id="2" * 16, time=ONSET)
    t = t.model_copy(update={"analysis": t.analysis.model_copy(update={"flags": [on]})})
    top = rank(bundle(traces=[t, shop.healthy()], changes=[flip]), ruleset).top
    assert top is not None
    assert top.fault_type is FaultType.FEATURE_FLAG
    assert top.suspect_change is not None
    assert top.suspect_change.kind == "feature_flag"
    assert top.suspect_change.version == "3ds_v2"
    assert top.remediation is not None
    assert top.remediation.kind is RemediationKind.DISABLE_FLAG


def test_chronic_errors_whose_ratio_did_not_move_accuse_nobody(ruleset: RuleSet) -> None:
    steady = [0.03, 0.0, 0.06, 0.03, 0.0, 0.03, 0.06, 0.0, 0.03, 0.03, 0.0, 0.03, 0.06, 0.0]
    ratio = series("payment", "error_ratio", steady, step=30.0)
    traces = [shop.payment_fails(), shop.healthy(), shop.healthy(baseline=False)]
    assert rank(bundle(traces=traces), ruleset).top is not None  # without the metric: accused
    a = rank(bundle(traces=traces, metrics=[ratio]), ruleset)
    assert a.no_fault
    assert a.hypotheses == []


def test_errors_whose_ratio_rose_at_onset_are_corroborated(ruleset: RuleSet) -> None:
    rising = [0.0] * 8 + [0.0, 0.3, 0.0, 0.4, 0.5, 0.0, 0.3, 0.4]
    ratio = series("payment", "error_ratio", rising, step=30.0)
    traces = [shop.payment_fails(), shop.healthy(), shop.healthy(baseline=False)]
    top = rank(bundle(traces=traces, metrics=[ratio]), ruleset).top
    assert top is not None
    assert top.service == "payment"
    assert top.scores["error_origin"] == 3.0


def test_new_error_logs_alone_accuse_nobody_even_next_to_a_deploy(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.healthy(baseline=False) for _ in range(3)]
    logs = [
        patterns("auth", pattern("auth", "failed to refresh JWKS cache <*>", 30, new=True)),
        patterns("cart", pattern("cart", "GET / 200", 10, 10, level="info")),
    ]
    deploy = change("auth", 8, to_version="1.9.5")
    a = rank(bundle(traces=traces, log_patterns=logs, changes=[deploy]), ruleset)
    assert a.no_fault
    assert a.hypotheses == []


def test_repeated_backend_failures_are_listed_once_with_a_count(ruleset: RuleSet) -> None:
    items = [
        envelope(f"logs:{i:032x}", EvidenceKind.TRACE_LOGS, EvidenceStatus.ERROR, "loki: 503")
        for i in range(3)
    ]
    a = rank(bundle(traces=[shop.payment_fails(), shop.healthy()], extra_items=items), ruleset)
    assert a.top is not None
    assert a.insufficient is not None
    assert a.insufficient.missing == [
        f"3 x trace_logs from test error: loki: 503 (e.g. logs:{0:032x})"
    ]
    assert any("|~" in q for q in a.insufficient.next_queries)


def test_naive_change_times_are_read_as_utc(ruleset: RuleSet) -> None:
    traces = [shop.payment_fails(version="2.0") for _ in range(2)] + [shop.healthy()]
    c = change("payment", 5, to_version="2.0")
    naive = c.model_copy(update={"time": c.time.replace(tzinfo=None)})
    top = rank(bundle(traces=traces, changes=[naive]), ruleset).top
    assert top is not None
    assert top.suspect_change is not None
    assert top.suspect_change.evidence_id == c.evidence_id


def test_slower_with_nothing_failing_or_explaining_it_is_network_delay(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(3)] + [shop.payment_slow(600) for _ in range(3)]
    top = rank(bundle(traces=traces, the_alert=alert("CheckoutLatencyHigh")), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("payment", FaultType.NETWORK_DELAY)
