"""Log template mining: mask variable parts, cluster Drain-style, compare now vs baseline.

A line holding one JSON object (structured logging) is first rewritten as ``key=value`` text,
message-like keys first and string values unquoted, so that its words survive masking. Masking
(in this order): UUIDs, IPv4/IPv6 addresses (with port), timestamps, durations, hex ids
(``0x..`` or 8+ hex chars with a digit), quoted strings, numbers. Masked lines are then clustered
Drain-style: a line joins a cluster with the same token count when at least
``similarity`` of its tokens are equal; differing positions become ``<*>``. Lines of the current
and baseline windows are clustered together so their templates line up; a template with no
baseline line is flagged new.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from correlator.models import LogLine, LogPattern, ServiceLogPatterns, TimeWindow

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<ts>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b"), "<ip>"),
    (re.compile(r"\b\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\b"), "<dur>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"\b[0-9]{9,}\b"), "<hex>"),
    (re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\''), "<str>"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<num>"),
)  # fmt: skip
_LEVEL = re.compile(r"\b(trace|debug|info|warn(?:ing)?|error|err|fatal|critical|panic)\b", re.I)
_LEVEL_LABELS = ("level", "detected_level", "severity", "severity_text", "lvl")
_WILD = "<*>"
MAX_LINE = 2000
MAX_TEMPLATE = 400
MAX_SAMPLE = 500
_MESSAGE_KEYS = ("msg", "message", "error", "err", "exception")


def _json_text(line: str) -> str | None:
    """A JSON object line as ``key=value`` text (message-like keys first, strings unquoted);
    None for any other line. Without this the quoted-string mask leaves only the keys, and every
    line of a structured logger becomes one template."""
    if not line.startswith("{") or not line.rstrip().endswith("}"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    parts = []
    for key in sorted(obj, key=lambda k: k.lower() not in _MESSAGE_KEYS):
        value = obj[key]
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={text}")
    return " ".join(parts)


def mask(line: str) -> str:
    """``line`` with its variable parts replaced by placeholders, whitespace collapsed."""
    text = (_json_text(line) if len(line) <= 8 * MAX_LINE else None) or line
    text = text[:MAX_LINE]
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


def line_level(line: LogLine) -> str | None:
    for key in _LEVEL_LABELS:
        value = line.metadata.get(key) or line.labels.get(key)
        if value:
            return value.lower()
    if line.level:
        return line.level.lower()
    m = _LEVEL.search(line.line[:200])
    return m.group(1).lower() if m else None


@dataclass
class _Cluster:
    tokens: list[str]
    level: str | None
    count: int = 0
    baseline_count: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def template(self) -> str:
        return " ".join(self.tokens)[:MAX_TEMPLATE]


@dataclass
class Miner:
    """Drain-like clustering of masked lines (bounded: ``max_clusters`` per miner)."""

    similarity: float = 0.6
    max_clusters: int = 500
    max_samples: int = 3
    clusters: list[_Cluster] = field(default_factory=list)
    _by_shape: dict[tuple[int, str], list[_Cluster]] = field(default_factory=dict)

    def add(self, line: LogLine, *, baseline: bool) -> None:
        tokens = mask(line.line).split(" ") or [""]
        shape = (len(tokens), tokens[0])
        cluster = self._match(shape, tokens)
        if cluster is None:
            if len(self.clusters) >= self.max_clusters:
                return
            cluster = _Cluster(tokens=tokens, level=line_level(line))
            self.clusters.append(cluster)
            self._by_shape.setdefault(shape, []).append(cluster)
        if baseline:
            cluster.baseline_count += 1
            return
        cluster.count += 1
        if len(cluster.samples) < self.max_samples:
            cluster.samples.append(line.line[:MAX_SAMPLE])

    def _match(self, shape: tuple[int, str], tokens: list[str]) -> _Cluster | None:
        best: _Cluster | None = None
        best_score = -1.0
        for cluster in self._by_shape.get(shape, []):
            same = sum(1 for a, b in zip(cluster.tokens, tokens, strict=True) if a in (b, _WILD))
            score = same / len(tokens)
            if score >= self.similarity and score > best_score:
                best, best_score = cluster, score
        if best is not None:
            best.tokens = [a if a == b else _WILD for a, b in zip(best.tokens, tokens, strict=True)]
        return best


def mine(
    *,
    evidence_id: str,
    service: str,
    lines: Sequence[LogLine],
    baseline_lines: Sequence[LogLine] | None,
    window: TimeWindow,
    baseline: TimeWindow,
    max_patterns: int = 20,
    miner: Miner | None = None,
) -> ServiceLogPatterns:
    """Templates of ``lines`` with counts now vs ``baseline_lines``.

    ``baseline_lines=None`` means the baseline could not be read: counts stay 0 and nothing is
    flagged new (absence of evidence is not evidence of novelty). ``miner`` is a fresh
    ``Miner()`` unless given (``scripts/compare_logminers.py`` passes other miners through it).
    """
    if miner is None:
        miner = Miner()
    for line in baseline_lines or ():
        miner.add(line, baseline=True)
    for line in lines:
        miner.add(line, baseline=False)
    known_baseline = baseline_lines is not None
    patterns = [
        LogPattern(
            service=service,
            template=c.template,
            level=c.level,
            count=c.count,
            baseline_count=c.baseline_count,
            is_new=known_baseline and c.baseline_count == 0 and c.count > 0,
            samples=c.samples,
        )
        for c in miner.clusters
        if c.count > 0
    ]
    patterns.sort(key=lambda p: (p.is_new, p.count - p.baseline_count, p.count), reverse=True)
    return ServiceLogPatterns(
        evidence_id=evidence_id,
        service=service,
        window=window,
        baseline=baseline,
        patterns=patterns[:max_patterns],
        error_count=len(lines),
        baseline_error_count=len(baseline_lines or ()),
    )
