"""``correlator rules check [DIR]``: validate a rules directory, errors as file:line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _rules_dir(args: argparse.Namespace) -> Path | None:
    """DIR when given, else the configured ``rules_dir`` (env/--config), else None on error."""
    if args.directory:
        return Path(args.directory)
    from pydantic import ValidationError

    from correlator.settings import load_settings

    try:
        return load_settings(getattr(args, "config", None)).rules_dir
    except (ValidationError, FileNotFoundError) as exc:
        print(f"cannot read settings: {exc}", file=sys.stderr)
        return None


def _check(args: argparse.Namespace) -> int:
    from correlator.rules import check_directory

    directory = _rules_dir(args)
    if directory is None:
        return 1
    ruleset, problems = check_directory(directory)
    for problem in problems:
        print(str(problem), file=sys.stderr)
    if ruleset is None:
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(
        f"ok: {len(ruleset.sources)} file(s), {len(ruleset.rules)} rule(s), "
        f"{len(ruleset.metrics)} metric template(s)"
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("rules", help="correlation rules (rules/*.yaml)")
    rules_sub = parser.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    check = rules_sub.add_parser("check", help="validate a rules directory (exit 1 on errors)")
    check.add_argument(
        "directory", nargs="?", default=None, help="rules directory (default: settings rules_dir)"
    )
    check.set_defaults(func=_check)
