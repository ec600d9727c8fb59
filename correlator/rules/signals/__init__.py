"""Signals: small pure functions over the evidence bundle, each scoring services in [0, 1]."""

from __future__ import annotations

from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult
from correlator.rules.signals.changes import change_proximity
from correlator.rules.signals.errors import error_origin
from correlator.rules.signals.latency import latency_origin
from correlator.rules.signals.logs import log_evidence
from correlator.rules.signals.metrics import (
    corroborate,
    explain_load,
    own_golden,
    resource_saturation,
    traffic_surge,
)
from correlator.rules.signals.topology import topology


def run_signals(ctx: Context) -> dict[SignalName, SignalResult]:
    """Every signal once; topology last since it reads the others."""
    first = [
        error_origin(ctx),
        latency_origin(ctx),
        log_evidence(ctx),
        resource_saturation(ctx),
        traffic_surge(ctx),
        change_proximity(ctx),
    ]
    out = {r.name: r for r in first}
    explain_load(ctx, out[SignalName.TRAFFIC], out[SignalName.RESOURCE])
    corroborate(ctx, out)
    own_golden(ctx, out)
    out[SignalName.TOPOLOGY] = topology(ctx, first)
    return dict(sorted(out.items()))


__all__ = [
    "Context",
    "SignalResult",
    "change_proximity",
    "error_origin",
    "latency_origin",
    "log_evidence",
    "resource_saturation",
    "run_signals",
    "topology",
    "traffic_surge",
]
