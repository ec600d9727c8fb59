"""Loki ruler (LogQL) alerts: the chain starts from the log stream, not from exemplars.

A LogQL alert has no exemplars and its expression cannot be sent to Prometheus. What it does
have: a stream selector whose labels name the workload (``{namespace="shop", app="cart"}``) and
matching lines that often carry a trace id (structured metadata or a ``trace_id=`` field). The
lines are read from Loki over the alert window; their trace ids, newest first, play the part of
exemplars.
"""

from __future__ import annotations

import hashlib

from correlator.evidence import links
from correlator.evidence.envelope import Probe, Recorder
from correlator.evidence.sources import EvidenceSources
from correlator.models import EvidenceKind, EvidenceStatus, LogLine, TimeWindow
from correlator.models.identity import service_of
from correlator.settings import Settings
from correlator.wire.ids import try_normalize_trace_id
from correlator.wire.logql import log_query, stream_labels


def log_alert_service(expr: str, names: list[str]) -> str | None:
    """The workload a LogQL alert's stream selector names (``models.identity`` conventions)."""
    return service_of(stream_labels(expr), names)


def _trace_ids(lines: list[LogLine], cap: int) -> list[str]:
    ordered = sorted(lines, key=lambda ln: (ln.timestamp, ln.trace_id or ""), reverse=True)
    out: list[str] = []
    for ln in ordered:
        raw = ln.trace_id or ln.metadata.get("trace_id") or ln.metadata.get("traceID")
        tid = try_normalize_trace_id(raw)
        if tid and tid not in out:
            out.append(tid)
        if len(out) >= cap:
            break
    return out


async def log_alert_trace_ids(
    rec: Recorder, sources: EvidenceSources, settings: Settings, expr: str, window: TimeWindow
) -> tuple[list[str], str | None]:
    """(trace ids of the newest matching lines, the service their streams name) as envelope
    ``exemplars:logql:<id>``; ``([], None)`` when Loki is absent or nothing matched."""
    query = log_query(expr) or expr
    probe = Probe(
        f"exemplars:logql:{hashlib.sha256(expr.encode()).hexdigest()[:12]}",
        EvidenceKind.EXEMPLARS,
        "loki",
        query=query,
        link=links.logs_link(settings, query, window),
    )
    source = sources.logs
    if source is None:
        rec.not_configured(probe, "Loki (LogQL alert)")
        return [], None
    lines = await rec.call(
        probe, lambda: source.query_range(query, window, settings.loki.line_limit)
    )
    if not lines:
        return [], None
    ids = _trace_ids(lines, settings.prometheus.max_exemplars)
    names = list(settings.loki.service_labels) + list(settings.prometheus.service_labels)
    service = next((s for ln in lines if (s := service_of(ln.labels, names))), None)
    if not ids:
        rec.items[probe.id].status = EvidenceStatus.NO_DATA
    rec.summarise(probe.id, f"{len(lines)} matching lines, trace ids: {', '.join(ids) or 'none'}")
    return ids, service
