"""``correlator dataset import NAME RAW_DIR --out DIR``: public incident datasets as scenarios.

The adapters live in ``correlator.lab.datasets`` (one module per dataset, docs/datasets.md);
this module only parses arguments and prints what was imported and what was skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from correlator.lab.datasets import ADAPTERS

    ds = sub.add_parser("dataset", help="import public incident datasets as scenarios")
    dsub = ds.add_subparsers(dest="dataset_command", required=True, metavar="COMMAND")
    imp = dsub.add_parser("import", help="write one scenario per paging fault of a dataset")
    imp.add_argument("name", choices=sorted(ADAPTERS), help="dataset adapter")
    imp.add_argument("raw", type=Path, help="the dataset's raw directory (its own layout)")
    imp.add_argument("--out", type=Path, required=True, help="directory for the scenarios")
    imp.add_argument("--quiet", action="store_true", help="print only the summary line")
    imp.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    from correlator.lab.datasets import ADAPTERS, DatasetError, write_cases

    adapter = ADAPTERS[args.name]()
    try:
        result = adapter.load(args.raw)
    except (DatasetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_cases(result, args.out)
    if not args.quiet:
        for rule in result.rules:
            print(f"rule {rule.name} (for 1m): {rule.expr}")
        for case in result.cases:
            print(f"case {case.id}")
        for skipped in result.skipped:
            print(f"skipped {skipped.case}: {skipped.reason}")
    never = sum(1 for s in result.skipped if s.reason.startswith("never pages"))
    print(
        f"{result.dataset}: {len(result.cases)} paging cases written to {args.out}, "
        f"{never} faults never page, {len(result.skipped) - never} lack data "
        f"(details: {args.out / 'import-report.json'})"
    )
    return 0 if result.cases else 1
