"""Accuracy metrics (definitions in docs/accuracy.md) and the simulator's query subsets."""

from __future__ import annotations

import pytest

from correlator.lab.evaluate import CaseOutcome, below_thresholds, evaluate, score_case
from correlator.lab.scenarios import Truth
from correlator.lab.simulator.logql import Entry, LogQLError, parse
from correlator.lab.simulator.promsel import selectors
from correlator.lab.simulator.traceql import SpanView, TraceQLError, compile_query
from correlator.models.analysis import FaultType, SuspectChange


def truth(
    service: str | list[str] | None, fault: str, change: dict[str, str] | None = None
) -> Truth:
    return Truth.model_validate(
        {"root_cause": {"service": service, "fault_type": fault, "change": change}}
    )


def outcome(
    cid: str, ranked: list[str], faults: list[FaultType] | None = None, **kw: object
) -> CaseOutcome:
    return CaseOutcome(
        id=cid, ranked=ranked, fault_types=faults or [FaultType.CODE_ERROR] * len(ranked), **kw
    )  # type: ignore[arg-type]


def suspect(version: str | None = None, commit: str | None = None) -> SuspectChange:
    return SuspectChange(
        evidence_id="deploy:x",
        kind="deploy",
        service="a",
        summary="deploy",
        version=version,
        commit=commit,
    )


def test_hit_rank_and_ac_at_k() -> None:
    report = evaluate(
        [
            (truth("a", "code_error"), outcome("1", ["a", "b"])),
            (truth("b", "code_error"), outcome("2", ["a", "c", "b"])),
            (truth("z", "code_error"), outcome("3", ["a", "b", "c", "d", "e", "z"])),
            (truth("q", "code_error"), outcome("4", [])),
        ]
    )
    assert [c.hit_rank for c in report.per_case] == [1, 3, 6, None]
    assert report.ac_at_1 == 0.25
    assert report.ac_at_3 == 0.5
    # AC@1..AC@5 = .25 .25 .5 .5 .5
    assert report.avg_at_5 == pytest.approx(0.4)
    assert report.cases == 4


def test_any_truth_service_counts_for_multi_fault() -> None:
    s = score_case(truth(["a", "b"], "code_error"), outcome("m", ["c", "b", "a"]))
    assert s.hit_rank == 2


def test_duplicate_services_are_ranked_once() -> None:
    from correlator.lab.evaluate import outcome_from
    from correlator.models.analysis import Analysis, Hypothesis

    hyps = [
        Hypothesis(service=s, fault_type=FaultType.CODE_ERROR, statement="", confidence=0.5)
        for s in ("a", "a", "b")
    ]
    analysis = Analysis(hypotheses=hyps)
    inv = _investigation(analysis)
    out = outcome_from("d", [inv], 1.0)
    assert out.ranked == ["a", "b"]


def _investigation(analysis: object) -> object:
    from datetime import UTC, datetime

    from correlator.models import Alert, AlertStatus, Investigation, InvestigationStatus

    now = datetime(2026, 1, 1, tzinfo=UTC)
    alert = Alert(
        fingerprint="f", status=AlertStatus.FIRING, labels={"alertname": "x"}, starts_at=now
    )
    return Investigation(
        id="i",
        fingerprint="f",
        alert=alert,
        alert_status=AlertStatus.FIRING,
        status=InvestigationStatus.DONE,
        created_at=now,
        updated_at=now,
        analysis=analysis,  # type: ignore[arg-type]
    )


def test_fault_type_is_judged_on_the_top_hypothesis() -> None:
    report = evaluate(
        [
            (truth("a", "resource_cpu"), outcome("1", ["a"], [FaultType.RESOURCE_CPU])),
            (
                truth("a", "resource_cpu"),
                outcome("2", ["b", "a"], [FaultType.CODE_ERROR, FaultType.RESOURCE_CPU]),
            ),
        ]
    )
    assert report.fault_type_accuracy == 0.5


def test_culprit_change_matches_commit_prefix_version_or_id() -> None:
    t = truth("a", "deploy_regression", {"version": "2.4.1", "commit": "7a3f9c2"})
    assert score_case(t, outcome("1", ["a"], top_change=suspect(commit="7a3f9c2e1b"))).change_hit
    assert score_case(t, outcome("2", ["a"], top_change=suspect(version="2.4.1"))).change_hit
    assert not score_case(
        t, outcome("3", ["a"], top_change=suspect(version="2.4.0", commit="5e1d0b8"))
    ).change_hit
    assert not score_case(t, outcome("4", ["a"])).change_hit
    by_id = truth("a", "feature_flag", {"id": "3ds_v2"})
    flag = SuspectChange(
        evidence_id="change:flag",
        kind="feature_flag",
        service="a",
        summary="Flag change: enable 3ds_v2",
    )
    assert score_case(by_id, outcome("5", ["a"], top_change=flag)).change_hit


