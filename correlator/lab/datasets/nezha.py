"""The Nezha Online Boutique faults (ESEC/FSE 2023 data) as scenarios (docs/datasets.md).

Per day of ``rca_data/``: the series every pod's exporters would have exposed
(``nezha_metrics``), the alert rules evaluated over the whole day as Prometheus would
(``alerting``), and for each listed fault with at least ``MIN_TRACE_MINUTES`` of its three
fault-minute trace files present, a case if a rule fires within ``PAGE_WINDOW_MS`` of the
injection. Truth is the faulty pod's workload and the fault type mapped by ``FAULT_TYPES``.

Thresholds are chosen once per import from the fault-free baseline (``baseline_instants``):
before the day's first injection and from ``TAIL_MS`` after its last one. In between, the
faults come every ~8 minutes and the lists leave some injections out (the telemetry shows
unlisted faults in the gaps), so no in-between minute is trusted as fault-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from correlator.lab.datasets import alerting, nezha_raw
from correlator.lab.datasets.alerting import Points, Rule
from correlator.lab.datasets.base import DatasetCase, DatasetError, ImportResult, Skipped
from correlator.lab.datasets.nezha_alert import RULE_SPECS, webhook
from correlator.lab.datasets.nezha_metrics import (
    FRONTEND,
    NAMESPACE,
    Series,
    families,
    frontend_series,
    pod_series,
    workload,
)
from correlator.lab.datasets.nezha_raw import Fault
from correlator.lab.datasets.om import Exemplar, render
from correlator.lab.datasets.tempo import SpanRow, resource_attributes, tempo_body

DATASET = "nezha-onlineboutique"
FAULT_TYPES = {
    "cpu_contention": "resource_cpu",
    "cpu_consumed": "resource_cpu",
    "network_delay": "network_delay",
    "exception": "code_error",
    "return": "code_error",
}
MIN_TRACE_MINUTES = 2
PAGE_WINDOW_MS = 5 * 60_000
BEFORE_MS = 30 * 60_000
AFTER_MS = 10 * 60_000
TAIL_MS = 17 * 60_000
TRACE_SCOPE = "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"


@dataclass
class Day:
    name: str
    faults: list[Fault]
    series: list[Series]
    rule_inputs: dict[str, tuple[list[Points], list[Points]]] = field(default_factory=dict)


def rpc_owner(operation: str) -> str | None:
    """``hipstershop.CartService/GetCart`` -> ``cartservice`` (Online Boutique naming)."""
    head = operation.split("/", 1)[0]
    if "." not in head:
        return None
    return head.rsplit(".", 1)[1].lower()


def _resource(pod: str) -> list[dict[str, Any]]:
    return resource_attributes(workload(pod), NAMESPACE, pod)


def _load_day(raw: Path, name: str) -> Day:
    pods = nezha_raw.pod_metrics(raw, name)
    front = nezha_raw.front_service(raw, name)
    series: list[Series] = []
    for pod, rows in sorted(pods.items()):
        series.extend(pod_series(pod, rows))
        if workload(pod) == FRONTEND and front:
            series.extend(frontend_series(pod, front, rows))
    day = Day(name, nezha_raw.faults(raw, name), series)
    for spec in RULE_SPECS:
        day.rule_inputs[spec.name] = spec.inputs(series)
    return day


def baseline_instants(day: Day, rule: Rule) -> list[int]:
    """Evaluation times whose samples all lie in the fault-free parts of the day."""
    num, _ = day.rule_inputs[rule.name]
    times = sorted({t for p in num for t, _ in p})
    if not times or not day.faults:
        return []
    first, last = day.faults[0].inject_ms, day.faults[-1].inject_ms + TAIL_MS
    ok = {t for t in times if t < first or t >= last}
    out = []
    for t in alerting.eval_times(times[0], times[-1]):
        read = reads(rule, num, t)
        if read and all(r in ok for r in read) and (t < first or t >= last):
            out.append(t)
    return out


def reads(rule: Rule, series: list[Points], t: int) -> list[int]:
    """Timestamps of the samples the rule's expression reads at ``t``."""
    out: list[int] = []
    for points in series:
        if rule.kind == "instant":
            lo = t - alerting.LOOKBACK_MS
            out.extend([p[0] for p in points if lo <= p[0] <= t][-1:])
        else:
            out.extend(p[0] for p in points if t - rule.range_ms <= p[0] <= t)
    return out


def choose_rules(days: list[Day]) -> tuple[list[Rule], dict[str, list[int]]]:
    """Each rule's threshold: ``nice_ceiling`` of its maximum over every day's baseline; and
    the baseline instants themselves."""
    rules, instants = [], {}
    for spec in RULE_SPECS:
        probe = spec.rule(threshold=0.0)
        values, used = [], []
        for day in days:
            num, den = day.rule_inputs[spec.name]
            for t in baseline_instants(day, probe):
                used.append(t)
                v = probe.value(num, den, t)
                if v is not None and v == v:
                    values.append(v)
        top = max(values, default=0.0)
        rules.append(spec.rule(threshold=alerting.nice_ceiling(top, spec.floor)))
        instants[spec.name] = used
    return rules, instants


def _case_id(f: Fault) -> str:
    day = f.day.replace("-", "")[4:]
    return f"nezha-ob-{day}-{f.inject_time[11:16].replace(':', '')}-{workload(f.pod)}-{f.kind}"


def _trace_minutes(f: Fault) -> list[str]:
    base = f.inject_ms // 60_000
    return [datetime.fromtimestamp((base + i) * 60, tz=UTC).strftime("%H_%M") for i in range(3)]


