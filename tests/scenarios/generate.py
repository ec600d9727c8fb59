#!/usr/bin/env python3
"""Regenerate the synthetic scenario corpus (deterministic: seeded RNG, fixed timestamps).

    .venv/bin/python tests/scenarios/generate.py            # rewrite tests/scenarios/<id>/
    .venv/bin/python tests/scenarios/generate.py --out DIR  # write elsewhere (the test compares)
    .venv/bin/python tests/scenarios/generate.py --only checkout-deploy-regression
    .venv/bin/python tests/scenarios/generate.py --out /tmp/v2 --reseed v2   # same incidents,
                                            # other random draws: a robustness check for eval

Each scenario is one declaration in ``_gen/catalog_*.py``; ``_gen/sim.py`` walks requests through
the call graph with the faults active at that time and ``_gen/emit.py`` writes upstream wire
shapes. Format: docs/scenarios.md. Generated files are committed; only synthetic scenarios are
rewritten (recorded ones have no description here and are left alone).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(HERE))
    from _gen.catalog import all_specs
    from _gen.files import build

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--reseed", default="", help="other random draws (use with --out)")
    args = parser.parse_args(argv)
    specs = [s for s in all_specs() if not args.only or s.id in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        root = build(spec, args.out, reseed=args.reseed)
        size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
        print(f"{spec.id}: {size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
