"""Resource saturation and traffic surge from rules-defined per-service PromQL series.

BARO-style scoring: find the change point of each series (best two-segment split), take the
median and IQR of the points before min(change point, onset - guard) as the reference, and score
the worst later point as a robust z-score. Anchoring on the change point, not the alert time,
keeps the score when an alert fires late.
"""

from __future__ import annotations

import itertools
import math
import statistics

from correlator.models import MetricSeries
from correlator.rules.schema import MetricSignal, SignalName
from correlator.rules.signals.base import Context, SignalResult

MIN_TAIL_SECONDS = 120.0  # a shift must last this long to be a regime change
RESOURCE_TAG = {
    MetricSignal.CPU.value: "cpu",
    MetricSignal.CPU_THROTTLING.value: "cpu_throttled",
    MetricSignal.MEMORY.value: "memory",
    MetricSignal.DISK.value: "disk",
    MetricSignal.RESTARTS.value: "restarts",
    MetricSignal.FDS.value: "socket",
    MetricSignal.PACKET_DROPS.value: "packet_drops",
    MetricSignal.TARGETS_DOWN.value: "unreachable",  # its scrape targets stopped answering
}


def _finite(series: MetricSeries) -> list[tuple[float, float]]:
    return sorted((t, v) for t, v in series.points if math.isfinite(v) and math.isfinite(t))


def change_point(values: list[float], min_tail: int = 0) -> int:
    """Index splitting ``values`` into two segments with the least squared error. The head is at
    least a fifth of the series (a reference needs history); the tail at least ``min_tail``
    samples when that is shorter than a fifth: a split off two stray samples is not a regime
    change, but a fault that began minutes before the alert, at the end of an hour, still is."""
    n = len(values)
    edge = max(2, n // 5)
    tail = min(edge, max(2, min_tail)) if min_tail else edge  # never stricter than a fifth
    if n < edge + tail + 1:
        return n // 2
    pre = [0.0]
    pre2 = [0.0]
    for v in values:
        pre.append(pre[-1] + v)
        pre2.append(pre2[-1] + v * v)

    def sse(i: int, j: int) -> float:
        s, s2, m = pre[j] - pre[i], pre2[j] - pre2[i], j - i
        return s2 - s * s / m

    return min(range(edge, n - tail + 1), key=lambda k: (sse(0, k) + sse(k, n), k))


def min_tail(points: list[tuple[float, float]], seconds: float = MIN_TAIL_SECONDS) -> int:
    """Samples covering ``seconds`` at the series' median spacing."""
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0]]
    step = statistics.median(gaps) if gaps else seconds
    return max(3, math.ceil(seconds / step))


