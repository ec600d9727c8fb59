"""``correlator bench``: the benchmark harness (``correlator.lab.bench``, docs/benchmarks.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

FIGURES = ("ingest", "first_note", "llm_vs_naive", "storm", "replay", "startup", "memory")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench", help="measure ingest, first note, LLM vs naive, storms, start-up, memory recall"
    )
    p.add_argument("--quick", action="store_true", help="1 run, tiny sizes (CI smoke)")
    p.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"), help="Markdown file")
    p.add_argument("--json", type=Path, default=Path("docs/benchmarks.json"), help="JSON file")
    p.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    p.add_argument(
        "--only", action="append", choices=FIGURES, default=None, help="run only this figure"
    )
    p.add_argument("--all-scenarios", action="store_true", help="first note on every scenario")
    p.add_argument(
        "--storm-worker-processes",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the storm figure (default 1)",
    )
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    from correlator.cli.scenarios import scenarios_dir
    from correlator.lab.bench.plan import BenchPlan
    from correlator.lab.bench.report import write_outputs
    from correlator.lab.bench.runner import run_bench
    from correlator.lab.scenarios import discover

    plan = BenchPlan.quick() if args.quick else BenchPlan()
    changes: dict[str, object] = {}
    if args.runs is not None:
        changes["runs"] = max(1, args.runs)
    if args.only:
        changes["only"] = tuple(args.only)
    if args.storm_worker_processes is not None:
        changes["storm_worker_processes"] = max(1, args.storm_worker_processes)
    if args.all_scenarios:
        changes["first_note_scenarios"] = tuple(p.name for p in discover(scenarios_dir()))
    plan = dataclasses.replace(plan, **changes)  # type: ignore[arg-type]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    doc = run_bench(plan, scenarios_dir(), log=log)
    write_outputs(doc, args.out, args.json)
    print(f"wrote {args.out} and {args.json} ({doc['duration_s']} s)")
    failed = [k for k, v in doc["figures"].items() if "error" in v]
    for name in failed:
        print(f"figure {name} failed: {doc['figures'][name]['error']}", file=sys.stderr)
    return 1 if failed else 0
