"""Fault typing as evidence combination: the rules' ``fault_typing`` table, per row family, and
proof that the table (data), not Python, decides."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from correlator.models import ChangeKind, FaultType, SpanKind, TraceEvidence
from correlator.rules import RuleSet, check_directory, load_ruleset, rank
from correlator.rules.faults import combine
from correlator.rules.schema import FaultEvidence, FaultTyping, SignalName
from tests.unit.rules import shop
from tests.unit.rules.conftest import RULES_DIR
from tests.unit.rules.factories import alert, bundle, call, change, series, span, trace

RISE = [1.0] * 12 + [1.6] * 8  # a sustained rise to a new level, in any unit


def _scaled(values: list[float], unit: float) -> list[float]:
    return [v * unit for v in values]


def _typed(ruleset: RuleSet, traces: list[TraceEvidence], **kw: object) -> tuple[str, FaultType]:
    top = rank(bundle(traces=traces, the_alert=alert("HighLatency"), **kw), ruleset).top  # type: ignore[arg-type]
    assert top is not None
    return top.service, top.fault_type


def _network_delay_to_payment() -> list[TraceEvidence]:
    return [shop.healthy() for _ in range(3)] + [
        shop.slow_network_to_payment(300) for _ in range(3)
    ]


def _starved_checkout(*, baseline: bool) -> TraceEvidence:
    """checkout calls payment and shipping; starved of CPU, its own work takes longer and it
    reads both responses late (network-or-queueing time on both edges)."""
    gap, own = (1.0, 5.0) if baseline else (300.0, 400.0)
    total = 2 * own + 2 * (10 + 2 * gap)
    root = span("frontend", ms=total + 20)
    c1 = span("frontend", parent=root, kind=SpanKind.CLIENT, ms=total + 10, offset_ms=5)
    checkout = span("checkout", parent=c1, ms=total, offset_ms=5)
    spans = [root, c1, checkout]
    offset = own
    for callee in ("payment", "shipping"):
        client = span(
            "checkout",
            parent=checkout,
            kind=SpanKind.CLIENT,
            ms=10 + 2 * gap,
            offset_ms=offset,
            attrs={"peer.service": callee},
        )
        spans += [client, span(callee, parent=client, ms=10, offset_ms=gap)]
        offset += 10 + 2 * gap + own / 2
    return trace(spans, baseline=baseline)


# -- one test per row family ------------------------------------------------------------------


def test_cpu_rise_of_a_small_service_is_resource_cpu(ruleset: RuleSet) -> None:
    """No absolute CPU floor: 2 -> 3 millicores of a tiny service is a CPU rise too."""
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    cpu = series("payment", "cpu", _scaled(RISE, 0.002))
    assert _typed(ruleset, traces, metrics=[cpu]) == ("payment", FaultType.RESOURCE_CPU)


def test_cpu_beats_the_memory_a_stress_process_also_takes(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    metrics = [
        series("payment", "cpu", _scaled(RISE, 0.01)),
        series("payment", "memory", _scaled(RISE, 2e7)),
    ]
    assert _typed(ruleset, traces, metrics=metrics) == ("payment", FaultType.RESOURCE_CPU)


def test_memory_rise_with_own_slowness_is_resource_memory(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    mem = series("payment", "memory", _scaled(RISE, 2e7))
    assert _typed(ruleset, traces, metrics=[mem]) == ("payment", FaultType.RESOURCE_MEMORY)


def test_memory_rise_beside_network_time_is_the_backlog_of_a_delay(ruleset: RuleSet) -> None:
    mem = series("payment", "memory", _scaled(RISE, 2e7))
    got = _typed(ruleset, _network_delay_to_payment(), metrics=[mem])
    assert got == ("payment", FaultType.NETWORK_DELAY)


def test_throttling_in_front_of_network_time_is_cpu_contention(ruleset: RuleSet) -> None:
    """A throttled container delays requests before its handler runs, which callers see as
    network time; the throttling series tells contention from a delayed link."""
    throttled = series("payment", "cpu_throttling", [0.02] * 12 + [0.6] * 8)
    got = _typed(ruleset, _network_delay_to_payment(), metrics=[throttled])
    assert got == ("payment", FaultType.RESOURCE_CPU)
    bursty = series("payment", "cpu_throttling", [0.02] * 12 + [0.1] * 8)  # under the floor
    got = _typed(ruleset, _network_delay_to_payment(), metrics=[bursty])
    assert got == ("payment", FaultType.NETWORK_DELAY)


def test_network_time_alone_is_network_delay(ruleset: RuleSet) -> None:
    assert _typed(ruleset, _network_delay_to_payment()) == ("payment", FaultType.NETWORK_DELAY)


def test_packet_drops_make_network_time_loss(ruleset: RuleSet) -> None:
    drops = series("payment", "packet_drops", [0.0] * 12 + [30.0] * 8)
    got = _typed(ruleset, _network_delay_to_payment(), metrics=[drops])
    assert got == ("payment", FaultType.NETWORK_LOSS)


def test_starved_caller_reading_every_response_late_is_resource_cpu(ruleset: RuleSet) -> None:
    traces = [_starved_checkout(baseline=True) for _ in range(3)]
    traces += [_starved_checkout(baseline=False) for _ in range(3)]
    assert _typed(ruleset, traces) == ("checkout", FaultType.RESOURCE_CPU)


def _slow_in_front_and_inside(*, baseline: bool) -> TraceEvidence:
    """checkout -> payment where payment's requests wait longer before its handler runs AND its
    own span takes longer: a CPU-starved process (scheduling delay plus slower work)."""
    gap, own = (1.0, 10.0) if baseline else (300.0, 120.0)
    root = span("frontend", ms=60 + own + 2 * gap)
    c1, checkout = call(root, "checkout", ms=40 + own + 2 * gap)
    c2, payment = call(checkout, "payment", ms=own, gap_ms=gap)
    return trace([root, c1, checkout, c2, payment], baseline=baseline)


def test_time_in_front_plus_slower_own_spans_is_cpu_starvation(ruleset: RuleSet) -> None:
    """A delayed link adds time in front of the callee and leaves its own span as it was (see
    ``test_network_time_alone_is_network_delay``); CPU starvation slows both, even with no CPU
    series at all (contention from a neighbour does not raise the victim's own usage)."""
    traces = [_slow_in_front_and_inside(baseline=True) for _ in range(3)]
    traces += [_slow_in_front_and_inside(baseline=False) for _ in range(3)]
    assert _typed(ruleset, traces) == ("payment", FaultType.RESOURCE_CPU)
    # the same shape with a memory rise beside it stays CPU (memory is the backlog)
    mem = series("payment", "memory", _scaled(RISE, 2e7))
    assert _typed(ruleset, traces, metrics=[mem]) == ("payment", FaultType.RESOURCE_CPU)


ERROR_RATIO = (
    'sum(rate(http_requests_total{service="frontend", code=~"5.."}[2m]))'
    ' / sum(rate(http_requests_total{service="frontend"}[2m])) > 0.02'
)


def _quiet_traces() -> list[TraceEvidence]:
    """payment answers in its usual time: nothing slower anywhere."""
    return [shop.healthy() for _ in range(3)] + [shop.healthy(baseline=False) for _ in range(3)]


def test_resource_rise_without_slower_spans_under_an_error_alert_is_code_error(
    ruleset: RuleSet,
) -> None:
    """A wrong return value: the caller's error ratio pages, payment's CPU rose, but its spans
    in the incident traces got no slower. Starvation slows requests before it fails them, so
    the failures are payment's code's."""
    cpu = series("payment", "cpu", _scaled(RISE, 0.01))
    got = rank(bundle(traces=_quiet_traces(), metrics=[cpu], expr=ERROR_RATIO), ruleset).top
    assert got is not None
    assert (got.service, got.fault_type) == ("payment", FaultType.CODE_ERROR)


def test_resource_rise_without_slower_spans_is_cpu_when_the_alert_is_not_about_errors(
    ruleset: RuleSet,
) -> None:
    cpu = series("payment", "cpu", _scaled(RISE, 0.01))
    latency = "histogram_quantile(0.99, sum by (le) (rate(http_duration_seconds_bucket[5m]))) > 0.5"
    got = rank(bundle(traces=_quiet_traces(), metrics=[cpu], expr=latency), ruleset).top
    assert got is not None
    assert (got.service, got.fault_type) == ("payment", FaultType.RESOURCE_CPU)


def test_resource_rise_under_an_error_alert_without_its_spans_stays_cpu(ruleset: RuleSet) -> None:
    """No spans of payment in the incident: "no slower" is not known, so no claim of code."""
    cpu = series("payment", "cpu", _scaled(RISE, 0.01))
    got = rank(bundle(metrics=[cpu], expr=ERROR_RATIO), ruleset).top
    assert got is not None
    assert (got.service, got.fault_type) == ("payment", FaultType.RESOURCE_CPU)


def test_resource_rise_beside_failures_located_elsewhere_stays_a_resource_fault(
    ruleset: RuleSet,
) -> None:
    """Two faults: payment's spans fail (the located origin of the errors) while checkout's CPU
    rose. checkout's rise is a second fault of its own, not the code behind the failures."""
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy()]
    cpu = series("checkout", "cpu", _scaled(RISE, 0.01))
    hyps = rank(bundle(traces=traces, metrics=[cpu], expr=ERROR_RATIO), ruleset).hypotheses
    typed = {h.service: h.fault_type for h in hyps}
    assert typed["payment"] == FaultType.CODE_ERROR
    assert typed["checkout"] == FaultType.RESOURCE_CPU


