"""``correlator`` command line: the only package that prints or knows about terminals.

Each command group lives in its own module exposing ``register(subparsers)``; a registered
parser sets ``func`` (``Callable[[argparse.Namespace], int]``) via ``set_defaults``.
Heavy imports (litellm, fastapi, uvicorn) happen inside the command functions so that
``correlator --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from correlator import __version__

Command = Callable[[argparse.Namespace], int]


def _version(_: argparse.Namespace) -> int:
    print(f"correlator {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from correlator.cli import commands

    parser = argparse.ArgumentParser(
        prog="correlator",
        description="Alert-to-root-cause: exemplars -> traces -> logs -> deploys -> hypotheses.",
    )
    parser.add_argument("--config", help="YAML settings file (env CORRELATOR_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("version", help="print the version").set_defaults(func=_version)
    for register in commands.REGISTRY:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
