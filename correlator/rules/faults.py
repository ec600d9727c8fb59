"""Fault type and culprit change of one accused service, from which signals fired and their tags."""

from __future__ import annotations

from dataclasses import dataclass

from correlator.models import Change, ChangeKind, FaultType
from correlator.rules.schema import SignalName
from correlator.rules.signals.base import Context, SignalResult
from correlator.rules.signals.changes import effective_kind, ranked_changes

CHANGE_FAULT = {
    ChangeKind.DEPLOY: FaultType.DEPLOY_REGRESSION,
    ChangeKind.VERSION_CHANGE: FaultType.DEPLOY_REGRESSION,
    ChangeKind.CONFIG: FaultType.CONFIG_CHANGE,
    ChangeKind.FEATURE_FLAG: FaultType.FEATURE_FLAG,
}


@dataclass(frozen=True)
class Verdict:
    fault: FaultType
    change: Change | None
    tags: frozenset[str]
    flag: str | None


def _tags(service: str, results: dict[SignalName, SignalResult]) -> frozenset[str]:
    out: set[str] = set()
    for res in results.values():
        out |= res.tags.get(service, set())
    return frozenset(out)


def _score(results: dict[SignalName, SignalResult], sig: SignalName, service: str) -> float:
    res = results.get(sig)
    return res.scores.get(service, 0.0) if res else 0.0


def _resource_fault(tags: frozenset[str]) -> FaultType | None:
    if "disk" in tags:
        return FaultType.RESOURCE_DISK
    if "memory" in tags or "restarts" in tags or "oom" in tags:
        return FaultType.RESOURCE_MEMORY
    if "cpu" in tags:
        return FaultType.RESOURCE_CPU
    return None


def _symptom_fault(
    service: str, tags: frozenset[str], results: dict[SignalName, SignalResult]
) -> FaultType:
    """Fault type when no change explains the anomaly."""
    err = _score(results, SignalName.ERROR_ORIGIN, service)
    lat = _score(results, SignalName.LATENCY_ORIGIN, service)
    res = _score(results, SignalName.RESOURCE, service)
    traffic = _score(results, SignalName.TRAFFIC, service)
    if "bad_target" in tags:
        return FaultType.CONFIG_CHANGE
    if "unreachable" in tags:
        return FaultType.DEPENDENCY_DOWN
    if traffic > 0 and (res == 0 or _resource_fault(tags) is FaultType.RESOURCE_CPU):
        return FaultType.TRAFFIC_SURGE  # more load burns more CPU: the surge is the cause
    if res > 0 and "socket" in tags:
        return FaultType.NETWORK_LOSS  # socket/fd exhaustion: connections fail
    if res > 0 and (kind := _resource_fault(tags)) is not None:
        return kind
    if "flag_new" in tags:
        return FaultType.FEATURE_FLAG  # a flag turned on where the fault is, nothing else moved
    if "socket" in tags:
        return FaultType.NETWORK_LOSS  # socket/fd exhaustion: connections fail
    if "disk" in tags:
        return FaultType.RESOURCE_DISK
    if "oom" in tags:
        return FaultType.RESOURCE_MEMORY
    if traffic > 0 and traffic >= max(err, lat, res) * 0.5:
        return FaultType.TRAFFIC_SURGE
    if lat >= err and lat > 0:
        if "db" in tags:
            return FaultType.DATABASE_SLOW
        if "network_loss" in tags:
            return FaultType.NETWORK_LOSS
        if "network_delay" in tags:
            return FaultType.NETWORK_DELAY
    if "network_error" in tags and "exception" not in tags:
        return FaultType.NETWORK_LOSS
    if "network_delay" in tags and lat > 0:
        return FaultType.NETWORK_DELAY
    if "db" in tags and lat > 0:
        return FaultType.DATABASE_SLOW
    if lat > 0 and err == 0 and not tags & {"exception", "bad_response", "client_error"}:
        # slower, nothing failing, no resource/db/flag/change to explain it: time on the wire
        return FaultType.NETWORK_DELAY
    return FaultType.CODE_ERROR


def _flag_key(tags: frozenset[str], change: Change | None) -> str | None:
    if change is not None and change.flag_key:
        return change.flag_key
    keys = sorted(t.split("=", 1)[1] for t in tags if t.startswith("flag="))
    return keys[0] if keys else None


def verdict(ctx: Context, service: str, results: dict[SignalName, SignalResult]) -> Verdict:
    tags = _tags(service, results)
    ranked = [(sc, c) for sc, c in ranked_changes(ctx, service) if sc >= ctx.t.min_change_score]
    change = ranked[0][1] if ranked else None
    if change is not None and {"db", "backend"} <= tags:
        fault = FaultType.DATABASE_SLOW  # e.g. a migration that dropped an index
    elif change is not None:
        fault = CHANGE_FAULT[effective_kind(change)]
    else:
        fault = _symptom_fault(service, tags, results)
    return Verdict(fault=fault, change=change, tags=tags, flag=_flag_key(tags, change))