def test_scrape_targets_going_down_is_dependency_down(ruleset: RuleSet) -> None:
    """A process that stops answering often logs nothing and leaves no span: ``up`` falling to
    0 for its targets is the evidence (``targets_down``), typed like refused connections."""
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    down = series("payment", "targets_down", [0.0] * 12 + [1.0] * 8)
    assert _typed(ruleset, traces, metrics=[down]) == ("payment", FaultType.DEPENDENCY_DOWN)
    flapping = series("payment", "targets_down", [0.0] * 12 + [0.1] * 8)  # under the floor
    assert _typed(ruleset, traces, metrics=[flapping])[1] != FaultType.DEPENDENCY_DOWN


def test_restarts_keep_memory_even_beside_network_time(ruleset: RuleSet) -> None:
    """Restarts (OOM kills) are a memory fault's own evidence, whatever the latency shape."""
    restarts = series("payment", "restarts", [0.0] * 12 + [3.0] * 8)
    got = _typed(ruleset, _network_delay_to_payment(), metrics=[restarts])
    assert got == ("payment", FaultType.RESOURCE_MEMORY)


def test_disk_filling_up_is_resource_disk(ruleset: RuleSet) -> None:
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy()]
    disk = series("payment", "disk", [0.5] * 12 + [0.99] * 8)
    top = rank(bundle(traces=traces, metrics=[disk]), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("payment", FaultType.RESOURCE_DISK)


def test_socket_exhaustion_is_network_loss(ruleset: RuleSet) -> None:
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy()]
    fds = series("payment", "fds", [0.3] * 12 + [0.99] * 8)
    top = rank(bundle(traces=traces, metrics=[fds]), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("payment", FaultType.NETWORK_LOSS)


def test_a_suspect_config_change_outweighs_the_symptoms(ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    cpu = series("payment", "cpu", _scaled(RISE, 0.5))
    push = change("payment", 4, kind=ChangeKind.CONFIG, description="POOL_SIZE=1")
    got = _typed(ruleset, traces, metrics=[cpu], changes=[push])
    assert got == ("payment", FaultType.CONFIG_CHANGE)


def test_errors_on_own_spans_are_code_error(ruleset: RuleSet) -> None:
    traces = [shop.payment_fails() for _ in range(3)] + [shop.healthy()]
    top = rank(bundle(traces=traces), ruleset).top
    assert top is not None
    assert (top.service, top.fault_type) == ("payment", FaultType.CODE_ERROR)


# -- the combination itself -------------------------------------------------------------------


def _row(fault: FaultType, when: list[str], weight: float, **kw: object) -> FaultEvidence:
    return FaultEvidence(fault=fault, when=when, weight=weight, **kw)  # type: ignore[arg-type]


def test_totals_add_up_and_the_highest_wins() -> None:
    table = FaultTyping(
        evidence=[
            _row(FaultType.NETWORK_DELAY, ["network_delay"], 3),
            _row(FaultType.RESOURCE_CPU, ["cpu"], 2),
            _row(FaultType.RESOURCE_CPU, ["self_time"], 2),
        ]
    )
    fault, totals = combine(table, frozenset({"network_delay", "cpu", "self_time"}), {})
    assert fault is FaultType.RESOURCE_CPU
    assert dict(totals) == {FaultType.RESOURCE_CPU: 4.0, FaultType.NETWORK_DELAY: 3.0}
    fault, _ = combine(table, frozenset({"network_delay", "cpu"}), {})
    assert fault is FaultType.NETWORK_DELAY


def test_unless_vetoes_scale_multiplies_and_ties_go_to_the_earlier_row() -> None:
    table = FaultTyping(
        default=FaultType.NONE,
        evidence=[
            _row(FaultType.TRAFFIC_SURGE, ["traffic"], 4, scale=SignalName.TRAFFIC),
            _row(FaultType.RESOURCE_CPU, ["cpu"], 2, unless=["traffic"]),
            _row(FaultType.NETWORK_DELAY, ["cpu"], 2),
        ],
    )
    held = frozenset({"traffic", "cpu"})
    assert combine(table, held, {SignalName.TRAFFIC: 1.0})[0] is FaultType.TRAFFIC_SURGE
    # scaled down to 4 * 0.25 = 1 < 2: the unscaled row wins; cpu's row is vetoed by traffic
    assert combine(table, held, {SignalName.TRAFFIC: 0.25})[0] is FaultType.NETWORK_DELAY
    # cpu and delay tie at 2: the fault whose first holding row is earlier wins
    assert combine(table, frozenset({"cpu"}), {})[0] is FaultType.RESOURCE_CPU
    assert combine(table, frozenset({"memory"}), {})[0] is FaultType.NONE  # nothing holds


# -- data, not code -----------------------------------------------------------------------------


def _rules_copy(tmp_path: Path) -> Path:
    out = tmp_path / "rules"
    shutil.copytree(RULES_DIR, out)
    return out


def test_editing_the_yaml_table_changes_the_typing(tmp_path: Path, ruleset: RuleSet) -> None:
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    cpu = series("payment", "cpu", _scaled(RISE, 0.01))
    assert _typed(ruleset, traces, metrics=[cpu])[1] is FaultType.RESOURCE_CPU
    rules = _rules_copy(tmp_path)
    table = rules / "faults.yaml"
    text = table.read_text()
    text = text.replace(
        "  evidence:\n",
        "  evidence:\n    - {fault: traffic_surge, when: [cpu], weight: 50}\n",
        1,
    )
    table.write_text(text)
    edited = load_ruleset(rules)
    assert _typed(edited, traces, metrics=[cpu])[1] is FaultType.TRAFFIC_SURGE


def test_without_a_table_every_suspect_gets_the_default(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path)
    (rules / "faults.yaml").unlink()
    bare = load_ruleset(rules)
    assert bare.fault_typing is None
    traces = [shop.healthy() for _ in range(2)] + [shop.payment_slow(300) for _ in range(2)]
    cpu = series("payment", "cpu", _scaled(RISE, 0.01))
    assert _typed(bare, traces, metrics=[cpu])[1] is FaultType.CODE_ERROR


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{fault: resource_cpu, when: [cpuu], weight: 1}", "unknown evidence fact(s) 'cpuu'"),
        ("{fault: cpu_fault, when: [cpu], weight: 1}", "fault_typing.evidence.1.fault"),
        ("{fault: resource_cpu, when: [cpu], weight: -1}", "greater than 0"),
        ("{fault: resource_cpu, when: [], weight: 1}", "at least 1 item"),
        ("{fault: resource_cpu, when: [cpu], weight: 1, scale: vibes}", "scale"),
    ],
)
def test_a_malformed_table_is_a_load_error_with_file_and_line(
    tmp_path: Path, row: str, message: str
) -> None:
    rules = _rules_copy(tmp_path)
    table = rules / "faults.yaml"
    table.write_text(
        "fault_typing:\n"
        "  evidence:\n"
        "    - {fault: resource_cpu, when: [cpu], weight: 1}\n"
        f"    - {row}\n"
    )
    got, problems = check_directory(rules)
    assert got is None
    text = [str(p) for p in problems]
    assert any(p.startswith(f"{table}:4:") and message in p for p in text), text


def test_a_second_table_in_another_file_is_an_error(tmp_path: Path) -> None:
    rules = _rules_copy(tmp_path)
    extra = rules / "zz-more.yaml"
    extra.write_text(
        "fault_typing:\n  evidence:\n    - {fault: resource_cpu, when: [cpu], weight: 1}\n"
    )
    got, problems = check_directory(rules)
    assert got is None
    assert any("'fault_typing' already defined" in str(p) for p in problems), problems
