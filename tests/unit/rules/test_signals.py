"""One test (or two) per signal, on small hand-built bundles."""

from __future__ import annotations

from correlator.models import ChangeKind, Resource
from correlator.rules.schema import SignalName, Thresholds
from correlator.rules.signals import (
    change_proximity,
    error_origin,
    latency_origin,
    log_evidence,
    resource_saturation,
    topology,
    traffic_surge,
)
from correlator.rules.signals.base import Context
from tests.unit.rules import shop
from tests.unit.rules.factories import bundle, change, pattern, patterns, series


def ctx_of(**kw: object) -> Context:
    return Context(bundle(**kw), Thresholds())  # type: ignore[arg-type]


def test_error_origin_votes_for_the_root_most_erroring_service() -> None:
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy(baseline=False)]
    res = error_origin(ctx_of(traces=traces))
    assert max(res.scores, key=res.scores.__getitem__) == "payment"
    assert res.scores["payment"] == 1.0
    assert "frontend" not in res.scores
    assert "checkout" not in res.scores
    assert set(res.evidence["payment"]) == {t.evidence_id for t in traces[:3]}


def test_error_origin_ignores_errors_already_present_before_onset() -> None:
    incident = [shop.payment_fails() for _ in range(2)]
    before = [shop.payment_fails().model_copy(update={"baseline": True}) for _ in range(2)]
    res = error_origin(ctx_of(traces=incident + before))
    assert res.scores.get("payment", 0.0) == 0.0


def test_unreachable_known_dependency_moves_blame_to_it() -> None:
    traces = [shop.checkout_dials("payment:50051") for _ in range(2)] + [shop.healthy()]
    res = error_origin(ctx_of(traces=traces))
    assert res.scores == {"payment": 1.0}
    assert "unreachable" in res.tags["payment"]


def test_bad_address_never_seen_before_stays_with_the_caller() -> None:
    traces = [shop.checkout_dials("badAddress:50051", shop.DNS_ERROR) for _ in range(2)] + [
        shop.healthy()
    ]
    res = error_origin(ctx_of(traces=traces))
    assert res.scores == {"checkout": 1.0}
    assert "bad_target" in res.tags["checkout"]


def test_latency_origin_finds_the_self_time_excess_vs_baseline() -> None:
    traces = [shop.healthy() for _ in range(3)] + [shop.payment_slow() for _ in range(3)]
    res = latency_origin(ctx_of(traces=traces))
    assert max(res.scores, key=res.scores.__getitem__) == "payment"
    assert res.scores["payment"] == 1.0
    assert res.scores.get("frontend", 0.0) < 0.1


def test_latency_origin_charges_network_gaps_to_the_callee() -> None:
    traces = [shop.healthy() for _ in range(3)]
    traces += [shop.slow_network_to_payment(300.0) for _ in range(3)]
    res = latency_origin(ctx_of(traces=traces))
    assert max(res.scores, key=res.scores.__getitem__) == "payment"
    assert "network_delay" in res.tags["payment"]


def test_latency_origin_is_quiet_when_nothing_is_slower() -> None:
    traces = [shop.healthy() for _ in range(3)] + [shop.healthy(baseline=False) for _ in range(3)]
    assert latency_origin(ctx_of(traces=traces)).scores == {}


def test_log_evidence_prefers_new_and_surging_error_templates() -> None:
    pats = [
        patterns("payment", pattern("payment", "NullPointerException in charge <*>", 40, new=True)),
        patterns("checkout", pattern("checkout", "request failed <*>", 12, 10)),
        patterns("frontend", pattern("frontend", "GET / 200", 500, 10, level="info")),
    ]
    res = log_evidence(ctx_of(log_patterns=pats))
    assert res.scores == {"payment": 1.0}
    assert "exception" in res.tags["payment"]
    assert res.evidence["payment"] == ["patterns:payment"]


