"""Changes near an alert: deploy markers, deploys posted to correlator, inferred version changes.

Sources (``Change.source``): ``grafana`` (annotations), ``deploy_api`` (``POST /api/v1/deploys``),
``metric`` (``build_info``/``target_info`` series whose version label changes), ``trace``
(``service.version``/commit on the exemplar traces differing from pre-onset baseline traces).
Each change gets the stable id ``change:<source>:<service>:<version-or-time>`` and, when
``settings.repo_url_template`` is configured, a compare/commit URL filled with URL-quoted values.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote as url_quote

from correlator.models import Change, ChangeKind, Deploy, MetricSeries, TraceEvidence
from correlator.models.identity import service_of
from correlator.settings import Settings
from correlator.wire.promql import substitute

_VERSION_LABELS = ("version", "service_version")
_COMMIT_LABELS = ("commit", "revision", "vcs_ref_head_revision", "git_commit")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_CHANGES_PER_SOURCE = 50


def change_id(source: str, service: str, version: str | None, time: datetime) -> str:
    tail = version or time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"change:{source}:{service}:{tail}"


def repo_url(
    settings: Settings,
    *,
    service: str,
    from_commit: str | None = None,
    to_commit: str | None = None,
    from_version: str | None = None,
    to_version: str | None = None,
) -> str | None:
    """``settings.repo_url_template`` filled with URL-quoted values; None when it needs a value
    this change does not have. Placeholders: service, from_commit, to_commit, commit,
    from_version, to_version, version."""
    template = settings.repo_url_template
    if not template:
        return None
    values = {
        "service": service,
        "from_commit": from_commit,
        "to_commit": to_commit,
        "commit": to_commit,
        "from_version": from_version,
        "to_version": to_version,
        "version": to_version,
    }
    needed = set(_PLACEHOLDER.findall(template.replace("{{", "").replace("}}", "")))
    if any(not values.get(name) for name in needed):
        return None
    fragments = {k: url_quote(v, safe="") for k, v in values.items() if v}
    return substitute(template, fragments)


def describe(c: Change) -> str:
    """One line for a change envelope's summary; an unknown side is left out, never ``?``."""
    frm = c.from_version or (c.from_commit or "")[:12]
    to = c.to_version or (c.to_commit or "")[:12]
    versions = f" {frm} -> {to}" if frm and to else (f" -> {to}" if to else "")
    text = f"{c.kind.value} of {c.service}{versions} at {c.time.isoformat()} ({c.source})"
    return text if not c.description else f"{text}: {c.description[:200]}"


def with_ids(changes: Iterable[Change], settings: Settings, source: str) -> list[Change]:
    """Give connector-built changes (e.g. Grafana annotations) stable ids and compare URLs.

    A URL the payload carried is dropped: links come only from configured templates.
    """
    out: list[Change] = []
    for c in list(changes)[:MAX_CHANGES_PER_SOURCE]:
        url = repo_url(
            settings,
            service=c.service,
            from_commit=c.from_commit,
            to_commit=c.to_commit,
            from_version=c.from_version,
            to_version=c.to_version,
        )
        cid = change_id(source, c.service, c.to_version, c.time)
        out.append(c.model_copy(update={"evidence_id": cid, "source": source, "url": url}))
    return _unique(out)


def changes_from_deploys(deploys: Sequence[Deploy], settings: Settings) -> list[Change]:
    """Deploys posted to correlator; ``from_*`` is the previous deploy of the same service."""
    previous: dict[tuple[str, str | None], Deploy] = {}
    out: list[Change] = []
    for d in sorted(deploys, key=lambda d: d.time):
        key = (d.service, d.environment)
        prev = previous.get(key)
        previous[key] = d
        from_version = prev.version if prev else None
        from_commit = prev.commit if prev else None
        out.append(
            Change(
                evidence_id=change_id("deploy_api", d.service, d.version, d.time),
                service=d.service,
                kind=d.kind,
                time=d.time,
                source="deploy_api",
                from_version=from_version,
                to_version=d.version,
                from_commit=from_commit,
                to_commit=d.commit,
                environment=d.environment,
                url=repo_url(
                    settings,
                    service=d.service,
                    from_commit=from_commit,
                    to_commit=d.commit,
                    from_version=from_version,
                    to_version=d.version,
                ),
                author=d.author,
                description=d.description,
            )
        )
    return _unique(out[-MAX_CHANGES_PER_SOURCE:])


