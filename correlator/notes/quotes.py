"""The evidence a verdict quotes: the decisive span, the decisive log line, the flag in play.

A note that says "extra self time in checkout-api: +2738 ms" makes the engineer open Grafana to
find out *what* was slow; a note that quotes ``SELECT ... FROM orders`` on ``db-primary``, 2.7 s,
absent from the baseline traces, and the log line ``slow query: seq scan on orders`` lets them act.
Everything here is chosen by the same generic rule for every service (never by name):

- the decisive span: among the incident traces the top hypothesis cites, spans of its service
  grouped by (name, statement); the group whose median self time exceeds its baseline median the
  most (latency), or the most frequent root-most error span (errors), whichever the hypothesis'
  scores say dominates;
- the decisive log line: a log line recorded on that span, else one on the same trace from the
  same service (highest level first), else a sample of the service's newest error pattern;
- flags: ``feature_flag`` evaluations by that service whose variant differs from the baseline.

Values are raw and untrusted; ``redact`` is applied to free text (statements, log lines).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from correlator.models import EvidenceBundle, Hypothesis, LogLine, Span, TraceEvidence

Redact = Callable[[str], str]
_STATEMENT_KEYS = ("db.query.text", "db.statement")
_PEER_KEYS = ("server.address", "net.peer.name", "peer.service", "db.instance.id")
_KEY_ATTRS = (
    "db.system.name",
    "db.system",
    "db.namespace",
    "db.name",
    "db.collection.name",
    "db.operation.name",
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "rpc.method",
    "rpc.grpc.status_code",
    "error.type",
)
_LEVELS = {"fatal": 5, "critical": 5, "error": 4, "warn": 3, "warning": 3, "info": 2, "debug": 1}
MIN_EXCESS_MS = 50.0
QUOTE_MAX = 300


@dataclass
class SpanQuote:
    service: str
    name: str
    trace_id: str
    span_id: str
    duration_ms: float
    count: int
    of: int
    baseline_ms: float | None
    baseline_traces: int
    reason: str
    statement: str | None = None
    peer: str | None = None
    status_message: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    evidence_id: str = ""


@dataclass
class LogQuote:
    line: str
    service: str | None
    level: str | None
    trace_id: str | None
    span_id: str | None
    evidence_id: str
    on_span: bool


@dataclass
class FlagQuote:
    key: str
    variant: str | None
    baseline_variant: str | None
    service: str


def _text(span: Span, keys: Sequence[str]) -> str | None:
    for key in keys:
        value = span.attributes.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _self_times(trace: TraceEvidence) -> dict[str, float]:
    """Span id -> duration minus the (clipped) durations of its direct children."""
    spans = trace.trace.spans
    child_ms: dict[str, float] = {}
    for s in spans:
        if s.parent_span_id:
            child_ms[s.parent_span_id] = child_ms.get(s.parent_span_id, 0.0) + s.duration_ms
    return {s.span_id: max(0.0, s.duration_ms - child_ms.get(s.span_id, 0.0)) for s in spans}


Sig = tuple[str, str, str]
Instance = tuple[TraceEvidence, Span, float]


def _signature(span: Span) -> Sig:
    return (span.service, span.name, _text(span, _STATEMENT_KEYS) or "")


def incident_traces(bundle: EvidenceBundle, hyp: Hypothesis | None) -> list[TraceEvidence]:
    """Non-baseline traces, those the hypothesis cites first (all of them when it cites none)."""
    current = [t for t in bundle.traces if not t.baseline]
    cited = set(hyp.evidence_ids) if hyp else set()
    chosen = [t for t in current if t.evidence_id in cited]
    return chosen or current


def _instances(traces: Sequence[TraceEvidence], service: str | None) -> dict[Sig, list[Instance]]:
    out: dict[Sig, list[Instance]] = {}
    for te in traces:
        selfs = _self_times(te)
        for s in te.trace.spans:
            if service is None or s.service == service:
                out.setdefault(_signature(s), []).append((te, s, selfs.get(s.span_id, 0.0)))
    return out


def _latency_pick(
    current: dict[Sig, list[Instance]], baseline: dict[Sig, list[Instance]]
) -> Sig | None:
    """The signature whose median self time exceeds its baseline's the most (at least
    ``MIN_EXCESS_MS`` and twice the baseline)."""
    best: tuple[float, Sig] | None = None
    for sig, inst in current.items():
        now = statistics.median(i[2] for i in inst)
        base = statistics.median(i[2] for i in baseline[sig]) if sig in baseline else 0.0
        if now - base < MIN_EXCESS_MS or now < 2 * base:
            continue
        if best is None or (now - base, sig) > best:
            best = (now - base, sig)
    return best[1] if best else None


def _error_pick(traces: Sequence[TraceEvidence], service: str | None) -> Sig | None:
    """The most frequent root-most error span signature (ties: by signature)."""
    counts: Counter[Sig] = Counter()
    for te in traces:
        rid = te.analysis.root_error_span_id
        span = next((s for s in te.trace.spans if s.span_id == rid), None)
        if span is not None and (service is None or span.service == service):
            counts[_signature(span)] += 1
    if not counts:
        return None
    return min(counts, key=lambda sig: (-counts[sig], sig))


def _median_instance(inst: list[Instance]) -> Instance:
    ordered = sorted(inst, key=lambda i: (i[1].duration_ms, i[1].trace_id))
    return ordered[(len(ordered) - 1) // 2]


def decisive_span(
    bundle: EvidenceBundle, hyp: Hypothesis | None, redact: Redact
) -> SpanQuote | None:
    """The span that shows the fault, with its baseline (see the module docstring)."""
    traces = incident_traces(bundle, hyp)
    if not traces:
        return None
    baseline_traces = [t for t in bundle.traces if t.baseline]
    service = hyp.service if hyp else None
    if service and not any(s.service == service for t in traces for s in t.trace.spans):
        service = None
    current = _instances(traces, service)
    baseline = _instances(baseline_traces, service)
    scores = hyp.scores if hyp else {}
    order: list[tuple[str, Callable[[], Sig | None]]] = [
        ("latency", lambda: _latency_pick(current, baseline)),
        ("error", lambda: _error_pick(traces, service)),
    ]
    if scores.get("error_origin", 0.0) > scores.get("latency_origin", 0.0):
        order.reverse()
    for reason, pick in order:
        sig = pick()
        if sig is not None and sig in current:
            inst = current[sig]
            if reason == "error":
                errored = [i for i in inst if i[1].span_id == i[0].analysis.root_error_span_id]
                inst = errored or inst
            chosen = _median_instance(inst)
            return _quote(
                chosen, reason, current[sig], baseline.get(sig), traces, baseline_traces, redact
            )
    return None


def _quote(
    chosen: Instance,
    reason: str,
    inst: list[Instance],
    base: list[Instance] | None,
    traces: Sequence[TraceEvidence],
    baseline_traces: Sequence[TraceEvidence],
    redact: Redact,
) -> SpanQuote:
    te, span, _ = chosen
    statement = _text(span, _STATEMENT_KEYS)
    return SpanQuote(
        service=span.service,
        name=span.name,
        trace_id=span.trace_id,
        span_id=span.span_id,
        duration_ms=span.duration_ms,
        count=len({i[0].evidence_id for i in inst}),
        of=len(traces),
        baseline_ms=statistics.median(i[1].duration_ms for i in base) if base else None,
        baseline_traces=len(baseline_traces),
        reason=reason,
        statement=_clip(redact(statement)) if statement else None,
        peer=_peer(span),
        status_message=_clip(redact(span.status_message)) if span.status_message else None,
        attributes=_key_attributes(span, te, redact),
        evidence_id=te.evidence_id,
    )


def _peer(span: Span) -> str | None:
    host = _text(span, _PEER_KEYS)
    if host is None:
        return None
    port = span.attributes.get("server.port")
    return f"{host}:{port}" if port not in (None, "") else host


def _key_attributes(span: Span, te: TraceEvidence, redact: Redact) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in _KEY_ATTRS:
        if key in span.attributes and not (
            key == "db.system" and "db.system.name" in span.attributes
        ):
            out.append((key, _clip(redact(str(span.attributes[key])))))
    for key, value in sorted(span.attributes.items()):
        if ("rows" in key or key.startswith("feature_flag.")) and (key, str(value)) not in out:
            out.append((key, _clip(redact(str(value)))))
    seen = {k for k, _ in out}
    for flag in te.analysis.flags:
        key = f"feature_flag.{flag.key}"
        if flag.service == span.service and key not in seen and flag.variant is not None:
            out.append((key, flag.variant))
            seen.add(key)
    return out


def _clip(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= QUOTE_MAX else one[: QUOTE_MAX - 1] + "…"


def _level(line: LogLine) -> int:
    return _LEVELS.get((line.level or "").lower(), 0)


def decisive_log(
    bundle: EvidenceBundle, hyp: Hypothesis | None, span: SpanQuote | None, redact: Redact
) -> LogQuote | None:
    """A log line on the decisive span, else on its trace, else the service's new pattern."""
    service = span.service if span else (hyp.service if hyp else None)
    by_trace = {tl.trace_id: tl for tl in bundle.trace_logs}
    if span is not None and span.trace_id in by_trace:
        tl = by_trace[span.trace_id]
        on_span = [ln for ln in tl.lines if ln.span_id == span.span_id]
        same = [ln for ln in tl.lines if service is None or ln.service == service]
        for lines, exact in ((on_span, True), (same, False)):
            if lines:
                best = max(lines, key=lambda ln: (_level(ln), -ln.timestamp.timestamp()))
                return _log_quote(best, tl.evidence_id, exact, redact)
    for te in incident_traces(bundle, hyp):
        found = by_trace.get(te.trace.trace_id)
        if found is None:
            continue
        lines = [ln for ln in found.lines if ln.service == service and _level(ln) >= 3]
        if lines:
            best = max(lines, key=lambda ln: (_level(ln), -ln.timestamp.timestamp()))
            return _log_quote(best, found.evidence_id, False, redact)
    for lp in bundle.log_patterns:
        if lp.service == service:
            for pattern in lp.patterns:
                if pattern.is_new and pattern.samples:
                    return LogQuote(
                        line=_clip(redact(pattern.samples[0])),
                        service=service,
                        level=pattern.level,
                        trace_id=None,
                        span_id=None,
                        evidence_id=lp.evidence_id,
                        on_span=False,
                    )
    return None


