"""Shared shapes for signals: the per-signal result and a precomputed view of the bundle."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from correlator.models import Change, ChangeDiff, EvidenceBundle, Span, SpanKind, TraceEvidence
from correlator.rules.schema import SignalName, Thresholds


@dataclass
class SignalResult:
    """Per-service scores in [0, 1], the evidence ids behind them, a reason and fact tags."""

    name: SignalName
    scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)
    degraded: bool = False  # scores may rank but must not accuse on their own

    def add(self, service: str, score: float, ids: Iterable[str], reason: str = "") -> None:
        self.scores[service] = max(self.scores.get(service, 0.0), min(1.0, max(0.0, score)))
        self.evidence.setdefault(service, [])
        for i in ids:
            if i not in self.evidence[service]:
                self.evidence[service].append(i)
        if reason and service not in self.reasons:
            self.reasons[service] = reason

    def tag(self, service: str, *tags: str) -> None:
        self.tags.setdefault(service, set()).update(tags)


_HOST_SUFFIX = re.compile(r"(\.svc)?(\.cluster\.local)?$")
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_SUFFIXES = ("", "service", "svc", "api", "server")
CALL_KINDS = (SpanKind.CLIENT, SpanKind.PRODUCER)
PEER_ATTRS = (
    "peer.service",
    "server.address",
    "net.peer.name",
    "net.sock.peer.name",
    "rpc.service",
    "http.host",
    "db.name",
)


DB_ATTRS = ("db.system", "db.system.name", "db.statement", "db.query.text")
STATEMENT_ATTRS = ("db.statement", "db.query.text")


def is_db(span: Span) -> bool:
    return any(k in span.attributes for k in DB_ATTRS)


def statement_of(span: Span) -> str:
    for key in STATEMENT_ATTRS:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def host_of(peer: str) -> str:
    """``http://Payment:8080/x`` -> ``payment``; keeps dashes and dots of the host name."""
    host = peer.strip().split("://")[-1].split("/")[0]
    if host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return _HOST_SUFFIX.sub("", host.lower())


def norm(name: str) -> str:
    host = name.strip().lower().split("://")[-1].split("/")[0]
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = _HOST_SUFFIX.sub("", host)
    host = host.split(".")[0] if "." in host and not host.replace(".", "").isdigit() else host
    return _NON_ALNUM.sub("", host)


def peer_of(span: Span) -> str | None:
    for key in PEER_ATTRS:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    url = span.attributes.get("url.full") or span.attributes.get("http.url")
    if isinstance(url, str) and url:
        return url
    return None


def median(values: Iterable[float]) -> float:
    vals = list(values)
    return statistics.median(vals) if vals else 0.0


class Context:
    """Precomputed, read-only facts about a bundle shared by all signals."""

    def __init__(self, bundle: EvidenceBundle, thresholds: Thresholds) -> None:
        self.bundle = bundle
        self.t = thresholds
        self.valid_ids = bundle.ids()
        ordered = sorted(bundle.traces, key=lambda t: t.evidence_id)
        self.incident: list[TraceEvidence] = [t for t in ordered if not t.baseline]
        self.baseline: list[TraceEvidence] = [t for t in ordered if t.baseline]

    def cite(self, *ids: str) -> list[str]:
        return [i for i in ids if i in self.valid_ids]

    def diff_for(self, c: Change) -> ChangeDiff | None:
        """The compare evidence of a change: made for it, or same service and head commit."""
        head = (c.to_commit or "").lower()
        for d in self.bundle.diffs:
            if d.service != c.service:
                continue
            same_head = len(head) >= 7 and (d.head.startswith(head) or head.startswith(d.head))
            if d.change_id == c.evidence_id or same_head:
                return d
        return None

    @cached_property
    def known_services(self) -> set[str]:
        names: set[str] = set()
        for te in self.bundle.traces:
            names.update(s.service for s in te.trace.spans if s.service != "unknown")
            for e in te.analysis.edges:
                names.update((e.caller, e.callee))
        names.update(p.service for p in self.bundle.log_patterns)
        names.update(m.service for m in self.bundle.metrics if m.service)
        return names

    @cached_property
    def backends(self) -> set[str]:
        """Hosts called by client spans that never answer with spans of their own (db, cache)."""
        hosts: set[str] = set()
        for te in self.bundle.traces:
            kids = children_of(te.trace.spans)
            for s in te.trace.spans:
                peer = peer_of(s)
                if peer and s.kind in CALL_KINDS and not kids.get(s.span_id):
                    hosts.add(host_of(peer))
        return {h for h in hosts if h and self.resolve(h) is None}

    def resolve(self, peer: str) -> str | None:
        """Map a peer address/name to a known service: exact, then normalised equality up to a
        ``service``/``svc``/``api``/``server`` suffix (``paymentservice:50051`` -> ``payment``)."""
        if peer in self.known_services:
            return peer
        target = norm(peer)
        if not target:
            return None
        for svc in sorted(self.known_services):
            n = norm(svc)
            if n and any(target == n + x or n == target + x for x in _SUFFIXES):
                return svc
        return None

    @cached_property
    def baseline_peers(self) -> set[tuple[str, str]]:
        """(caller service, normalised peer) pairs seen in baseline traces."""
        out: set[tuple[str, str]] = set()
        for te in self.baseline:
            for s in te.trace.spans:
                peer = peer_of(s)
                if peer and s.kind in CALL_KINDS:
                    out.add((s.service, norm(peer)))
        return out

    @cached_property
    def graph(self) -> dict[str, set[str]]:
        """caller -> callees, from trace edges and cross-service parent/child spans."""
        g: dict[str, set[str]] = defaultdict(set)
        for te in self.bundle.traces:
            for e in te.analysis.edges:
                if e.caller != e.callee:
                    g[e.caller].add(e.callee)
            by_id = {s.span_id: s for s in te.trace.spans}
            for s in te.trace.spans:
                parent = by_id.get(s.parent_span_id or "")
                if parent is not None and parent.service != s.service:
                    g[parent.service].add(s.service)
        return dict(g)


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _span_utc(te: TraceEvidence) -> TraceEvidence:
    if all(s.start.tzinfo and s.end.tzinfo for s in te.trace.spans):
        return te
    spans = [
        s.model_copy(update={"start": _utc(s.start), "end": _utc(s.end)}) for s in te.trace.spans
    ]
    return te.model_copy(update={"trace": te.trace.model_copy(update={"spans": spans})})


def with_utc_times(bundle: EvidenceBundle) -> EvidenceBundle:
    """The bundle with naive datetimes read as UTC (comparing naive with aware raises); the same
    object when everything is already aware, which is the normal case."""
    naive = (
        bundle.onset.tzinfo is None
        or any(c.time.tzinfo is None for c in bundle.changes)
        or any(
            s.start.tzinfo is None or s.end.tzinfo is None
            for te in bundle.traces
            for s in te.trace.spans
        )
    )
    if not naive:
        return bundle
    return bundle.model_copy(
        update={
            "onset": _utc(bundle.onset),
            "changes": [c.model_copy(update={"time": _utc(c.time)}) for c in bundle.changes],
            "traces": [_span_utc(te) for te in bundle.traces],
        }
    )


def children_of(spans: list[Span]) -> dict[str, list[Span]]:
    """parent span id -> children, each list in (start, span id) order (input order ignored)."""
    out: dict[str, list[Span]] = defaultdict(list)
    for s in sorted(spans, key=lambda s: (s.start, s.span_id)):
        if s.parent_span_id:
            out[s.parent_span_id].append(s)
    return out
