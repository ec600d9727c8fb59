"""The replay report: one row per alert plus a summary, as JSON and Markdown.

With a truth file (``--truth FILE``: YAML or JSON mapping an alert fingerprint, or a row key
``<fingerprint>@<startsAt>`` / ``scenario:<id>``, to a root cause in the ``truth.yaml`` shape,
either ``{root_cause: {...}}`` or the root cause itself), the report adds the accuracy figures of
``correlator eval`` (``correlator.lab.evaluate.evaluate``) over the labelled rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from correlator.lab.evaluate import Report, evaluate
from correlator.lab.replay.runner import ReplayRow
from correlator.lab.scenarios import Truth

COUNTED = ("exemplars", "traces", "log_lines", "changes")


class GroupSummary(BaseModel):
    alerts: int = 0
    errors: int = 0
    with_hypothesis: int = 0
    top_services: dict[str, int] = Field(default_factory=dict)


class ReplaySummary(BaseModel):
    alerts: int
    errors: int
    with_hypothesis: int
    with_evidence: dict[str, int] = Field(description="alerts with at least one of each")
    mean_seconds: float | None
    by_alertname: dict[str, GroupSummary]
    by_service: dict[str, GroupSummary]


class ReplayReport(BaseModel):
    summary: ReplaySummary
    accuracy: Report | None = None
    rows: list[ReplayRow]


class TruthError(ValueError):
    """A truth file that cannot be read."""


def load_truth_map(path: Path | str) -> dict[str, Truth]:
    """``--truth FILE``: key (fingerprint or row key) -> ``Truth``."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # JSON is YAML
    except (OSError, yaml.YAMLError) as exc:
        raise TruthError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise TruthError(f"{path}: expected a mapping of fingerprint -> root cause")
    out: dict[str, Truth] = {}
    for key, value in raw.items():
        body = value if isinstance(value, dict) and "root_cause" in value else {"root_cause": value}
        try:
            out[str(key)] = Truth.model_validate(body)
        except ValidationError as exc:
            raise TruthError(f"{path}: {key}: {exc}") from exc
    return out


def _group(rows: Sequence[ReplayRow], key: str) -> dict[str, GroupSummary]:
    groups: dict[str, GroupSummary] = {}
    tops: dict[str, Counter[str]] = {}
    for r in rows:
        name = getattr(r, key) or "(none)"
        g = groups.setdefault(name, GroupSummary())
        g.alerts += 1
        g.errors += r.error is not None
        if r.top_service:
            g.with_hypothesis += 1
            tops.setdefault(name, Counter())[r.top_service] += 1
    for name, g in groups.items():
        g.top_services = dict(tops.get(name, Counter()).most_common())
    return dict(sorted(groups.items()))


def summarize_rows(rows: Sequence[ReplayRow]) -> ReplaySummary:
    seconds = [r.seconds for r in rows]
    return ReplaySummary(
        alerts=len(rows),
        errors=sum(r.error is not None for r in rows),
        with_hypothesis=sum(bool(r.top_service) for r in rows),
        with_evidence={k: sum(r.counts.get(k, 0) > 0 for r in rows) for k in COUNTED},
        mean_seconds=round(sum(seconds) / len(seconds), 3) if seconds else None,
        by_alertname=_group(rows, "alertname"),
        by_service=_group(rows, "service"),
    )


def accuracy(rows: Sequence[ReplayRow], truth: dict[str, Truth]) -> Report:
    """``correlator eval`` figures over the rows that have a truth (by key, then fingerprint)."""
    pairs = []
    for r in rows:
        t = truth.get(r.key) or truth.get(r.fingerprint)
        if t is not None:
            pairs.append((t, r.outcome))
    return evaluate(pairs)


def build_report(rows: Sequence[ReplayRow], truth: dict[str, Truth] | None = None) -> ReplayReport:
    acc = accuracy(rows, truth) if truth is not None else None
    return ReplayReport(summary=summarize_rows(rows), accuracy=acc, rows=list(rows))


def _cell(text: Any, limit: int = 80) -> str:
    s = "" if text is None else str(text)
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _statuses(row: ReplayRow) -> str:
    parts = []
    for kind, counts in row.evidence.items():
        parts.append(kind + ":" + ",".join(f"{s}={n}" if n > 1 else s for s, n in counts.items()))
    return " ".join(parts)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def render_markdown(report: ReplayReport) -> str:
    s = report.summary
    lines = [
        "# Replay report",
        "",
        f"{s.alerts} alerts, {s.with_hypothesis} with a hypothesis, {s.errors} errors, "
        f"mean {s.mean_seconds} s per alert.",
        "",
        "Alerts with evidence: " + ", ".join(f"{k} {v}" for k, v in s.with_evidence.items()),
        "",
        "| alert | service | starts at | top hypothesis | fault | conf | proposed action "
        "| evidence | sec |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report.rows:
        when = r.starts_at.isoformat(timespec="seconds") if r.starts_at else "-"
        top = r.top_service or ("error: " + _cell(r.error, 60) if r.error else "(none)")
        conf = "-" if r.confidence is None else f"{r.confidence:.2f}"
        lines.append(
            f"| {_cell(r.alertname)} | {_cell(r.service)} | {when} | {_cell(top)} "
            f"| {_cell(r.fault_type)} | {conf} | {_cell(r.proposed_action)} "
            f"| {_cell(_statuses(r), 160)} | {r.seconds:.2f} |"
        )
    for title, groups in (("alertname", s.by_alertname), ("service", s.by_service)):
        lines += [
            "",
            f"## By {title}",
            "",
            f"| {title} | alerts | with hypothesis | errors | top services |",
            "|---|---|---|---|---|",
        ]
        for name, g in groups.items():
            tops = ", ".join(f"{k} ({v})" for k, v in g.top_services.items())
            lines.append(
                f"| {_cell(name)} | {g.alerts} | {g.with_hypothesis} | {g.errors} | {_cell(tops)} |"
            )
    if report.accuracy is not None:
        a = report.accuracy
        lines += [
            "",
            "## Accuracy (labelled alerts)",
            "",
            f"cases {a.cases}  AC@1 {_fmt(a.ac_at_1)}  AC@3 {_fmt(a.ac_at_3)}  "
            f"Avg@5 {_fmt(a.avg_at_5)}  fault-type {_fmt(a.fault_type_accuracy)}  "
            f"culprit-change {_fmt(a.culprit_change_top1)}  "
            f"false-accusation {_fmt(a.false_accusation_rate)}",
        ]
    return "\n".join(lines) + "\n"


def write_report(report: ReplayReport, out_dir: Path) -> tuple[Path, Path]:
    """``<out>/report.json`` and ``<out>/report.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "report.json", out_dir / "report.md"
    js.write_text(json.dumps(report.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    md.write_text(render_markdown(report), encoding="utf-8")
    return js, md