def _first_page(day: Day, rules: list[Rule], f: Fault) -> tuple[Rule, int] | None:
    best: tuple[Rule, int] | None = None
    for rule in rules:
        num, den = day.rule_inputs[rule.name]
        lo = f.inject_ms - alerting.LOOKBACK_MS
        fired = alerting.firings(rule, num, den, lo, f.inject_ms + PAGE_WINDOW_MS)
        fired = [t for t in fired if t >= f.inject_ms]
        if fired and (best is None or fired[0] < best[1]):
            best = (rule, fired[0])
    return best


def _exemplars(day: Day, spans: list[SpanRow]) -> dict[tuple[str, Any, int], Exemplar]:
    """On each scrape of the frontend's ``code="200"`` counter, the newest sampled request that
    ended before it (client libraries keep the latest exemplar of a counter; only sampled
    traces carry one). The dataset has no span status, so no exemplar goes on ``code="500"``."""
    roots = sorted(
        (s for s in spans if s.is_root and workload(s.pod) == FRONTEND),
        key=lambda s: (s.end_ns, s.trace_id),
    )
    out: dict[tuple[str, Any, int], Exemplar] = {}
    for s in day.series:
        if s.family != "http_requests_total" or ("code", "200") not in s.labels:
            continue
        prev = None
        for ts, _ in s.points:
            done = [r for r in roots if (prev or 0) * 1_000_000 < r.end_ns <= ts * 1_000_000]
            if done:
                r = done[-1]
                out[(s.family, s.labels, ts)] = Exemplar(
                    r.trace_id, r.span_id, 1.0, r.end_ns // 1_000_000
                )
            prev = ts
    return out


class NezhaAdapter:
    """``correlator dataset import nezha RAW_DIR``: the Nezha repository layout."""

    name = "nezha"

    def __init__(self) -> None:
        self.days: list[Day] = []

    def load(self, raw: Path) -> ImportResult:
        days = [_load_day(raw, d) for d in nezha_raw.days(raw)]
        if not days:
            raise DatasetError(f"{raw}: no rca_data/<day>/<day>-fault_list.json")
        self.days = days
        rules, baseline = choose_rules(days)
        labels = nezha_raw.root_cause_labels(raw)
        result = ImportResult(DATASET, [], [], rules, baseline=baseline)
        for day in days:
            for f in day.faults:
                self._one(raw, day, rules, f, labels, result)
        result.notes.append(
            f"{len(result.cases)} paging cases, {len(result.skipped)} faults skipped"
        )
        return result

    def day_openmetrics(self) -> dict[str, str]:
        """Every series of each loaded day, whole-day, as OpenMetrics (no exemplars): what the
        cases' ``metrics.om`` are windows of (tests backfill it to check the rules)."""
        return {d.name: render(families(d.series, 0, 2**62)) for d in self.days}

    def _one(
        self,
        raw: Path,
        day: Day,
        rules: list[Rule],
        f: Fault,
        labels: dict[str, dict[str, str]],
        result: ImportResult,
    ) -> None:
        cid = _case_id(f)
        spans: list[SpanRow] = []
        present = 0
        for minute in _trace_minutes(f):
            rows = nezha_raw.trace_minute(raw, f.day, minute)
            if rows is not None:
                present += 1
                spans.extend(rows)
        if present < MIN_TRACE_MINUTES:
            result.skipped.append(
                Skipped(cid, f"only {present} of 3 fault-minute trace files in the data")
            )
            return
        if f.kind not in FAULT_TYPES:
            result.skipped.append(Skipped(cid, f"unknown fault type {f.kind!r}"))
            return
        page = _first_page(day, rules, f)
        if page is None:
            result.skipped.append(Skipped(cid, "never pages: no rule fires within 5 min"))
            return
        rule, fired_at = page
        result.cases.append(_build_case(cid, day, f, rule, fired_at, spans, labels))


def _traces(spans: list[SpanRow]) -> dict[str, dict[str, Any]]:
    by_trace: dict[str, list[SpanRow]] = {}
    for s in spans:
        by_trace.setdefault(s.trace_id, []).append(s)
    return {
        tid: tempo_body(
            rows, resource=_resource, rpc_owner=rpc_owner, workload=workload, scope=TRACE_SCOPE
        )
        for tid, rows in sorted(by_trace.items())
    }


def _build_case(
    cid: str,
    day: Day,
    f: Fault,
    rule: Rule,
    fired_at: int,
    spans: list[SpanRow],
    labels: dict[str, dict[str, str]],
) -> DatasetCase:
    service = workload(f.pod)
    start, end = f.inject_ms - BEFORE_MS, f.inject_ms + AFTER_MS
    metrics = render(families(day.series, start, end, _exemplars(day, spans)))
    region = labels.get(service, {}).get(f.kind, "")
    truth = {
        "root_cause": {"service": service, "fault_type": FAULT_TYPES[f.kind], "change": None},
        "remediation": "",
        "notes": f"Nezha fault {f.kind} injected into pod {f.pod} at {f.inject_time} UTC"
        + (f"; Nezha's inner-service label: {region}" if region else ""),
    }
    return DatasetCase(
        id=cid,
        title=f"Nezha Online Boutique: {f.kind} in {service} ({f.inject_time} UTC)",
        description=(
            f"Fault {f.kind} injected into {f.pod} at {f.inject_time} UTC; {rule.name} fired "
            f"{(fired_at - f.inject_ms) / 1000:.0f} s later. Imported by "
            "`correlator dataset import nezha` from the Nezha repository data (MIT)."
        ),
        dataset=DATASET,
        case={"inject_time": f.inject_time, "pod": f.pod, "fault": f.kind},
        alert=webhook(rule, fired_at),
        metrics_text=metrics,
        traces=_traces(spans),
        truth=truth,
        tags=["nezha", "online-boutique", f.kind],
    )