def split(ctx: Context, points: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """(reference values, test values) around min(change point, onset - guard)."""
    onset = ctx.bundle.onset.timestamp() - ctx.t.resource_guard_seconds
    values = [v for _, v in points]
    cp_time = points[change_point(values, min_tail(points))][0] if len(points) >= 4 else onset
    cut = min(onset, cp_time)
    ref = [v for t, v in points if t < cut]
    test = [v for t, v in points if t >= cut]
    if len(ref) < 3:
        half = max(1, len(values) // 2)
        ref, test = values[:half], values[half:]
    return ref, test


def robust_z(ref: list[float], test: list[float], min_effect: float = 2.0) -> float:
    """Robust z of the test segment's median vs the reference median/IQR.

    The median (not the max) asks for a sustained shift: stray samples of a sparse counter (a
    dropped packet now and then) are not saturation. The scale has floors (5% of the median,
    half a standard deviation) so a flat reference cannot make any wiggle infinite; the shift
    must also leave the reference's range with an effect size.
    """
    if len(ref) < 2 or not test:
        return 0.0
    med = statistics.median(ref)
    if len(ref) >= 4:
        q = statistics.quantiles(ref, n=4, method="inclusive")
        iqr = q[2] - q[0]
    else:
        iqr = max(ref) - min(ref)
    level = statistics.median(test)
    scale = max(iqr, 0.05 * abs(med), 0.5 * statistics.pstdev(ref), 1e-9)
    if level <= _high(ref) or effect_size(ref, test) < min_effect:
        return 0.0  # not new territory, or a shift smaller than the noise: not a change
    return (level - med) / scale


def _high(ref: list[float]) -> float:
    """The top of the reference's usual range: its 95th percentile, not its maximum, so that a
    few samples of an earlier incident in the reference hour do not hide this one (Nezha: a
    CPU stress 8 minutes after another fault on the same service)."""
    if len(ref) < 20:
        return max(ref)
    return statistics.quantiles(ref, n=20, method="inclusive")[-1]


def effect_size(ref: list[float], test: list[float]) -> float:
    """Cohen's d of the test segment over the reference (pooled standard deviation)."""
    pooled = math.sqrt((statistics.pvariance(ref) + statistics.pvariance(test)) / 2)
    diff = statistics.fmean(test) - statistics.fmean(ref)
    return diff / pooled if pooled > 0 else (math.inf if diff > 0 else 0.0)


def _big_enough(ctx: Context, signal: str, ref: list[float], test: list[float]) -> bool:
    """The rise is material: above a relative floor of the reference median and above the
    rules' absolute floor for this signal (a dropped packet a minute is not packet loss)."""
    med, level = statistics.median(ref), statistics.median(test)
    rise = level - med
    floor = max(
        ctx.t.resource_min_relative * abs(med),
        ctx.t.resource_min_delta.get(MetricSignal(signal), 0.0)
        if signal in MetricSignal._value2member_map_
        else 0.0,
    )
    return rise > floor


def resource_saturation(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.RESOURCE)
    thr = ctx.t.resource_robust_z
    for m in sorted(ctx.bundle.metrics, key=lambda m: m.evidence_id):
        tag = RESOURCE_TAG.get(m.signal or "")
        if tag is None or not m.service:
            continue
        points = _finite(m)
        if len(points) < 4:
            continue
        ref, test = split(ctx, points)
        if tag == "restarts":
            z = thr * 2 if test and ref and max(test) > max(ref) else 0.0
        else:
            z = robust_z(ref, test, 0.0) if _big_enough(ctx, m.signal or "", ref, test) else 0.0
            values = [v for _, v in points]
            k = change_point(values, min_tail(points))
            if effect_size(values[:k], values[k:]) < ctx.t.resource_min_effect:
                z = 0.0  # the best split of the series is not a shift above its noise
        if z < thr:
            continue
        score = min(1.0, 0.5 + 0.5 * (z - thr) / (3 * thr))
        res.add(m.service, score, ctx.cite(m.evidence_id), f"{m.name}: robust z {z:.1f}")
        res.tag(m.service, tag)
    return res


def traffic_surge(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.TRAFFIC)
    thr = ctx.t.traffic_ratio
    for m in sorted(ctx.bundle.metrics, key=lambda m: m.evidence_id):
        if m.signal != MetricSignal.REQUEST_RATE.value or not m.service:
            continue
        points = _finite(m)
        if len(points) < 4:
            continue
        ref, test = split(ctx, points)
        if len(ref) < ctx.t.traffic_min_baseline or len(test) < 3:
            continue  # a ratio over a handful of samples is noise, not a surge
        base = statistics.median(ref)
        peak = statistics.median(test)
        ratio = peak / base if base > 0 else (thr * 2 if peak > 0 else 0.0)
        if ratio < thr:
            continue
        score = min(1.0, 0.5 + 0.5 * (ratio - thr) / (2 * thr))
        res.add(m.service, score, ctx.cite(m.evidence_id), f"request rate x{ratio:.1f}")
        res.tag(m.service, "traffic")
    _prefer_entry(ctx, res)
    return res


def _prefer_entry(ctx: Context, res: SignalResult) -> None:
    """A surge enters at the edge and flows down the call graph: a surging service whose caller
    surges too is carried, not the origin."""
    surging = set(res.scores)
    for service in sorted(surging):
        if any(service in ctx.graph.get(c, set()) for c in surging if c != service):
            res.scores[service] *= 0.5


def explain_load(ctx: Context, traffic: SignalResult, resource: SignalResult) -> None:
    """Saturation of a service whose callers surge too is the surge's effect, not a cause:
    damp it so blame stays with where the traffic entered."""
    surging = set(traffic.scores)
    for service in sorted(surging & set(resource.scores)):
        if any(service in ctx.graph.get(c, set()) for c in surging if c != service):
            resource.scores[service] *= 0.3
            resource.tag(service, "load_from_surge")


def golden_moved(ctx: Context, m: MetricSeries) -> bool | None:
    """Did the mean of an error-ratio/latency series rise at onset (Welch t >= 1.5 and above the
    rules' floors), or did its median rise for good (``sustained_rise``)? ``None`` when there
    are too few samples to say. The mean catches intermittent errors at low traffic (mostly-zero
    samples); the median is immune to earlier incidents in the reference hour."""
    cut = ctx.bundle.onset.timestamp() - ctx.t.resource_guard_seconds
    points = _finite(m)
    ref = [v for t, v in points if t < cut]
    test = [v for t, v in points if t >= cut]
    if len(ref) < 4 or len(test) < 4:
        return None
    mr, mt = statistics.fmean(ref), statistics.fmean(test)
    se = math.sqrt(statistics.pvariance(ref) / len(ref) + statistics.pvariance(test) / len(test))
    floor = max(
        ctx.t.resource_min_relative * abs(mr),
        ctx.t.resource_min_delta.get(MetricSignal(m.signal), 0.0) if m.signal else 0.0,
    )
    rise = mt - mr
    if rise > floor and (se == 0 or rise / se >= 1.5):
        return True
    # earlier incidents in the reference hour inflate its mean: the robust test still sees a
    # level that left the reference's usual range and stayed there
    return sustained_rise(ctx, m)


NOT_ITS_OWN = {"network_delay", "network_loss", "unreachable", "bad_response", "backend"}
GOLDEN = {
    MetricSignal.ERROR_RATIO.value: SignalName.ERROR_ORIGIN,
    MetricSignal.LATENCY.value: SignalName.LATENCY_ORIGIN,
}


def corroborate(ctx: Context, results: dict[SignalName, SignalResult]) -> None:
    """Trace-based blame needs the service's own golden signal to have moved: errors or latency
    that were already there before the change point (a chronic 3% client-abort rate, a tight
    threshold) are background, so the trace signal for that service is damped."""
    for m in sorted(ctx.bundle.metrics, key=lambda m: m.evidence_id):
        target = GOLDEN.get(m.signal or "")
        res = results.get(target) if target else None
        if res is None or not m.service or m.service not in res.scores:
            continue
        if res.tags.get(m.service, set()) & NOT_ITS_OWN:
            continue  # blamed for what others saw of it: its own server metrics need not move
        moved = golden_moved(ctx, m)
        if moved is False:
            res.scores[m.service] *= 0.2
            res.tag(m.service, "chronic")


def sustained_rise(ctx: Context, m: MetricSeries) -> bool:
    """The series' median since onset (minus the guard) is a robust z of at least
    ``resource_robust_z`` above the reference median (scale: IQR, at least 5% of the median)
    and above the rules' floors, and each sample stays that far above for 2 minutes up to the
    newest one. Median and IQR, never the maximum: earlier incidents in the reference hour must
    not hide this one; a blip that is over by now does not count."""
    points = _finite(m)
    if len(points) < 8:
        return False
    cut = ctx.bundle.onset.timestamp() - ctx.t.resource_guard_seconds
    ref = [v for t, v in points if t < cut]  # anchored on onset: a change point would latch
    test = [v for t, v in points if t >= cut]  # onto an earlier incident in the hour
    if len(ref) < 8 or len(test) < 4:
        return False
    quart = statistics.quantiles(ref, n=4, method="inclusive")
    med = statistics.median(ref)
    scale = max(quart[2] - quart[0], 0.05 * abs(med), 1e-9)
    z = (statistics.median(test) - med) / scale
    high = [(v - med) / scale >= ctx.t.resource_robust_z for v in test]
    still = high[-1] and sum(high) >= min_tail(points)
    return still and z >= ctx.t.resource_robust_z and _big_enough(ctx, m.signal or "", ref, test)


def own_golden(ctx: Context, results: dict[SignalName, SignalResult]) -> None:
    """A service whose own error ratio or latency rose for good at onset (``sustained_rise``),
    where no trace evidence points
    anywhere else, is the best remaining explanation: faults that log nothing and leave no error
    status on spans (a wrong return value, a swallowed exception) show only there. Scored at
    most 0.5 and less the stronger other services' trace blame is, so a deeper culprit with
    evidence of its own still wins."""
    trace_sigs = [results[s] for s in GOLDEN.values() if s in results]
    for m in sorted(ctx.bundle.metrics, key=lambda m: m.evidence_id):
        target = GOLDEN.get(m.signal or "")
        res = results.get(target) if target else None
        if res is None or not m.service or m.service in res.scores:
            continue
        if not sustained_rise(ctx, m):
            continue  # a blip, or too little history to tell
        others = max(
            (
                r.scores.get(s, 0.0)
                for r in trace_sigs
                if not r.degraded
                for s in r.scores
                if s != m.service
            ),
            default=0.0,
        )
        score = 0.5 * (1.0 - others)
        if score > 0:
            res.add(m.service, score, ctx.cite(m.evidence_id), f"{m.name} moved at onset")
            res.tag(m.service, "own_golden")
