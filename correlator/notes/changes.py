"""One change, one line: merge what several sources say about the same rollout.

A deploy is usually seen several times: the deploy API marker, a Grafana annotation, the
``build_info``/``target_info`` version series and the ``service.version`` of spans. Each source
knows part of it (the annotation only the commit, the deploy API no previous version when it saw
no earlier deploy), so the note merges them per service: two changes are the same rollout when
their target versions are equal or their target commits are prefixes of one another. The merged
change takes each field from the first source that has it (explicit markers before inferred
ones for the target and the time; any source for the previous version, so history fills the
gap a marker leaves). Nothing here is printed as ``?``: an unknown value is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from correlator.models import Change, ChangeKind

# Explicit markers say when and what was rolled out; inferred changes (metric, trace) only
# bound the time from above, but they carry the previous version the markers may lack.
_TARGET_ORDER = ("deploy_api", "grafana", "metric", "trace")
_PREVIOUS_ORDER = ("deploy_api", "metric", "trace", "grafana")
_EXPLICIT = frozenset({"deploy_api", "grafana"})
_MIN_COMMIT = 7
_SAME_TIME = timedelta(seconds=90)


@dataclass
class MergedChange:
    """A rollout as the note shows it: one line whatever the number of sources."""

    service: str
    kind: str
    time: datetime
    sources: list[str]
    evidence_ids: list[str]
    from_version: str | None = None
    to_version: str | None = None
    from_commit: str | None = None
    to_commit: str | None = None
    description: str | None = None
    url: str | None = None
    flag_key: str | None = None
    environment: str | None = None
    members: list[Change] = field(default_factory=list, repr=False)

    @property
    def target(self) -> str:
        """What the service runs now: version, else short commit, else the kind of change."""
        return self.to_version or _short(self.to_commit) or self.flag_key or self.kind


def _short(commit: str | None) -> str | None:
    return commit[:12] if commit else None


def _commits_match(a: str | None, b: str | None) -> bool:
    if not a or not b or min(len(a), len(b)) < _MIN_COMMIT:
        return False
    return a.startswith(b) or b.startswith(a)


def same_rollout(a: Change, b: Change) -> bool:
    """Whether two changes of one service describe the same rollout."""
    if a.service != b.service:
        return False
    if a.to_version and b.to_version and a.to_version == b.to_version:
        return True
    if _commits_match(a.to_commit, b.to_commit):
        return True
    if a.flag_key and a.flag_key == b.flag_key:
        return abs(a.time - b.time) <= _SAME_TIME
    blank = not (a.to_version or a.to_commit or b.to_version or b.to_commit)
    return blank and a.kind == b.kind and abs(a.time - b.time) <= _SAME_TIME


def _groups(changes: Sequence[Change]) -> list[list[Change]]:
    """Connected components of ``same_rollout`` (a Grafana commit links a metric version)."""
    parent = list(range(len(changes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(changes):
        for j in range(i + 1, len(changes)):
            if same_rollout(a, changes[j]):
                parent[find(j)] = find(i)
    groups: dict[int, list[Change]] = {}
    for i, c in enumerate(changes):
        groups.setdefault(find(i), []).append(c)
    return list(groups.values())


def _first(members: Iterable[Change], order: Sequence[str], attr: str) -> str | None:
    ranked = sorted(members, key=lambda c: (_rank(c.source, order), c.time))
    for c in ranked:
        value = getattr(c, attr)
        if value:
            return str(value)
    return None


def _rank(source: str, order: Sequence[str]) -> int:
    return order.index(source) if source in order else len(order)


def _merge(members: list[Change]) -> MergedChange:
    explicit = [c for c in members if c.source in _EXPLICIT]
    timed = explicit or members
    kinds = [c.kind for c in explicit] or [c.kind for c in members]
    kind = ChangeKind.DEPLOY if ChangeKind.DEPLOY in kinds else kinds[0]
    sources: list[str] = []
    for c in sorted(members, key=lambda c: _rank(c.source, _TARGET_ORDER)):
        if c.source not in sources:
            sources.append(c.source)
    return MergedChange(
        service=members[0].service,
        kind=str(kind),
        time=min(c.time for c in timed),
        sources=sources,
        evidence_ids=[c.evidence_id for c in members],
        from_version=_first(members, _PREVIOUS_ORDER, "from_version"),
        to_version=_first(members, _TARGET_ORDER, "to_version"),
        from_commit=_first(members, _PREVIOUS_ORDER, "from_commit"),
        to_commit=_first(members, _TARGET_ORDER, "to_commit"),
        description=_first(members, _TARGET_ORDER, "description"),
        url=_first(members, _TARGET_ORDER, "url"),
        flag_key=_first(members, _TARGET_ORDER, "flag_key"),
        environment=_first(members, _TARGET_ORDER, "environment"),
        members=members,
    )


def merge_changes(changes: Sequence[Change]) -> list[MergedChange]:
    """Every rollout once, newest first (ties: service name), whatever saw it."""
    merged = [_merge(g) for g in _groups(list(changes))]
    return sorted(merged, key=lambda m: (-m.time.timestamp(), m.service))


def find_merged(merged: Sequence[MergedChange], evidence_id: str) -> MergedChange | None:
    for m in merged:
        if evidence_id in m.evidence_ids:
            return m
    return None