def test_change_proximity_scores_recent_changes_carried_by_incident_spans() -> None:
    traces = [shop.payment_fails(version="2.0") for _ in range(2)]
    near = change("payment", 10, to_version="2.0", from_version="1.0")
    far = change("checkout", 110, to_version="9.9")
    ignored = change("frontend", 600)
    res = change_proximity(ctx_of(traces=traces, changes=[near, far, ignored]))
    assert res.scores["payment"] > res.scores["checkout"] > 0
    assert "frontend" not in res.scores
    assert "new_version_on_incident_spans" in res.tags["payment"]
    assert res.evidence["payment"] == [near.evidence_id]


def test_change_proximity_flags_new_flag_evaluations() -> None:
    from correlator.models import FlagEvaluation
    from tests.unit.rules.factories import ONSET

    t = shop.payment_fails()
    flag = FlagEvaluation(
        key="new_pay", variant="on", service="payment", span_id="1" * 16, time=ONSET
    )
    t = t.model_copy(update={"analysis": t.analysis.model_copy(update={"flags": [flag]})})
    res = change_proximity(ctx_of(traces=[t, shop.healthy()]))
    assert {"flag_new", "flag=new_pay", "flag_on_failing"} <= res.tags["payment"]


def test_resource_saturation_uses_change_point_and_survives_a_late_alert() -> None:
    # CPU jumps 5 min BEFORE onset (the alert fired late): the pre-onset window is polluted,
    # the change point is not.
    flat = [0.20, 0.21, 0.19, 0.20, 0.22, 0.20, 0.21, 0.19, 0.20, 0.21]
    hot = [0.95, 0.97, 0.96, 0.98, 0.97, 0.96, 0.95, 0.97, 0.96, 0.98, 0.97, 0.96, 0.95, 0.97]
    noisy = [
        0.5,
        0.52,
        0.48,
        0.51,
        0.49,
        0.5,
        0.52,
        0.48,
        0.5,
        0.51,
        0.49,
        0.5,
        0.52,
        0.48,
        0.5,
        0.51,
        0.49,
        0.5,
        0.52,
        0.48,
        0.5,
        0.51,
        0.49,
        0.5,
    ]
    res = resource_saturation(
        ctx_of(metrics=[series("payment", "cpu", flat + hot), series("checkout", "cpu", noisy)])
    )
    assert set(res.scores) == {"payment"}
    assert res.tags["payment"] == {"cpu"}


def test_resource_restarts_count_as_memory_evidence() -> None:
    res = resource_saturation(ctx_of(metrics=[series("cart", "restarts", [0] * 8 + [1, 1, 2, 3])]))
    assert res.scores["cart"] > 0
    assert res.tags["cart"] == {"restarts"}


def test_traffic_surge_detects_request_rate_ratio() -> None:
    steady = [100.0, 102, 98, 101, 99, 100, 103, 97]
    res = traffic_surge(
        ctx_of(
            metrics=[
                series("frontend", "request_rate", [*steady, 400.0, 410, 395, 405, 420]),
                series("checkout", "request_rate", [*steady, 101.0, 99, 100, 102, 98]),
            ]
        )
    )
    assert set(res.scores) == {"frontend"}


def test_traffic_surge_needs_a_baseline_of_several_samples() -> None:
    """Two samples before a rise are not a baseline: no surge is claimed from them (the same
    rise over eight reference samples is one, see the test above)."""
    short = series("frontend", "request_rate", [100.0, 102, 400, 410, 395, 405])
    assert traffic_surge(ctx_of(metrics=[short])).scores == {}
    long = series("frontend", "request_rate", [100.0, 102] * 4 + [400.0, 410, 395, 405])
    assert set(traffic_surge(ctx_of(metrics=[long])).scores) == {"frontend"}


def test_topology_pushes_blame_to_the_deepest_anomalous_dependency() -> None:
    c = ctx_of(traces=[shop.payment_fails(), shop.healthy()])
    prior = [error_origin(c), latency_origin(c), log_evidence(c)]
    prior[0].add("checkout", 0.5, [])  # checkout looks anomalous too...
    res = topology(c, prior)
    assert res.scores.get("payment") == 1.0  # ...but its callee payment is the deepest one
    assert "checkout" not in res.scores
    assert res.name is SignalName.TOPOLOGY


