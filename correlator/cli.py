"""``correlator`` command line. The only module that prints or knows about terminals."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from correlator import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="correlator", description=__doc__)
    parser.add_argument("--config", help="YAML settings file (env CORRELATOR_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"correlator {__version__}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
