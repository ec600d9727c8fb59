"""``correlator accuracy [--since 30d] [--json]``: the track record from stored verdicts.

Per alert rule and per predicted fault type: how many investigations have a verdict in force
and how many of those people confirmed ``correct`` (``partly`` and ``wrong`` beside). Reads the
database at ``CORRELATOR_DATABASE_URL``; the same figures as ``GET /api/v1/accuracy``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta

from correlator.models import AccuracyRow, AccuracyTable, parse_duration


def _since(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("accuracy", help="track record: verdicts confirmed per alert and fault type")
    p.add_argument("--since", type=_since, default=None, help="only verdicts given in the last 30d")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=_accuracy)


def _pct(row: AccuracyRow) -> str:
    return "-" if row.ratio is None else f"{row.ratio * 100:.0f}%"


def render_table(table: AccuracyTable) -> str:
    """Plain-text table (fixed-width columns), overall line last."""
    lines: list[str] = []
    header = f"{'':<40} {'confirmed':>9} {'partly':>6} {'wrong':>5} {'total':>5} {'share':>5}"
    for title, rows in (("alert rule", table.by_alertname), ("fault type", table.by_fault_type)):
        lines.append(f"{title:<40}" + header[40:])
        for r in rows:
            name = r.key if len(r.key) <= 40 else r.key[:39] + "…"
            lines.append(
                f"{name:<40} {r.confirmed:>9} {r.partly:>6} {r.wrong:>5} {r.total:>5} {_pct(r):>5}"
            )
        if not rows:
            lines.append("  (no verdicts)")
        lines.append("")
    o = table.overall
    lines.append(f"overall: {o.confirmed} of {o.total} confirmed ({_pct(o)})")
    return "\n".join(lines) + "\n"


def _accuracy(args: argparse.Namespace) -> int:
    from correlator.settings import load_settings
    from correlator.store import SqlStore

    settings = load_settings(args.config)
    since = (
        datetime.now(UTC) - timedelta(seconds=parse_duration(args.since)) if args.since else None
    )

    async def run() -> AccuracyTable:
        store = SqlStore(settings.database_url)
        try:
            await store.create_schema()
            return await store.accuracy(since=since)
        finally:
            await store.close()

    table = asyncio.run(run())
    if args.json:
        sys.stdout.write(table.model_dump_json(indent=2) + "\n")
    else:
        scope = f"since {since:%Y-%m-%d %H:%M} UTC" if since else "all retained history"
        sys.stdout.write(f"track record ({scope}):\n\n" + render_table(table))
    return 0
