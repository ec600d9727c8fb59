"""Reading the Nezha repository layout (schemas: tests/datasets/nezha-onlineboutique/SOURCES.md).

::

    rca_data/<day>/<day>-fault_list.json   {"<hour>": [{inject_time, inject_pod, inject_type}]}
    rca_data/<day>/metric/<pod>_metric.csv       per-pod 1-minute rows
    rca_data/<day>/metric/front_service.csv      frontend success rate and latency quantiles
    rca_data/<day>/trace/<HH_MM>_trace.csv       spans of one minute
    construct_data/root_cause_hipster.json       fault type -> code region / resource metric

Every CSV may also be gzipped (``.csv.gz``). Times come from the ``Time`` text (UTC; one file's
``TimeStamp`` column is 200,000,000 s off), and ``inject_time`` is UTC (``inject_timestamp`` is
8 h off).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from correlator.lab.datasets.base import DatasetError
from correlator.lab.datasets.tempo import SpanRow

_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))?")


@dataclass(frozen=True)
class Fault:
    day: str
    inject_ms: int
    inject_time: str
    pod: str
    kind: str

    @property
    def minute(self) -> str:
        return self.inject_time[11:16].replace(":", "_")


@dataclass(frozen=True)
class Row:
    ts_ms: int
    values: dict[str, str]

    def num(self, column: str) -> float:
        return float(self.values[column])


def _open_text(path: Path) -> str | None:
    """``path`` (``.csv``) or ``path.gz``; ``None`` when neither exists."""
    if path.exists():
        return path.read_text(encoding="utf-8")
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        with gzip.open(gz, "rt", encoding="utf-8") as f:
            return f.read()
    return None


def read_csv(path: Path) -> list[dict[str, str]] | None:
    text = _open_text(path)
    if text is None:
        return None
    return list(csv.DictReader(io.StringIO(text)))


def parse_time(text: str) -> int:
    """``2022-08-23 11:59:28.196000455 +0000 UTC m=+0.17`` -> epoch ms (UTC, ms truncated)."""
    m = _TIME.match(text)
    if not m:
        raise DatasetError(f"unparseable time {text[:40]!r}")
    base = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    frac = (m.group(2) or "0")[:3].ljust(3, "0")
    return int(base.timestamp()) * 1000 + int(frac)


def days(raw: Path) -> list[str]:
    root = raw / "rca_data"
    if not root.is_dir():
        raise DatasetError(f"{raw}: no rca_data/ (not the Nezha layout)")
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}-fault_list.json").exists())


def faults(raw: Path, day: str) -> list[Fault]:
    body: dict[str, list[dict[str, Any]]] = json.loads(
        (raw / "rca_data" / day / f"{day}-fault_list.json").read_text(encoding="utf-8")
    )
    out = [
        Fault(
            day, parse_time(f["inject_time"]), f["inject_time"], f["inject_pod"], f["inject_type"]
        )
        for hour in body.values()
        for f in hour
    ]
    return sorted(out, key=lambda f: f.inject_ms)


def pod_metrics(raw: Path, day: str) -> dict[str, list[Row]]:
    """Per-pod rows (by ``PodName``), time-ordered."""
    mdir = raw / "rca_data" / day / "metric"
    out: dict[str, list[Row]] = {}
    for f in sorted(mdir.glob("*_metric.csv*")):
        rows = read_csv(f.with_name(f.name.removesuffix(".gz"))) or []
        for r in rows:
            out.setdefault(r["PodName"], []).append(Row(parse_time(r["Time"]), r))
    for rows_ in out.values():
        rows_.sort(key=lambda r: r.ts_ms)
    return out


def front_service(raw: Path, day: str) -> list[Row]:
    rows = read_csv(raw / "rca_data" / day / "metric" / "front_service.csv") or []
    return sorted((Row(parse_time(r["Time"]), r) for r in rows), key=lambda r: r.ts_ms)


def trace_minute(raw: Path, day: str, minute: str) -> list[SpanRow] | None:
    rows = read_csv(raw / "rca_data" / day / "trace" / f"{minute}_trace.csv")
    if rows is None:
        return None
    return [
        SpanRow(
            trace_id=r["TraceID"].lower(),
            span_id=r["SpanID"].lower(),
            parent_id=r["ParentID"].lower(),
            pod=r["PodName"],
            name=r["OperationName"],
            start_ns=int(r["StartTimeUnixNano"]),
            end_ns=int(r["EndTimeUnixNano"]),
        )
        for r in rows
    ]


def root_cause_labels(raw: Path) -> dict[str, dict[str, str]]:
    path = raw / "construct_data" / "root_cause_hipster.json"
    if not path.exists():
        return {}
    body: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return body
