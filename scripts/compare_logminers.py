"""Compare log template miners on the real Nezha Online Boutique logs (dev tool, not shipped).

Miners: ``correlator.evidence.logmine`` (the product's) and drain3 (the field's standard), the
latter both as shipped in drain3's ``examples/drain3.ini`` and fed ``logmine.mask``-ed lines.
Figures, per service and total: template count, grouping accuracy (Loghub "GA") and pairwise F1
against a reference labelling, the product's "new template vs baseline" signal computed through
``logmine.mine`` with each miner passed in, CPU time per 10k lines, peak memory, determinism.

    .venv/bin/pip install drain3        # ad hoc: not a dependency of correlator
    .venv/bin/python scripts/compare_logminers.py [--data DIR] [--scenarios DIR] [--json OUT]

Method and results: docs/logmining.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from drain3 import TemplateMiner  # type: ignore[import-untyped]
from drain3.masking import MaskingInstruction  # type: ignore[import-untyped]
from drain3.template_miner_config import TemplateMinerConfig  # type: ignore[import-untyped]

from correlator.evidence import logmine
from correlator.models import LogLine, TimeWindow
from correlator.models.identity import workload_of_pod
from correlator.settings import LokiSettings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "datasets" / "nezha-onlineboutique"

# -- reference labelling: same event <=> equal after masking variable parts -------------------
# JSON lines (most services here) are compared on their message field: masking every quoted
# string of a JSON object would leave only its keys and call all of a service's lines one event.
_REF_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"), "<UUID>"),
    (re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"), "<IP>"),
    (re.compile(r"\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\b"), "<DUR>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b"), "<HEX>"),
    (re.compile(r'"[^"]*"|\'[^\']*\'|\[[^\]]*\]'), "<STR>"),  # and [list] literals
    (re.compile(r"\b[A-Za-z]*\d[A-Za-z0-9]*(?:\.\d+)?\b"), "<NUM>"),  # and ids holding digits
)
_MESSAGE_KEYS = ("message", "msg")


def reference_event(line: str) -> str:
    text = line
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            msg = next((obj[k] for k in _MESSAGE_KEYS if isinstance(obj.get(k), str)), None)
            text = msg if msg is not None else ",".join(obj)
    for pattern, placeholder in _REF_MASKS:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())


# -- the real lines ---------------------------------------------------------------------------


def load_lines(data: Path) -> list[LogLine]:
    """Every application line of the vendored log files (the docker JSON's ``log``, as Loki
    stores it), exact duplicates of overlapping files dropped, in time order."""
    seen: set[tuple[str, str, str]] = set()
    out: list[tuple[int, str, str]] = []
    for path in sorted(data.glob("rca_data/*/log/*_log.csv.gz")):
        with gzip.open(path, "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                key = (row["TimeUnixNano"], row["PodName"], row["Log"])
                if key in seen:
                    continue
                seen.add(key)
                line = str(json.loads(row["Log"])["log"]).rstrip("\n")
                out.append((int(row["TimeUnixNano"]), workload_of_pod(row["PodName"]), line))
    out.sort()
    return [
        LogLine(
            timestamp=datetime.fromtimestamp(ns / 1e9, tz=UTC),
            line=line,
            service=service,
            labels={"service_name": service},
        )
        for ns, service, line in out
    ]


# -- miners, all behind logmine.Miner so that logmine.mine() runs unchanged -------------------


class TrackedLogmine(logmine.Miner):
    """The product miner, remembering the cluster each line joined (None: bound reached)."""

    def __init__(self) -> None:
        super().__init__()
        self.assigned: list[Any] = []
        self._last: Any = None

    def _match(self, shape: tuple[int, str], tokens: list[str]) -> Any:
        self._last = super()._match(shape, tokens)
        return self._last

    def add(self, line: LogLine, *, baseline: bool) -> None:
        self._last, n = None, len(self.clusters)
        super().add(line, baseline=baseline)
        if self._last is None and len(self.clusters) > n:
            self._last = self.clusters[-1]
        self.assigned.append(self._last)


# drain3's examples/drain3.ini (github.com/logpai/Drain3, MIT): its recommended masking
_DRAIN3_MASKS = (
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
)


def _drain3_config(masking: bool) -> TemplateMinerConfig:
    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    cfg.drain_sim_th, cfg.drain_depth = 0.4, 4
    cfg.drain_max_children, cfg.drain_max_clusters = 100, 1024
    cfg.drain_extra_delimiters = ["_"]
    cfg.mask_prefix, cfg.mask_suffix = "<:", ":>"
    cfg.masking_instructions = (
        [MaskingInstruction(p, m) for p, m in _DRAIN3_MASKS] if masking else []
    )
    return cfg


class Drain3Miner(TrackedLogmine):
    """drain3 ``TemplateMiner`` (in-memory, no persistence) behind the ``Miner`` interface."""

    def __init__(self, *, premask: bool) -> None:
        super().__init__()
        self.premask = premask
        self.tm = TemplateMiner(config=_drain3_config(masking=not premask))
        self._by_id: dict[int, Any] = {}

    def add(self, line: LogLine, *, baseline: bool) -> None:
        text = logmine.mask(line.line) if self.premask else line.line[: logmine.MAX_LINE]
        res = self.tm.add_log_message(text)
        tokens = str(res["template_mined"]).split(" ")
        cluster = self._by_id.get(res["cluster_id"])
        if cluster is None:
            cluster = logmine._Cluster(tokens=tokens, level=logmine.line_level(line))
            self._by_id[res["cluster_id"]] = cluster
            self.clusters.append(cluster)
        cluster.tokens = tokens
        self.assigned.append(cluster)
        if baseline:
            cluster.baseline_count += 1
        else:
            cluster.count += 1
            if len(cluster.samples) < self.max_samples:
                cluster.samples.append(line.line[: logmine.MAX_SAMPLE])


MINERS: dict[str, Callable[[], TrackedLogmine]] = {
    "logmine": TrackedLogmine,
    "drain3": lambda: Drain3Miner(premask=False),
    "drain3+mask": lambda: Drain3Miner(premask=True),
}


# -- grouping against the reference -----------------------------------------------------------


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def grouping(pred: Sequence[object], ref: Sequence[str]) -> tuple[float, float]:
    """(grouping accuracy, pairwise F1); ``pred`` None entries (bound reached) are singletons."""
    labels = [p if p is not None else ("none", i) for i, p in enumerate(pred)]
    by_pred: dict[object, set[int]] = defaultdict(set)
    by_ref: dict[str, set[int]] = defaultdict(set)
    for i, (p, r) in enumerate(zip(labels, ref, strict=True)):
        by_pred[id(p) if not isinstance(p, tuple) else p].add(i)
        by_ref[r].add(i)
    pred_of = {i: frozenset(s) for s in by_pred.values() for i in s}
    ga = sum(1 for i, r in enumerate(ref) if pred_of[i] == by_ref[r]) / len(ref)
    cells = Counter((min(pred_of[i]), r) for i, r in enumerate(ref))
    tp = sum(_pairs(n) for n in cells.values())
    pp = sum(_pairs(len(s)) for s in by_pred.values())
    rp = sum(_pairs(len(s)) for s in by_ref.values())
    prec = tp / pp if pp else 1.0
    rec = tp / rp if rp else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return ga, f1


def run_miner(name: str, lines: Sequence[LogLine]) -> TrackedLogmine:
    miner = MINERS[name]()
    for line in lines:
        miner.add(line, baseline=False)
    return miner


def by_service(lines: Iterable[LogLine]) -> dict[str, list[LogLine]]:
    out: dict[str, list[LogLine]] = defaultdict(list)
    for line in lines:
        out[line.service or "?"].append(line)
    return dict(sorted(out.items()))


def grouping_table(services: dict[str, list[LogLine]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for service, lines in [*services.items(), ("TOTAL", [])]:
        row: dict[str, Any] = {"service": service}
        if service == "TOTAL":
            n = sum(r["lines"] for r in rows)
            row["lines"] = n
            row["ref"] = sum(r["ref"] for r in rows)
            for name in MINERS:
                row[f"{name}.templates"] = sum(r[f"{name}.templates"] for r in rows)
                for k in ("ga", "f1"):  # line-weighted over services
                    row[f"{name}.{k}"] = sum(r[f"{name}.{k}"] * r["lines"] for r in rows) / n
            rows.append(row)
            break
        ref = [reference_event(x.line) for x in lines]
        row["lines"], row["ref"] = len(lines), len(set(ref))
        for name in MINERS:
            miner = run_miner(name, lines)
            row[f"{name}.templates"] = len(miner.clusters)
            row[f"{name}.ga"], row[f"{name}.f1"] = grouping(miner.assigned, ref)
        rows.append(row)
    return rows


# -- the product signal: new templates vs baseline, through logmine.mine -----------------------


def novelty(
    name: str, now: Sequence[LogLine], base: Sequence[LogLine], truth: str
) -> dict[str, Any]:
    """Per service: templates flagged new by ``logmine.mine`` with this miner, split into true
    (holding a reference event absent from the baseline) and false novelties, and reference
    events new in ``now`` that no new template holds (missed)."""
    now_s, base_s = by_service(now), by_service(base)
    out: dict[str, Any] = {"services": {}}
    for service in sorted(set(now_s) | set(base_s)):
        lines, blines = now_s.get(service, []), base_s.get(service, [])
        if not lines:
            continue
        miner = MINERS[name]()
        win = TimeWindow(start=lines[0].timestamp, end=lines[-1].timestamp + timedelta(seconds=1))
        mined = logmine.mine(
            evidence_id=f"patterns:{service}",
            service=service,
            lines=lines,
            baseline_lines=blines,
            window=win,
            baseline=win.shift(-(win.end - win.start)),
            max_patterns=100_000,
            miner=miner,
        )
        flagged = sum(1 for p in mined.patterns if p.is_new)
        base_ref = {reference_event(x.line) for x in blines}
        now_assigned = miner.assigned[len(blines) :]
        events_of: dict[int, set[str]] = defaultdict(set)
        for cluster, line in zip(now_assigned, lines, strict=True):
            if cluster is not None:
                events_of[id(cluster)].add(reference_event(line.line))
        new_clusters = [c for c in miner.clusters if c.baseline_count == 0 and c.count > 0]
        assert len(new_clusters) == flagged, (name, service)  # same rule as mine()
        true_new = sum(1 for c in new_clusters if events_of[id(c)] - base_ref)
        ref_new = {reference_event(x.line) for x in lines} - base_ref
        held = {e for c in new_clusters for e in events_of[id(c)]}
        out["services"][service] = {
            "truth": service == truth,
            "flagged": flagged,
            "true": true_new,
            "false": flagged - true_new,
            "ref_new": len(ref_new),
            "missed": len(ref_new - held),
        }
    svc = out["services"]
    out["truth_found"] = bool(svc.get(truth, {}).get("true"))
    out["false_innocent"] = sum(v["false"] for k, v in svc.items() if k != truth)
    out["flagged_innocent"] = sum(v["flagged"] for k, v in svc.items() if k != truth)
    out["false_total"] = sum(v["false"] for v in svc.values())
    out["missed_total"] = sum(v["missed"] for v in svc.values())
    return out


def splits(
    lines: Sequence[LogLine], data: Path
) -> list[tuple[str, list[LogLine], list[LogLine], str]]:
    """(name, baseline, now, truth service) built from the cases that have log minutes."""
    cases = [c for c in json.loads((data / "cases.json").read_text())["cases"] if c["log_minutes"]]
    out: list[tuple[str, list[LogLine], list[LogLine], str]] = []
    per_case: list[tuple[str, list[LogLine], str]] = []
    for c in cases:
        day = c["date"]
        mine = [x for x in lines if x.timestamp.strftime("%Y-%m-%d") == day]
        truth = workload_of_pod(c["inject_pod"])
        label = f"{day} {c['inject_time'][11:16]} {truth} {c['inject_type']}"
        per_case.append((label, mine, truth))
        half = len(mine) // 2
        out.append((f"{label}: first half vs second half", mine[:half], mine[half:], truth))
    if len(per_case) == 2:
        (la, a, _), (lb, b, tb) = per_case
        out.append((f"{la} (baseline) vs {lb}", a, b, tb))
    return out


def product_path(lines: Sequence[LogLine], scenarios: Path | None) -> dict[str, Any]:
    """What the product would mine here: its Loki query keeps only error-filter lines."""
    flt = LokiSettings().error_filter
    m = re.search(r'"(.*)"', flt)
    rx = re.compile(m.group(1).replace("(?i)", ""), re.I) if m else None
    kept = sum(1 for x in lines if rx and rx.search(x.line))
    out: dict[str, Any] = {"error_filter": flt, "lines": len(lines), "matching": kept}
    if scenarios is not None and scenarios.is_dir():
        dirs = [d for d in sorted(scenarios.iterdir()) if (d / "scenario.yaml").is_file()]
        out["scenarios"] = len(dirs)
        out["scenarios_with_logs"] = sum(1 for d in dirs if (d / "logs.json").is_file())
    return out


# -- cost and determinism ---------------------------------------------------------------------


def cost(name: str, services: dict[str, list[LogLine]], repeat: int = 3) -> dict[str, float]:
    n = sum(len(v) for v in services.values())
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for lines in services.values():
            run_miner(name, lines)
        best = min(best, time.process_time() - t0)
    tracemalloc.start()
    kept = [run_miner(name, lines) for lines in services.values()]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del kept
    return {"cpu_s_per_10k": best * 10_000 / n, "peak_mib": peak / 2**20}


def fingerprint(name: str, services: dict[str, list[LogLine]]) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    for service, lines in services.items():
        miner = run_miner(name, lines)
        out += [(service, c.template, c.count) for c in miner.clusters]
    return out


def determinism(name: str, services: dict[str, list[LogLine]]) -> dict[str, Any]:
    a, b = fingerprint(name, services), fingerprint(name, services)
    rev = fingerprint(name, {k: v[::-1] for k, v in services.items()})
    return {
        "same_order_identical": a == b,
        "templates": len(a),
        "templates_reversed": len(rev),
        "reversed_identical": sorted(a) == sorted(rev),
    }


# -- report -----------------------------------------------------------------------------------


def _md_grouping(rows: list[dict[str, Any]]) -> str:
    head = "| service | lines | ref events |" + "".join(
        f" {n} templates | {n} GA | {n} F1 |" for n in MINERS
    )
    sep = "|---|---:|---:|" + "---:|---:|---:|" * len(MINERS)
    body = [
        f"| {r['service']} | {r['lines']} | {r['ref']} |"
        + "".join(
            f" {r[f'{n}.templates']} | {r[f'{n}.ga']:.3f} | {r[f'{n}.f1']:.3f} |" for n in MINERS
        )
        for r in rows
    ]
    return "\n".join([head, sep, *body])


def _md_novelty(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| split | miner | truth service: true new | innocent: flagged new (false) "
        "| all: false / missed |",
        "|---|---|---|---:|---:|",
    ]
    for split, per in results.items():
        for name, r in per.items():
            lines.append(
                f"| {split} | {name} | {'yes' if r['truth_found'] else 'no'} "
                f"| {r['flagged_innocent']} ({r['false_innocent']}) "
                f"| {r['false_total']} / {r['missed_total']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--scenarios", type=Path, help="dir written by `correlator dataset import`")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args(argv)
    lines = load_lines(args.data)
    services = by_service(lines)
    report: dict[str, Any] = {"lines": len(lines)}
    report["product_path"] = product_path(lines, args.scenarios)
    report["grouping"] = grouping_table(services)
    report["novelty"] = {
        label: {name: novelty(name, now, base, truth) for name in MINERS}
        for label, base, now, truth in splits(lines, args.data)
    }
    report["cost"] = {name: cost(name, services) for name in MINERS}
    report["determinism"] = {name: determinism(name, services) for name in MINERS}
    print(f"{len(lines)} lines, {len(services)} services; product path: {report['product_path']}")
    print("\n## Grouping vs reference\n")
    print(_md_grouping(report["grouping"]))
    print("\n## New templates vs baseline (logmine.mine with each miner)\n")
    print(_md_novelty(report["novelty"]))
    print("\n## Cost and determinism\n")
    print("| miner | CPU s / 10k lines | peak MiB | same order identical | reversed: templates |")
    print("|---|---:|---:|---|---|")
    for name in MINERS:
        c, d = report["cost"][name], report["determinism"][name]
        print(
            f"| {name} | {c['cpu_s_per_10k']:.3f} | {c['peak_mib']:.1f} "
            f"| {'yes' if d['same_order_identical'] else 'NO'} "
            f"| {d['templates']} -> {d['templates_reversed']}"
            f"{'' if d['reversed_identical'] else ' (differs)'} |"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
