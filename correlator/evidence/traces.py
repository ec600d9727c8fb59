"""Pure derivations from one domain ``Trace``: ``analyze(trace) -> TraceAnalysis``.

* **root span**: a span whose parent is absent from the trace (missing spans make orphans); the
  earliest, then the longest, then the smallest id wins.
* **error spans**: ``status == ERROR``, in start order.
* **root-most error span** (where the failure originated): among erroring spans with no erroring
  child, the deepest; ties go to the earliest start, then the smallest span id.
* **critical path**: from the root, walk back from its end through the child that finished last,
  then the one that finished before that child started, and so on, recursively; time not covered
  by a critical child is the span's *self time* on the critical path, summed per service.
  Concurrent siblings that never block the parent are not on the path.
* **service edges**: a parent/child pair across services (client -> server, producer ->
  consumer, or any other cross-service parent), counted per child span, errors when the child
  errs; a CLIENT span with ``peer.service`` and no cross-service child adds an edge to that peer.
* **versions/commits**: per service, from the resource (most spans win on disagreement).
* **flags**: span events ``feature_flag.evaluation`` (and the legacy ``feature_flag``) with
  ``feature_flag.key``, ``feature_flag.result.variant``/``feature_flag.variant`` and
  ``feature_flag.provider.name``/``feature_flag.provider_name``.
* **db statements**: ``db.query.text`` (and the pre-1.26 ``db.statement``), deduplicated.
* **exceptions**: ``exception`` events (``exception.type: exception.message``), deduplicated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from correlator.models import (
    Attributes,
    FlagEvaluation,
    ServiceEdge,
    Span,
    SpanKind,
    Trace,
    TraceAnalysis,
)

FLAG_EVENTS = frozenset({"feature_flag.evaluation", "feature_flag"})
MAX_DEPTH = 256
MAX_ITEMS = 20
MAX_TEXT = 500


def analyze(trace: Trace) -> TraceAnalysis:
    spans = _unique(trace.spans)
    if not spans:
        return TraceAnalysis()
    by_id = {s.span_id: s for s in spans}
    children = _children(spans, by_id)
    root = _root(spans, by_id)
    errors = [s for s in spans if s.is_error]
    origin = _origin_error(errors, children, by_id)
    self_time: dict[str, float] = defaultdict(float)
    path: list[str] = []
    _critical(root, root.start, root.end, children, self_time, path, 0, set())
    start = min(s.start for s in spans)
    end = max(s.end for s in spans)
    return TraceAnalysis(
        root_service=root.service,
        root_span_name=root.name,
        duration_ms=(end - start).total_seconds() * 1000.0,
        error_span_ids=[s.span_id for s in errors],
        root_error_span_id=origin.span_id if origin else None,
        root_error_service=origin.service if origin else None,
        self_time_ms={k: round(v, 3) for k, v in sorted(self_time.items()) if v > 0},
        critical_path=path,
        edges=_edges(spans, by_id, children),
        versions=_per_service(spans, lambda s: s.resource.version),
        commits=_per_service(spans, lambda s: s.resource.commit),
        flags=_flags(spans),
        db_statements=_distinct(
            _text(s.attributes, "db.query.text", "db.statement") for s in spans
        ),
        exceptions=_distinct(_exceptions(spans)),
    )


def _unique(spans: Iterable[Span]) -> list[Span]:
    seen: dict[str, Span] = {}
    for s in spans:
        seen.setdefault(s.span_id, s)
    return sorted(seen.values(), key=lambda s: (s.start, s.span_id))


def _children(spans: list[Span], by_id: Mapping[str, Span]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        parent = s.parent_span_id
        if parent is not None and parent in by_id and parent != s.span_id:
            out[parent].append(s)
    return out


def _root(spans: list[Span], by_id: Mapping[str, Span]) -> Span:
    roots = [s for s in spans if s.parent_span_id not in by_id or s.parent_span_id == s.span_id]
    candidates = roots or spans
    return min(candidates, key=lambda s: (s.start, -(s.end - s.start).total_seconds(), s.span_id))


def _depths(by_id: Mapping[str, Span]) -> dict[str, int]:
    depth: dict[str, int] = {}
    for sid in by_id:
        chain: list[str] = []
        cur: str | None = sid
        while (
            cur is not None
            and cur in by_id
            and cur not in depth
            and cur not in chain
            and len(chain) < MAX_DEPTH
        ):
            chain.append(cur)
            cur = by_id[cur].parent_span_id
        base = depth.get(cur, -1) if cur is not None else -1
        for i, c in enumerate(reversed(chain)):
            depth[c] = base + 1 + i
    return depth


def _origin_error(
    errors: list[Span], children: Mapping[str, list[Span]], by_id: Mapping[str, Span]
) -> Span | None:
    if not errors:
        return None
    leaves = [e for e in errors if not any(c.is_error for c in children.get(e.span_id, []))]
    depth = _depths(by_id)
    return min(leaves or errors, key=lambda s: (-depth.get(s.span_id, 0), s.start, s.span_id))


def _critical(
    span: Span,
    lo: datetime,
    hi: datetime,
    children: Mapping[str, list[Span]],
    self_time: dict[str, float],
    path: list[str],
    depth: int,
    seen: set[str],
) -> None:
    """Append ``span``'s critical sub-path to ``path``; add its self time within [lo, hi]."""
    path.append(span.span_id)
    seen.add(span.span_id)
    cursor = hi
    kids = children.get(span.span_id, []) if depth < MAX_DEPTH else []
    for kid in sorted(kids, key=lambda k: (k.end, k.start, k.span_id), reverse=True):
        if cursor <= lo:
            break
        if kid.span_id in seen or kid.start >= cursor or kid.end <= lo:
            continue
        k_end = min(kid.end, cursor)
        k_start = max(kid.start, lo)
        self_time[span.service] += (cursor - k_end).total_seconds() * 1000.0
        _critical(kid, k_start, k_end, children, self_time, path, depth + 1, seen)
        cursor = k_start
    if cursor > lo:
        self_time[span.service] += (cursor - lo).total_seconds() * 1000.0