def test_false_accusations() -> None:
    report = evaluate(
        [
            # blames a deploy although no change is at fault
            (truth("a", "resource_cpu"), outcome("1", ["a"], top_change=suspect(version="1"))),
            # correct: no change blamed
            (truth("a", "resource_cpu"), outcome("2", ["a"])),
            # no-fault control: blaming a service is an accusation ...
            (truth(None, "none"), outcome("3", ["a"])),
            # ... unless the analysis declares no fault
            (truth(None, "none"), outcome("4", ["a"], no_fault=True)),
            # no-fault control with no hypothesis at all
            (truth(None, "none"), outcome("5", [])),
            # a change IS at fault: not counted in the false-accusation denominator
            (
                truth("a", "deploy_regression", {"version": "2"}),
                outcome("6", ["a"], top_change=suspect(version="9")),
            ),
        ]
    )
    flags = [c.false_accusation for c in report.per_case]
    assert flags == [True, False, True, False, False, None]
    assert report.false_accusation_rate == 0.4
    assert report.culprit_change_top1 == 0.0
    # controls do not enter AC@k
    assert report.ac_at_1 == 1.0


def test_thresholds() -> None:
    report = evaluate([(truth("a", "code_error"), outcome("1", ["b", "a"]))])
    assert below_thresholds(report, min_ac1=0.5)
    assert not below_thresholds(report, min_ac3=0.5)
    assert not below_thresholds(report, max_false_accusation=0.0)


def test_empty_report() -> None:
    report = evaluate([])
    assert report.ac_at_1 is None
    assert report.cases == 0


# ---- query subsets of the simulator -----------------------------------------------------------


def view(**kw: object) -> SpanView:
    base: dict[str, object] = {
        "name": "GET /x",
        "kind": "server",
        "status": "unset",
        "status_message": "",
        "duration_ns": 10_000_000,
        "span_attrs": {"http.route": "/x"},
        "resource_attrs": {"service.name": "svc"},
    }
    base.update(kw)
    return SpanView(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("q", "hit"),
    [
        ('{ resource.service.name = "svc" }', True),
        ('{ resource.service.name = "other" }', False),
        ('{ .service.name = "svc" && status = error }', False),
        ('{ resource.service.name = "svc" && (status = error || duration > 5ms) }', True),
        ("{ duration > 500ms }", False),
        ('{ span.http.route =~ "/x.*" }', True),
        ("{}", True),
    ],
)
def test_traceql_subset(q: str, hit: bool) -> None:
    assert compile_query(q)(view()) is hit


def test_traceql_errors() -> None:
    with pytest.raises(TraceQLError):
        compile_query("{ status = }")
    with pytest.raises(TraceQLError):
        compile_query("{ a = 1 } >> { b = 2 }")


def test_logql_subset_filters_labels_metadata_and_lines() -> None:
    entries = [
        Entry(
            1, "slow query: seq scan", {"service_name": "a", "level": "warn"}, {"trace_id": "t1"}
        ),
        Entry(2, 'level=error msg="boom" trace_id=t2', {"app": "b"}),
        Entry(3, "fine", {"service_name": "a", "level": "info"}, {"trace_id": "t3"}),
    ]
    assert [s.entry.ts for s in parse('{service_name="a"} | trace_id="t1"').select(entries)] == [1]
    assert [s.entry.ts for s in parse('{service_name=~"a|b"} |~ "(?i)SEQ"').select(entries)] == [1]
    assert [s.entry.ts for s in parse('{service_name="a"} != "seq"').select(entries)] == [3]
    assert [s.entry.ts for s in parse('{app="b"} | logfmt | trace_id="t2"').select(entries)] == [2]
    assert parse('{app="b"} |= "t2"').select(entries)[0].entry.ts == 2
    with pytest.raises(LogQLError):
        parse('sum(count_over_time({a="b"}[1m]))')


def test_promql_selectors_skip_functions_and_grouping() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, service) (rate(x_bucket{service="a"}[5m]))) > 0.5 '
        'or sum without (pod) (y_total{code=~"5.."}) / on (service) z'
    )
    got = selectors(expr)
    assert got == [
        [("__name__", "=", "x_bucket"), ("service", "=", "a")],
        [("__name__", "=", "y_total"), ("code", "=~", "5..")],
        [("__name__", "=", "z")],
    ]


def test_culprit_change_threshold() -> None:
    t = truth("a", "deploy_regression", {"version": "2.4.1"})
    right = outcome("1", ["a"], top_change=suspect(version="2.4.1"))
    wrong = outcome("2", ["a"], top_change=suspect(version="9.9.9"))
    half = evaluate([(t, right), (t, wrong)])
    assert below_thresholds(half, min_culprit_change=0.9) == ["culprit-change top-1 0.5 < 0.9"]
    assert not below_thresholds(evaluate([(t, right)]), min_culprit_change=0.9)
    # no change-induced case: nothing to judge, no failure
    assert not below_thresholds(
        evaluate([(truth("a", "code_error"), right)]), min_culprit_change=0.9
    )
