"""``correlator --help`` (with the bench command registered) must not import litellm."""

from __future__ import annotations

import subprocess
import sys


def test_help_with_bench_registered_does_not_import_litellm_or_bench_internals() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from correlator.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['--help'])\n"
        "print('bench' in out.getvalue(), 'litellm' in sys.modules,"
        " 'correlator.lab.bench.runner' in sys.modules, 'httpx' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "True False False False"