def test_change_kinds_are_tagged() -> None:
    traces = [shop.payment_fails()]
    cfg = change("payment", 5, kind=ChangeKind.CONFIG)
    res = change_proximity(ctx_of(traces=traces, changes=[cfg]))
    assert "change_config" in res.tags["payment"]
    assert Resource().service == "unknown"


def test_slow_backend_for_every_existing_query_blames_the_backend() -> None:
    before = {"SELECT a FROM t WHERE id = $1": 3.0, "SELECT b FROM u WHERE id = $1": 3.0}
    after = dict.fromkeys(before, 400.0)
    traces = [shop.db_calls(before, baseline=True) for _ in range(3)]
    traces += [shop.db_calls(after, baseline=False) for _ in range(3)]
    res = latency_origin(ctx_of(traces=traces))
    assert max(res.scores, key=res.scores.__getitem__) == "db-primary"
    assert {"db", "backend"} <= res.tags["db-primary"]


def test_a_new_slow_query_blames_its_caller_not_the_backend() -> None:
    old = {"SELECT a FROM t WHERE id = $1": 3.0}
    new = {**old, "SELECT * FROM orders WHERE customer_id = $1": 600.0}
    traces = [shop.db_calls(old, baseline=True) for _ in range(3)]
    traces += [shop.db_calls(new, baseline=False) for _ in range(3)]
    res = latency_origin(ctx_of(traces=traces))
    assert max(res.scores, key=res.scores.__getitem__) == "checkout"
    assert {"db", "new_query"} <= res.tags["checkout"]
    assert "db-primary" not in res.scores


def test_a_trace_inferred_version_change_folds_into_the_recorded_deploy() -> None:
    from correlator.rules.signals.changes import ranked_changes

    traces = [shop.payment_fails(version="2.0")]
    recorded = change("payment", 20, to_version="2.0", url="https://git.example/c")
    inferred = change(
        "payment", 1, kind=ChangeKind.VERSION_CHANGE, to_version="2.0", source="trace"
    )
    got = ranked_changes(ctx_of(traces=traces, changes=[inferred, recorded]), "payment")
    assert [c.evidence_id for _, c in got] == [recorded.evidence_id]


def test_traffic_surge_prefers_the_entry_service_of_the_call_graph() -> None:
    steady = [100.0, 102, 98, 101, 99, 100, 103, 97]
    surge = [400.0, 410, 395, 405, 420]
    res = traffic_surge(
        ctx_of(
            traces=[shop.healthy()],
            metrics=[
                series("frontend", "request_rate", steady + surge),
                series("checkout", "request_rate", steady + surge),
            ],
        )
    )
    assert res.scores["frontend"] > res.scores["checkout"] > 0


def test_packet_loss_is_told_from_a_delayed_link_by_dispersion() -> None:
    base = [shop.healthy() for _ in range(3)]
    lossy = [shop.slow_network_to_payment(g) for g in (1.0, 200.0, 1.0, 1000.0, 400.0)]
    res = latency_origin(ctx_of(traces=base + lossy))
    assert "network_loss" in res.tags["payment"]
    steady = [shop.slow_network_to_payment(g) for g in (300.0, 310.0, 290.0)]
    res = latency_origin(ctx_of(traces=base + steady))
    assert "network_delay" in res.tags["payment"]


def test_logs_without_any_baseline_count_at_half_weight_not_as_new() -> None:
    pats = [
        patterns("payment", pattern("payment", "charge failed <*>", 40)),
        patterns("checkout", pattern("checkout", "request failed <*>", 10)),
    ]
    res = log_evidence(ctx_of(log_patterns=pats))
    assert res.scores["payment"] == 1.0
    assert res.scores["checkout"] == 0.25
    assert "20 new/surging" in res.reasons["payment"]


def test_a_stray_sample_of_a_sparse_counter_is_not_saturation() -> None:
    sparse = [0.0, 0.0, 0.033, 0.0, 0.0, 0.0, 0.0, 0.033, 0.0, 0.0, 0.0, 0.033, 0.0, 0.0]
    res = resource_saturation(ctx_of(metrics=[series("inventory", "packet_drops", sparse)]))
    assert res.scores == {}