def _edges(
    spans: list[Span], by_id: Mapping[str, Span], children: Mapping[str, list[Span]]
) -> list[ServiceEdge]:
    calls: Counter[tuple[str, str]] = Counter()
    errs: Counter[tuple[str, str]] = Counter()
    for s in spans:
        parent = by_id.get(s.parent_span_id or "")
        if parent is not None and parent.service != s.service and parent is not s:
            calls[(parent.service, s.service)] += 1
            errs[(parent.service, s.service)] += int(s.is_error)
        peer = s.attributes.get("peer.service")
        if (
            s.kind is SpanKind.CLIENT
            and isinstance(peer, str)
            and peer
            and peer != s.service
            and all(c.service == s.service for c in children.get(s.span_id, []))
        ):
            calls[(s.service, peer)] += 1
            errs[(s.service, peer)] += int(s.is_error)
    return [
        ServiceEdge(caller=a, callee=b, calls=n, errors=errs[(a, b)])
        for (a, b), n in sorted(calls.items())
    ]


def _per_service(spans: list[Span], get: Callable[[Span], str | None]) -> dict[str, str]:
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for s in spans:
        value = get(s)
        if value:
            votes[s.service][str(value)] += 1
    return {
        svc: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for svc, c in sorted(votes.items())
    }


def _text(attrs: Attributes, *names: str) -> str | None:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return (value if isinstance(value, str) else str(value))[:MAX_TEXT]
    return None


def _distinct(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and v not in out:
            out.append(v)
            if len(out) >= MAX_ITEMS:
                break
    return out


def _exceptions(spans: list[Span]) -> Iterable[str | None]:
    for s in spans:
        sources = [e.attributes for e in s.events if e.name == "exception"]
        if "exception.type" in s.attributes or "exception.message" in s.attributes:
            sources.append(s.attributes)
        for attrs in sources:
            kind = _text(attrs, "exception.type")
            message = _text(attrs, "exception.message")
            if kind or message:
                yield f"{kind}: {message}" if kind and message else kind or message


def _flags(spans: list[Span]) -> list[FlagEvaluation]:
    out: list[FlagEvaluation] = []
    seen: set[tuple[str, str, str | None]] = set()
    for s in spans:
        for e in s.events:
            if e.name not in FLAG_EVENTS:
                continue
            key = _text(e.attributes, "feature_flag.key")
            if not key:
                continue
            variant = _text(
                e.attributes,
                "feature_flag.result.variant",
                "feature_flag.variant",
                "feature_flag.result.value",
            )
            if (s.span_id, key, variant) in seen:
                continue
            seen.add((s.span_id, key, variant))
            out.append(
                FlagEvaluation(
                    key=key,
                    variant=variant,
                    provider=_text(
                        e.attributes, "feature_flag.provider.name", "feature_flag.provider_name"
                    ),
                    service=s.service,
                    span_id=s.span_id,
                    time=e.time,
                )
            )
    return out