def _first(labels: dict[str, str], names: Sequence[str]) -> str | None:
    for name in names:
        if labels.get(name):
            return labels[name]
    return None


def changes_from_version_series(series: Sequence[MetricSeries], settings: Settings) -> list[Change]:
    """A service whose version label changes inside the series' range.

    For each (service, version) the first and last timestamp with a finite, non-zero value; the
    versions of a service ordered by first appearance; each later version that first appears
    after an earlier one was seen is a change at its first appearance.
    """
    seen: dict[str, dict[tuple[str, str | None], tuple[float, float]]] = defaultdict(dict)
    for s in series:
        service, version = service_of(s.labels), _first(s.labels, _VERSION_LABELS)
        points = [t for t, v in s.points if math.isfinite(v) and v != 0]
        if not service or not version or not points:
            continue
        key = (version, _first(s.labels, _COMMIT_LABELS))
        lo, hi = seen[service].get(key, (math.inf, -math.inf))
        seen[service][key] = (min(lo, min(points)), max(hi, max(points)))
    out: list[Change] = []
    for service, versions in sorted(seen.items()):
        ordered = sorted(versions.items(), key=lambda kv: kv[1][0])
        for (prev, (p_lo, _)), (cur, (c_lo, _)) in itertools.pairwise(ordered):
            if c_lo <= p_lo:
                continue
            time = datetime.fromtimestamp(c_lo, tz=UTC)
            out.append(_version_change("metric", service, time, prev, cur, settings))
    return _unique(out[:MAX_CHANGES_PER_SOURCE])


def _version_change(
    source: str,
    service: str,
    time: datetime,
    prev: tuple[str | None, str | None],
    cur: tuple[str | None, str | None],
    settings: Settings,
) -> Change:
    return Change(
        evidence_id=change_id(source, service, cur[0] or _short(cur[1]), time),
        service=service,
        kind=ChangeKind.VERSION_CHANGE,
        time=time,
        source=source,
        from_version=prev[0],
        to_version=cur[0],
        from_commit=prev[1],
        to_commit=cur[1],
        url=repo_url(
            settings,
            service=service,
            from_commit=prev[1],
            to_commit=cur[1],
            from_version=prev[0],
            to_version=cur[0],
        ),
    )


def _short(commit: str | None) -> str | None:
    return commit[:12] if commit else None


def changes_from_traces(
    current: Sequence[TraceEvidence], baseline: Sequence[TraceEvidence], settings: Settings
) -> list[Change]:
    """Services whose most common (version, commit) in the alert's traces differs from the
    baseline traces'. ``time`` is the earliest span start of that service in the alert's traces
    with the new version: an upper bound of when the change happened."""
    now = _versions(current)
    before = _versions(baseline)
    out: list[Change] = []
    for service, (cur, first_seen) in sorted(now.items()):
        old = before.get(service)
        if old is None or old[0] == cur:
            continue
        out.append(_version_change("trace", service, first_seen, old[0], cur, settings))
    return _unique(out)


def _versions(
    traces: Sequence[TraceEvidence],
) -> dict[str, tuple[tuple[str | None, str | None], datetime]]:
    counts: dict[str, Counter[tuple[str | None, str | None]]] = defaultdict(Counter)
    first: dict[tuple[str, str | None, str | None], datetime] = {}
    for te in traces:
        services = set(te.analysis.versions) | set(te.analysis.commits)
        for service in services:
            key = (te.analysis.versions.get(service), te.analysis.commits.get(service))
            counts[service][key] += 1
            start = min((s.start for s in te.trace.spans if s.service == service), default=None)
            if start is not None:
                k = (service, *key)
                first[k] = min(first.get(k, start), start)
    result: dict[str, tuple[tuple[str | None, str | None], datetime]] = {}
    for service, counter in counts.items():
        key, _ = counter.most_common(1)[0]
        seen = first.get((service, *key))
        if seen is not None:
            result[service] = (key, seen)
    return result


def _unique(changes: Iterable[Change]) -> list[Change]:
    by_id: dict[str, Change] = {}
    for c in changes:
        cid = c.evidence_id
        if cid in by_id:  # same service+version from two markers: keep both, distinct ids
            digest = hashlib.sha256(c.model_dump_json().encode()).hexdigest()[:6]
            c = c.model_copy(update={"evidence_id": f"{cid}~{digest}"})
        by_id[c.evidence_id] = c
    return list(by_id.values())
