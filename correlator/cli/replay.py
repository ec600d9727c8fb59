"""``correlator replay`` (past alerts, JSONL, scenarios -> report) and ``correlator record``.

The progress bar (stderr) lives here; ``correlator.lab.replay`` only reports ``Progress`` values.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from correlator.lab.replay.runner import Progress
    from correlator.lab.replay.sources import WorkItem
    from correlator.lab.scenarios import Truth
    from correlator.settings import Settings

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str, *, now: datetime | None = None) -> datetime:
    """``now``, a duration ago (``90m``, ``2h``, ``7d``), or ISO 8601 (naive = UTC)."""
    ref = now or datetime.now(UTC)
    if value == "now":
        return ref
    m = _RELATIVE.match(value)
    if m:
        return ref - timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2)])
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time: {value!r} (ISO 8601, 2h, now)") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("replay", help="investigate past alerts offline and write a report")
    src = rp.add_mutually_exclusive_group(required=True)
    src.add_argument("--since", type=parse_when, help="ALERTS history from (ISO 8601 or 2h, 7d)")
    src.add_argument("--jsonl", type=Path, help="file of saved webhook bodies, one per line")
    src.add_argument("--scenarios", type=Path, help="a scenario directory or a directory of them")
    rp.add_argument("--until", type=parse_when, default=None, help="history up to (default now)")
    rp.add_argument("--alertname", default=None, help="only this alertname (with --since)")
    rp.add_argument("--match", action="append", default=[], metavar="K=V", help="label filter")
    rp.add_argument("-j", "--jobs", type=int, default=2, help="investigations in parallel")
    rp.add_argument("--out", type=Path, default=Path("replay-out"), help="output directory")
    rp.add_argument(
        "--truth",
        type=Path,
        default=None,
        help="fingerprint -> root cause (YAML), or 'feedback': the verdicts stored in the database",
    )
    rp.add_argument("--notify", action="store_true", help="post notes to configured channels")
    rp.add_argument("--timeout", type=float, default=30.0, help="Prometheus history read timeout")
    rp.add_argument("--retries", type=int, default=3, help="Prometheus history read retries")
    rp.set_defaults(func=_replay)

    rec = sub.add_parser("record", help="write a live incident's evidence as a scenario directory")
    rec.add_argument("alert", type=Path, help="Alertmanager webhook body (JSON)")
    rec.add_argument("--out", type=Path, required=True, help="scenario directory to create")
    rec.add_argument("--no-redact", action="store_true", help="write secrets as found")
    rec.add_argument("--title", default=None)
    rec.set_defaults(func=_record)


class ProgressBar:
    """``[####------] 3/10 skipped 2  12s elapsed  ETA 28s`` on stderr."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.tty = stream.isatty()

    def __call__(self, p: Progress) -> None:
        if p.done == 0:
            if p.skipped:
                self.stream.write(f"resume: {p.skipped} already done, {p.total} to go\n")
                self.stream.flush()
            return
        filled = round(self.width * p.done / p.total)
        eta = p.elapsed / p.done * (p.total - p.done) if p.done else None
        text = (
            f"[{'#' * filled}{'-' * (self.width - filled)}] {p.done}/{p.total}"
            f"{f'  skipped {p.skipped}' if p.skipped else ''}  {p.elapsed:.0f}s elapsed"
            f"  ETA {'?' if eta is None else f'{eta:.0f}s'}"
        )
        if p.row is not None and p.row.error:
            text += f"  (error: {p.row.key})"
        if self.tty:
            end = "\n" if p.done == p.total else ""
            self.stream.write("\r" + text + end)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


async def _items(args: argparse.Namespace, settings: Settings) -> list[WorkItem]:
    from correlator.lab.replay.alerts import HistoryQuery, fetch_history, parse_matchers
    from correlator.lab.replay.sources import jsonl_items, scenario_items

    if args.jsonl is not None:
        return jsonl_items(args.jsonl)
    if args.scenarios is not None:
        return scenario_items(args.scenarios)
    until = args.until or datetime.now(UTC)
    q = HistoryQuery(args.since, until, args.alertname, parse_matchers(args.match))
    return await fetch_history(
        settings.prometheus, q, request_timeout=args.timeout, retries=args.retries
    )


def _replay(args: argparse.Namespace) -> int:
    import asyncio

    from correlator.lab.replay.alerts import HistoryError
    from correlator.lab.replay.report import TruthError, build_report, write_report
    from correlator.lab.replay.runner import run_replay
    from correlator.lab.replay.sources import SourceError
    from correlator.settings import load_settings

    settings = load_settings(args.config)

    async def main() -> int:
        truth = await _truth(args.truth, settings)
        items = await _items(args, settings)
        print(f"replay: {len(items)} alerts from {_source_name(args)}", file=sys.stderr)
        rows = await run_replay(
            items,
            settings,
            args.out,
            concurrency=args.jobs,
            notify=args.notify,
            on_progress=ProgressBar(sys.stderr),
        )
        report = build_report(rows, truth)
        js, md = write_report(report, args.out)
        _print_summary(report, js, md)
        return 0

    try:
        return asyncio.run(main())
    except (HistoryError, SourceError, TruthError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _truth(path: Path | None, settings: Settings) -> dict[str, Truth] | None:
    """``--truth FILE``, or ``--truth feedback`` (``./feedback`` names a file of that name)."""
    from correlator.lab.replay.feedback_truth import load_feedback_truth
    from correlator.lab.replay.report import load_truth_map

    if path is None:
        return None
    if str(path) != "feedback":
        return load_truth_map(path)
    found = await load_feedback_truth(settings)
    print(
        f"truth: {found.used} verdicts from the database"
        + (f" ({found.skipped} without a stated cause, left out)" if found.skipped else ""),
        file=sys.stderr,
    )
    return found.truth


def _source_name(args: argparse.Namespace) -> str:
    if args.jsonl is not None:
        return str(args.jsonl)
    if args.scenarios is not None:
        return str(args.scenarios)
    return "prometheus ALERTS"


def _print_summary(report: object, js: Path, md: Path) -> None:
    from correlator.lab.replay.report import ReplayReport, render_markdown

    assert isinstance(report, ReplayReport)
    print(render_markdown(report), end="")
    print(f"\nwrote {md} and {js}")


def _record(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from correlator.lab.replay.record import RecordError, record_scenario
    from correlator.settings import load_settings

    settings = load_settings(args.config)
    try:
        body = json.loads(args.alert.read_text(encoding="utf-8"))
        result = asyncio.run(
            record_scenario(body, settings, args.out, redact=not args.no_redact, title=args.title)
        )
    except (RecordError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.describe())
    return 0
