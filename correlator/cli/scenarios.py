"""``correlator simulate``, ``correlator eval`` and ``correlator demo`` (scenario commands).

The simulator is a TEST AND DEMO DOUBLE of Tempo/Loki/Grafana (PromQL goes to a real
Prometheus it starts): see ``correlator.lab.simulator`` and docs/scenarios.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from correlator.lab.evaluate import Report
    from correlator.lab.reference import Comparison

DEMO_SCENARIO = "checkout-deploy-regression"
DEFAULT_SCENARIOS = Path("tests") / "scenarios"


def scenarios_dir() -> Path:
    """Env ``CORRELATOR_SCENARIOS``, else ``./tests/scenarios`` relative to the working directory.

    Never a path inside the installed package: the scenario corpus lives in the repository, and
    an installed ``correlator`` (``serve`` in particular) must work without it.
    """
    import os

    return Path(os.environ.get("CORRELATOR_SCENARIOS", DEFAULT_SCENARIOS))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("simulate", help="serve a scenario as Tempo/Loki/Grafana/Prometheus")
    sim.add_argument("scenario", type=Path, help="scenario directory")
    sim.add_argument("--port", type=int, default=9095)
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of requests -> 503")
    sim.add_argument("--hang-rate", type=float, default=0.0, help="share of requests that hang")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--no-shift", action="store_true", help="serve the original timestamps")
    sim.set_defaults(func=_simulate)

    ev = sub.add_parser("eval", help="run scenarios through simulator + pipeline, score them")
    ev.add_argument("dir", type=Path, help="a scenario directory or a directory of them")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--min-ac1", type=float, default=None)
    ev.add_argument("--min-ac3", type=float, default=None)
    ev.add_argument("--max-false-accusation", type=float, default=None)
    ev.add_argument("--min-culprit-change", type=float, default=None)
    ev.add_argument("--concurrency", type=int, default=2)
    ev.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="another method's per-case ranks to compare with (Nezha result log, .gz ok)",
    )
    ev.set_defaults(func=_eval)

    demo = sub.add_parser("demo", help="simulator + service on the checkout scenario")
    demo.add_argument("--once", action="store_true", help="exit 0 after printing the note")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--timeout", type=float, default=120.0)
    demo.set_defaults(func=_demo)


def _simulate(args: argparse.Namespace) -> int:
    import threading

    from correlator.lab.simulator.config import SimulatorConfig
    from correlator.lab.simulator.promproc import PrometheusUnavailable
    from correlator.lab.simulator.server import running_simulator

    cfg = SimulatorConfig(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        hang_rate=args.hang_rate,
        seed=args.seed,
        shift=not args.no_shift,
    )
    _sigterm_exits()
    try:
        with running_simulator(args.scenario, cfg, port=args.port) as sim:
            print(f"simulator (test/demo double) for {sim.scenario.id} at {sim.url}")
            print(f"  prometheus (real, backfilled): {sim.prometheus_url}")
            print(f"  alert startsAt (shifted): {sim.scenario.alert_time.isoformat()}")
            print("  Ctrl-C to stop")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("stopping")
    except PrometheusUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _sigterm_exits() -> None:
    """SIGTERM unwinds like Ctrl-C, so the Prometheus child is stopped by its PID."""
    import signal

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _llm_cell(t: dict[str, float]) -> str:
    tokens = f"{t.get('tokens_in', 0):.0f}/{t.get('tokens_out', 0):.0f}"
    return f"  llm {t.get('calls', 0):.0f} calls {tokens} tok {t.get('seconds', 0):.2f}s"


def print_report(report: Report) -> None:
    print(f"{'case':44} {'expected':26} {'ranked (top 3)':40} hit  type  chg  FA   ev   sec")
    for c in report.per_case:
        flags = [
            "-" if c.hit_rank is None else str(c.hit_rank),
            {None: "-", True: "ok", False: "x"}[c.fault_type_hit],
            {None: "-", True: "ok", False: "x"}[c.change_hit],
            {None: "-", True: "x", False: "ok"}[c.false_accusation],
        ]
        expected = ",".join(c.expected) or "(none)"
        ranked = ",".join(c.ranked[:3]) or "(none)"
        print(
            f"{c.id[:44]:44} {expected[:26]:26} {ranked[:40]:40} {flags[0]:4} {flags[1]:5} "
            f"{flags[2]:4} {flags[3]:4} {c.evidence:<4} {c.seconds:5.2f}"
            + (_llm_cell(c.llm) if c.llm else "")
            + (f"  error: {c.error[:60]}" if c.error else "")
        )
    print()
    print(
        f"cases {report.cases}  AC@1 {_fmt(report.ac_at_1)}  AC@3 {_fmt(report.ac_at_3)}  "
        f"Avg@5 {_fmt(report.avg_at_5)}  fault-type {_fmt(report.fault_type_accuracy)}  "
        f"culprit-change {_fmt(report.culprit_change_top1)}  "
        f"false-accusation {_fmt(report.false_accusation_rate)}"
    )
    print(
        f"mean evidence {report.mean_evidence}  mean seconds/case {report.mean_seconds}  "
        f"total {report.total_seconds}s"
    )
    if report.llm_mean is not None:
        m = report.llm_mean
        print(
            f"LLM per case: calls {m.get('calls', 0):.1f}  tokens in {m.get('tokens_in', 0):.0f}"
            f"  out {m.get('tokens_out', 0):.0f}  seconds {m.get('seconds', 0):.2f}"
            f"  cost ${m.get('cost_usd', 0):.4f}"
        )


def print_groups(report: Report) -> None:
    """AC@1/AC@3/fault-type per origin, dataset and fault family (only when there are several)."""
    for title, groups in (
        ("origin", report.by_origin),
        ("dataset", report.by_dataset),
        ("fault family", report.by_fault_family),
    ):
        if len(groups) < 2 and title != "dataset":
            continue
        for name, g in groups.items():
            print(
                f"  {title} {name:24} cases {g.cases:3}  AC@1 {_fmt(g.ac_at_1)}  "
                f"AC@3 {_fmt(g.ac_at_3)}  fault-type {_fmt(g.fault_type_accuracy)}"
            )


def print_comparison(c: Comparison) -> None:
    print(f"\nbeside {c.file} ({c.matched}/{c.cases} cases matched by pod, fault and time)")
    for row in c.per_case:
        ours = "-" if row.ours is None else str(row.ours)
        ref = "-" if row.reference is None else str(row.reference)
        print(f"  {row.id[:56]:56} ours {ours:3} reference {ref:3}")
    print(
        f"  AC@1 ours {_fmt(c.ours_ac_at_1)} reference {_fmt(c.reference_ac_at_1)}  "
        f"AC@3 ours {_fmt(c.ours_ac_at_3)} reference {_fmt(c.reference_ac_at_3)}"
    )


def _eval(args: argparse.Namespace) -> int:
    import asyncio

    from correlator.lab.evaluate import below_thresholds
    from correlator.lab.simulator.harness import run_eval

    report = asyncio.run(run_eval(args.dir, concurrency=args.concurrency))
    body = report.model_dump(mode="json")
    comparison = None
    if args.reference is not None:
        from correlator.lab.reference import compare

        comparison = compare(report.per_case, args.reference)
        body["reference"] = comparison.model_dump(mode="json")
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print_report(report)
        print_groups(report)
        if comparison is not None:
            print_comparison(comparison)
    failures = below_thresholds(
        report,
        min_ac1=args.min_ac1,
        min_ac3=args.min_ac3,
        max_false_accusation=args.max_false_accusation,
        min_culprit_change=args.min_culprit_change,
    )
    for f in failures:
        print(f"threshold failed: {f}", file=sys.stderr)
    return 1 if failures or report.cases == 0 else 0


def _demo(args: argparse.Namespace) -> int:
    from correlator.cli.demo import run_demo

    scenario = scenarios_dir() / DEMO_SCENARIO
    if not scenario.is_dir():
        print(
            f"error: no scenario at {scenario}: run from the repository root or set"
            " CORRELATOR_SCENARIOS to a directory of scenarios",
            file=sys.stderr,
        )
        return 2
    _sigterm_exits()
    return run_demo(scenario, port=args.port, once=args.once, timeout=args.timeout)
