"""litellm costs 2-3 s and ~165 MB at import: only an actual LLM call may import it."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> str:
    probe = f"{code}\nimport sys\nprint('litellm' in sys.modules, 'openai' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def test_importing_the_llm_package_does_not_import_litellm() -> None:
    assert (
        _modules_after("import correlator.llm, correlator.lab.fakes.openai_server") == "False False"
    )


def test_cli_help_does_not_import_litellm() -> None:
    code = (
        "import contextlib, io\n"
        "from correlator.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])"
    )
    assert _modules_after(code) == "False False"