def _log_quote(line: LogLine, evidence_id: str, on_span: bool, redact: Redact) -> LogQuote:
    return LogQuote(
        line=_clip(redact(line.line)),
        service=line.service,
        level=line.level,
        trace_id=line.trace_id,
        span_id=line.span_id,
        evidence_id=evidence_id,
        on_span=on_span,
    )


def _variants(traces: Sequence[TraceEvidence], service: str) -> dict[str, str | None]:
    counts: dict[str, Counter[str | None]] = {}
    for te in traces:
        for f in te.analysis.flags:
            if f.service == service:
                counts.setdefault(f.key, Counter())[f.variant] += 1
    return {k: min(c, key=lambda v: (-c[v], str(v))) for k, c in counts.items()}


def flags_in_play(bundle: EvidenceBundle, hyp: Hypothesis | None, service: str) -> list[FlagQuote]:
    """Flags the service evaluated in the incident traces whose variant differs from baseline
    (all of them when there is no baseline trace), sorted by key."""
    now = _variants(incident_traces(bundle, hyp), service)
    baseline_traces = [t for t in bundle.traces if t.baseline]
    before = _variants(baseline_traces, service)
    out = []
    for key, variant in sorted(now.items()):
        old = before.get(key)
        if baseline_traces and key in before and old == variant:
            continue
        out.append(FlagQuote(key=key, variant=variant, baseline_variant=old, service=service))
    return out
