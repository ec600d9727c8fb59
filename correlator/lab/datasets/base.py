"""The dataset adapter interface: one module per dataset turns its layout into scenarios.

An adapter reads a dataset's raw layout (``RAW_DIR``) and returns an ``ImportResult``: one
``DatasetCase`` per fault that pages, the faults that do not (with the reason), and the alerting
rules it evaluated. ``write_cases`` writes each case as a scenario directory (docs/scenarios.md)
with ``origin: dataset`` and a ``dataset:`` block naming the dataset and the case. Everything is
a pure function of the input files, so an import is byte-identical run after run.

Adding a dataset (RCAEval, OpenRCA-style layouts): a module with a class that has a ``name``
and ``load(raw) -> ImportResult``, registered in ``correlator.lab.datasets.ADAPTERS``; reuse
``om`` (OpenMetrics), ``tempo`` (span rows -> Tempo JSON) and ``alerting`` (rules evaluated as
Prometheus does). See docs/datasets.md.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from correlator.lab.datasets.alerting import Rule


@dataclass(frozen=True)
class DatasetCase:
    """One paging fault, as the files of a scenario directory."""

    id: str
    title: str
    description: str
    dataset: str
    case: dict[str, str]
    alert: dict[str, Any]
    metrics_text: str
    traces: dict[str, dict[str, Any]]
    truth: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    logs: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A fault of the dataset that is not a case, and why (never pages, data missing)."""

    case: str
    reason: str


@dataclass
class ImportResult:
    dataset: str
    cases: list[DatasetCase]
    skipped: list[Skipped]
    rules: list[Rule]
    notes: list[str] = field(default_factory=list)
    # per rule: the fault-free evaluation instants (epoch ms) its threshold came from; the
    # rule is false at every one of them (tests check that against a real Prometheus)
    baseline: dict[str, list[int]] = field(default_factory=dict)


class DatasetAdapter(Protocol):
    """One dataset layout; ``load`` must not depend on anything but the files under ``raw``."""

    name: str

    def load(self, raw: Path) -> ImportResult: ...


class DatasetError(ValueError):
    """The raw directory does not have the dataset's layout."""


def _dump_json(path: Path, body: Any, *, compact: bool = False) -> None:
    if compact:
        text = json.dumps(body, separators=(",", ":"), sort_keys=False)
    else:
        text = json.dumps(body, indent=2, sort_keys=False)
    path.write_text(text + "\n", encoding="utf-8")


def _dump_yaml(path: Path, body: Any) -> None:
    path.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")


def write_case(case: DatasetCase, out: Path) -> Path:
    """Write one case as ``out/<id>/`` (replacing an older import of the same case)."""
    root = out / case.id
    if root.exists():
        shutil.rmtree(root)
    (root / "traces").mkdir(parents=True)
    meta: dict[str, Any] = {
        "id": case.id,
        "title": case.title,
        "description": case.description,
        "origin": "dataset",
        "dataset": {"name": case.dataset, "case": case.case},
        "tags": case.tags,
    }
    if case.settings:
        meta["settings"] = case.settings
    _dump_yaml(root / "scenario.yaml", meta)
    _dump_json(root / "alert.json", case.alert)
    (root / "metrics.om").write_text(case.metrics_text, encoding="utf-8")
    for tid, body in sorted(case.traces.items()):
        _dump_json(root / "traces" / f"{tid}.json", body, compact=True)
    if case.logs is not None:
        _dump_json(root / "logs.json", case.logs, compact=True)
    _dump_yaml(root / "truth.yaml", case.truth)
    return root


def report_body(result: ImportResult) -> dict[str, Any]:
    """``import-report.json``: what was imported, what was skipped and why, the rules."""
    return {
        "dataset": result.dataset,
        "cases": [c.id for c in result.cases],
        "skipped": [{"case": s.case, "reason": s.reason} for s in result.skipped],
        "rules": [
            {
                "alert": r.name,
                "expr": r.expr,
                "for": f"{r.for_ms // 1000}s",
                "threshold": r.threshold,
            }
            for r in result.rules
        ],
        "notes": result.notes,
    }


def write_cases(result: ImportResult, out: Path) -> list[Path]:
    """Every case under ``out`` plus ``out/import-report.json``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [write_case(c, out) for c in result.cases]
    _dump_json(out / "import-report.json", report_body(result))
    return paths
