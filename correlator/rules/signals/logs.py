"""Log evidence: new or surging error templates per service, and exceptions on incident spans."""

from __future__ import annotations

import re

from correlator.models import LogPattern
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult

ERRORISH = re.compile(r"error|exception|fail|fatal|panic|traceback|refused|timeout|denied", re.I)
ERROR_LEVELS = {"error", "err", "fatal", "critical", "crit", "panic", "warn", "warning"}

# template text -> fact tag used to infer the fault type
TAG_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("oom", re.compile(r"out ?of ?memory|oom|heap space|memory limit|cannot allocate", re.I)),
    (
        "disk",
        re.compile(r"no space left|disk (is )?full|quota exceeded|read-only file system", re.I),
    ),
    ("socket", re.compile(r"too many open files|cannot assign requested address|socket", re.I)),
    ("db", re.compile(r"slow query|seq(uential)? scan|deadlock|lock wait|sql", re.I)),
    (
        "network_error",
        re.compile(r"timeout|timed out|connection (refused|reset)|unreachable", re.I),
    ),
    ("config", re.compile(r"config|invalid (setting|value)|missing (env|variable)", re.I)),
    ("exception", re.compile(r"exception|traceback|panic|stack", re.I)),
)


def _is_errorish(p: LogPattern) -> bool:
    if p.level and p.level.lower() in ERROR_LEVELS:
        return True
    return bool(ERRORISH.search(p.template))


def _anomalous_count(p: LogPattern, ratio: float, min_count: int, blind: bool) -> int:
    if p.count < min_count or not _is_errorish(p):
        return 0
    if blind:
        return p.count // 2
    if p.is_new or p.baseline_count == 0:
        return p.count
    if p.count >= ratio * p.baseline_count:
        return p.count - p.baseline_count
    return 0


def log_evidence(ctx: Context) -> SignalResult:
    res = SignalResult(SignalName.LOGS)
    raw: dict[str, float] = {}
    # no service had a single line in its baseline window: the baseline was not readable or not
    # retained, so "new" means nothing; count error lines at half weight instead
    blind = all(
        slp.baseline_error_count == 0 and all(p.baseline_count == 0 for p in slp.patterns)
        for slp in ctx.bundle.log_patterns
    )
    res.degraded = blind
    for slp in sorted(ctx.bundle.log_patterns, key=lambda x: (x.service, x.evidence_id)):
        total = 0
        texts: list[str] = []
        for p in slp.patterns:
            n = _anomalous_count(p, ctx.t.log_surge_ratio, ctx.t.log_min_count, blind)
            if n:
                total += n
                texts.append(p.template)
        if not total:
            continue
        raw[slp.service] = raw.get(slp.service, 0.0) + total
        res.add(slp.service, 0.0, ctx.cite(slp.evidence_id), f"{total} new/surging error lines")
        for tag, rx in TAG_PATTERNS:
            if any(rx.search(t) for t in texts):
                res.tag(slp.service, tag)
    _exceptions_on_spans(ctx, res, raw)
    if raw:
        top = max(raw.values())
        for service, value in raw.items():
            res.scores[service] = min(1.0, value / top)
    return res


def _exceptions_on_spans(ctx: Context, res: SignalResult, raw: dict[str, float]) -> None:
    """Exception events on incident spans (absent from baseline spans of the same service)."""
    base = {
        s.service
        for te in ctx.baseline
        for s in te.trace.spans
        if any(ev.name == "exception" for ev in s.events)
    }
    for te in ctx.incident:
        for span in te.trace.spans:
            if span.service in base or not any(ev.name == "exception" for ev in span.events):
                continue
            raw[span.service] = raw.get(span.service, 0.0) + 1.0
            res.add(span.service, 0.0, ctx.cite(te.evidence_id), "exceptions on incident spans")
            res.tag(span.service, "exception")
