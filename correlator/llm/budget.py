"""Token economy: compact evidence into prompt-sized chunks and enforce per-stage input budgets.

Compaction turns the (already redacted) bundle into ``Chunk``s: a trace becomes its critical-path
summary, a service's logs become templates with counts and a few samples, changes and metrics
become one line each. Each chunk separates ``facts`` (numbers and identifiers correlator computed)
from ``data`` (text taken from payloads, rendered inside the untrusted-data block). Hard caps
shrink level by level; ``fit`` picks the richest level whose rendered prompt fits the stage's
``max_input_tokens`` and then drops the least important chunks. Tokens are estimated as
``len(text) / 3.5`` (conservative for English and JSON; no tokenizer download, deterministic).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from correlator.models import (
    Change,
    ChangeDiff,
    EvidenceBundle,
    MetricSeries,
    ServiceLogPatterns,
    TraceEvidence,
    TraceLogs,
)


def count_tokens(text: str) -> int:
    return (len(text) * 2 + 6) // 7


def diff_ctx(d: ChangeDiff, *, hunks: int = 3) -> dict[str, object]:
    """A change's (redacted, bounded) diff for a prompt: commits, files, the top hunks."""
    return {
        "id": d.evidence_id,
        "change_id": d.change_id,
        "repo": d.repo,
        "range": f"{d.base[:12]}...{d.head[:12]}",
        "commits": [f"{c.sha[:7]} {c.message}" for c in d.commits[-5:]],
        "files": [f"{f.path} ({f.category}, +{f.additions} -{f.deletions})" for f in d.files[:15]],
        "touches_failing_path": d.touches_failing_path,
        "docs_or_tests_only": d.docs_or_tests_only,
        "hunks": [
            {"path": h.path, "header": h.header, "why": h.reasons, "lines": h.lines}
            for h in d.hunks[:hunks]
        ],
    }


@dataclass(frozen=True)
class Caps:
    path: int
    patterns: int
    samples: int
    lines: int
    chars: int
    attrs: int


LEVELS = (
    Caps(path=20, patterns=10, samples=2, lines=20, chars=300, attrs=12),
    Caps(path=10, patterns=6, samples=1, lines=10, chars=200, attrs=6),
    Caps(path=6, patterns=3, samples=1, lines=5, chars=120, attrs=3),
    Caps(path=3, patterns=2, samples=0, lines=2, chars=80, attrs=0),
)

_IDENT = re.compile(r"[^A-Za-z0-9._:/@+-]")


def ident(value: object, limit: int = 80) -> str:
    """An identifier from a payload (service, version) made safe to show outside the data block."""
    return _IDENT.sub("_", str(value))[:limit]


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


@dataclass
class Chunk:
    id: str
    kind: str
    title: str
    service: str | None = None
    facts: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    priority: int = 50

    def ctx(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "service": self.service,
            "facts": self.facts,
            "data": self.data,
            "ids": self.ids or [self.id],
        }