def test_saturation_carried_by_an_upstream_surge_is_damped() -> None:
    from correlator.rules.signals.metrics import explain_load

    steady = [100.0, 102, 98, 101, 99, 100, 103, 97]
    surge = [400.0, 410, 395, 405, 420]
    cpu = [0.2, 0.21, 0.19, 0.2, 0.22, 0.2, 0.21, 0.19, 0.6, 0.62, 0.61, 0.6, 0.63]
    c = ctx_of(
        traces=[shop.healthy()],
        metrics=[
            series("frontend", "request_rate", steady + surge),
            series("checkout", "request_rate", steady + surge),
            series("checkout", "cpu", cpu),
        ],
    )
    traffic, resource = traffic_surge(c), resource_saturation(c)
    before = resource.scores["checkout"]
    explain_load(c, traffic, resource)
    assert resource.scores["checkout"] == before * 0.3
    assert "load_from_surge" in resource.tags["checkout"]


def test_an_unknown_peer_that_refuses_connections_is_down() -> None:
    traces = [shop.checkout_dials("ledger.internal:7000") for _ in range(2)]
    res = error_origin(ctx_of(traces=traces))
    assert res.scores == {"ledger.internal": 1.0}
    assert "unreachable" in res.tags["ledger.internal"]


def test_flags_evaluated_off_are_not_suspects() -> None:
    from correlator.models import FlagEvaluation
    from tests.unit.rules.factories import ONSET

    t = shop.payment_fails()
    off = FlagEvaluation(key="beta", variant="off", service="payment", span_id="1" * 16, time=ONSET)
    t = t.model_copy(update={"analysis": t.analysis.model_copy(update={"flags": [off]})})
    res = change_proximity(ctx_of(traces=[t, shop.healthy()]))
    assert "flag_new" not in res.tags.get("payment", set())


def test_an_error_naming_another_address_is_the_callers_misconfiguration() -> None:
    msg = "It was not possible to connect to the redis server(s). badhost:1234"
    traces = [shop.checkout_dials("payment:50051", msg) for _ in range(2)] + [shop.healthy()]
    res = error_origin(ctx_of(traces=traces))
    assert res.scores == {"checkout": 1.0}
    assert "bad_target" in res.tags["checkout"]


def test_material_rise_floors_keep_small_sparse_counters_quiet() -> None:
    drops = [0.0] * 6 + [0.017, 0.0, 0.017, 0.017, 0.017, 0.033, 0.0, 0.017, 0.017]
    res = resource_saturation(ctx_of(metrics=[series("ad", "packet_drops", drops)]))
    assert res.scores == {}


def test_a_qualified_form_of_the_peer_name_in_the_error_is_not_another_address() -> None:
    msg = "Timeout connecting to redis-master.cache:6379"
    traces = [shop.checkout_dials("redis", msg) for _ in range(2)]
    res = error_origin(ctx_of(traces=traces))
    assert "bad_target" not in res.tags.get("checkout", set())
    assert res.scores == {"redis": 1.0}


def test_a_backend_that_just_changed_owns_its_slow_calls() -> None:
    old = {"UPDATE stock SET n = n - 1 WHERE sku = $1": 3.0, "SELECT a FROM t WHERE id = $1": 3}
    new = {"UPDATE stock SET n = n - 1 WHERE sku = $1": 900.0, "SELECT a FROM t WHERE id = $1": 3}
    traces = [shop.db_calls(old, baseline=True) for _ in range(3)]
    traces += [shop.db_calls(new, baseline=False) for _ in range(3)]
    assert max((r := latency_origin(ctx_of(traces=traces))).scores, key=r.scores.__getitem__) == (
        "checkout"
    )
    migration = change("db-primary", 2, kind=ChangeKind.CONFIG, description="drop index")
    res = latency_origin(ctx_of(traces=traces, changes=[migration]))
    assert max(res.scores, key=res.scores.__getitem__) == "db-primary"
    assert {"db", "backend"} <= res.tags["db-primary"]