def _trace_chunk(te: TraceEvidence, caps: Caps) -> Chunk:
    a = te.analysis
    spans = {s.span_id: s for s in te.trace.spans}
    title = "baseline trace (before onset)" if te.baseline else "exemplar trace"
    facts = [
        f"trace {te.trace.trace_id}: root {ident(a.root_service)} {a.duration_ms:.1f} ms, "
        f"{len(a.error_span_ids)} error spans, root error service {ident(a.root_error_service)}"
    ]
    if a.self_time_ms:
        top = sorted(a.self_time_ms.items(), key=lambda kv: -kv[1])[:5]
        facts.append(
            "self time on critical path: " + ", ".join(f"{ident(s)} {ms:.1f} ms" for s, ms in top)
        )
    facts += [f"version {ident(s)}={ident(v)}" for s, v in sorted(a.versions.items())]
    facts += [f"commit {ident(s)}={ident(c)}" for s, c in sorted(a.commits.items())]
    facts += [
        f"flag {ident(f.key)}={ident(f.variant)} evaluated by {ident(f.service)}"
        for f in a.flags[:5]
    ]
    data: list[str] = []
    for sid in a.critical_path[: caps.path]:
        s = spans.get(sid)
        if s is None:
            continue
        err = f" ERROR {clip(s.status_message, caps.chars)}" if s.is_error else ""
        data.append(f"{s.service} | {clip(s.name, caps.chars)} | {s.duration_ms:.1f} ms{err}")
    root_err = spans.get(a.root_error_span_id or "")
    if root_err is not None and caps.attrs:
        attrs = list(root_err.attributes.items())[: caps.attrs]
        data += [f"root error attr {k}={clip(str(v), caps.chars)}" for k, v in attrs]
    data += [f"exception {clip(x, caps.chars)}" for x in a.exceptions[: max(1, caps.path // 4)]]
    data += [f"db {clip(x, caps.chars)}" for x in a.db_statements[: max(1, caps.path // 6)]]
    service = a.root_error_service or a.root_service
    return Chunk(
        id=te.evidence_id,
        kind="trace",
        title=title,
        service=ident(service) if service else None,
        facts=facts,
        data=data,
        priority=40 if te.baseline else 10,
    )


def _patterns_chunk(p: ServiceLogPatterns, caps: Caps) -> Chunk:
    facts = [
        f"service {ident(p.service)}: {p.error_count} error lines in window vs "
        f"{p.baseline_error_count} in baseline; {len(p.patterns)} templates"
    ]
    ordered = sorted(p.patterns, key=lambda x: (not x.is_new, -x.count))[: caps.patterns]
    data: list[str] = []
    for pat in ordered:
        new = "NEW " if pat.is_new else ""
        data.append(
            f"{new}x{pat.count} (baseline x{pat.baseline_count}) {pat.level or '-'}: "
            f"{clip(pat.template, caps.chars)}"
        )
        data += [f"  sample: {clip(s, caps.chars)}" for s in pat.samples[: caps.samples]]
    grow = sum(1 for x in p.patterns if x.is_new)
    return Chunk(
        id=p.evidence_id,
        kind="logs",
        title=f"log templates of {ident(p.service)}",
        service=ident(p.service),
        facts=facts,
        data=data,
        priority=15 if grow else 25,
    )


def _trace_logs_chunk(t: TraceLogs, caps: Caps) -> Chunk:
    data = [
        f"{ln.timestamp:%H:%M:%S.%f} {ln.level or '-'} {ln.service or '-'}: "
        + clip(ln.line, caps.chars)
        for ln in t.lines[: caps.lines]
    ]
    return Chunk(
        id=t.evidence_id,
        kind="trace_logs",
        title=f"logs of trace {t.trace_id}",
        facts=[f"{len(t.lines)} log lines correlated with trace {t.trace_id}"],
        data=data,
        priority=20,
    )


def _change_line(c: Change) -> str:
    parts = [f"{c.evidence_id}: {c.kind.value} of {ident(c.service)} at {c.time.isoformat()}"]
    if c.from_version or c.to_version:
        parts.append(f"version {ident(c.from_version)} -> {ident(c.to_version)}")
    if c.from_commit or c.to_commit:
        parts.append(f"commit {ident(c.from_commit)} -> {ident(c.to_commit)}")
    if c.flag_key:
        parts.append(f"flag {ident(c.flag_key)}")
    parts.append(f"(source {ident(c.source)})")
    return ", ".join(parts)


def _changes_chunk(changes: list[Change], caps: Caps) -> Chunk:
    data = [
        f"{c.evidence_id}: {clip(c.description or '', caps.chars)} by {clip(c.author or '-', 60)}"
        for c in changes
        if c.description
    ]
    return Chunk(
        id=changes[0].evidence_id,
        kind="changes",
        title="changes (deploys, config, flags) near onset",
        facts=[_change_line(c) for c in changes[: caps.lines * 2]],
        data=data[: caps.lines],
        ids=[c.evidence_id for c in changes],
        priority=5,
    )


def _metric_line(m: MetricSeries) -> str:
    vals = [v for _, v in m.points if v == v]  # drop NaN
    stats = f"min {min(vals):.4g} max {max(vals):.4g} last {vals[-1]:.4g}" if vals else "no data"
    sig = f" signal {ident(m.signal)}" if m.signal else ""
    return f"{m.evidence_id}: {ident(m.name)} service {ident(m.service)}{sig}: {stats}"


def compact(bundle: EvidenceBundle, level: int = 0) -> list[Chunk]:
    """Chunks of a redacted bundle at compaction ``level`` (0 = richest), most important first."""
    caps = LEVELS[min(level, len(LEVELS) - 1)]
    chunks = [_trace_chunk(t, caps) for t in bundle.traces]
    chunks += [_patterns_chunk(p, caps) for p in bundle.log_patterns]
    chunks += [_trace_logs_chunk(t, caps) for t in bundle.trace_logs if t.lines]
    if bundle.changes:
        chunks.append(_changes_chunk(sorted(bundle.changes, key=lambda c: c.time), caps))
    if bundle.metrics:
        ids = [m.evidence_id for m in bundle.metrics]
        lines = [_metric_line(m) for m in bundle.metrics[: caps.lines * 2]]
        chunks.append(Chunk(ids[0], "metrics", "metric series", facts=lines, ids=ids, priority=30))
    return sorted(chunks, key=lambda c: c.priority)


def fit(
    render: Callable[[list[Chunk]], str], bundle: EvidenceBundle, max_tokens: int
) -> tuple[str, list[Chunk], bool]:
    """The richest rendering within ``max_tokens``: shrink caps, then drop trailing chunks.

    Returns (text, chunks used, truncated?) where truncated means chunks had to be dropped.
    """
    chunks: list[Chunk] = []
    text = ""
    for level in range(len(LEVELS)):
        chunks = compact(bundle, level)
        text = render(chunks)
        if count_tokens(text) <= max_tokens:
            return text, chunks, False
    while chunks:
        chunks = chunks[:-1]
        text = render(chunks)
        if count_tokens(text) <= max_tokens:
            break
    return text, chunks, True
