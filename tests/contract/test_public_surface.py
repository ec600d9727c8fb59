"""Pins the public surface by shape: the OpenAPI document and the ``--help`` text of every CLI
command and subcommand (the httpx ``test_exported_members`` idea).

Behaviour tests elsewhere check what the surface does; these catch a path, field, command or
flag that disappears or changes by accident (e.g. during a module move). Regenerate after an
intended change with ``CORRELATOR_UPDATE_GOLDEN=1 pytest tests/contract`` and review the diff
like code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from correlator.api import create_app
from correlator.cli import build_parser
from correlator.settings import Settings

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CORRELATOR_UPDATE_GOLDEN") == "1"


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden {path}; run with CORRELATOR_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed"


def _walk(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, str]]:
    """(command path, help text) for ``parser`` and every subparser below it."""
    yield name, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")


def _helps() -> dict[str, str]:
    return dict(_walk(build_parser(), "correlator"))


def test_openapi_document_is_unchanged(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    doc = create_app(settings).openapi()
    _check(GOLDEN / "openapi.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("command", sorted(_helps()))
def test_cli_help_is_unchanged(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps at the terminal width
    text = _helps()[command]
    _check(GOLDEN / "cli" / (command.replace(" ", "_") + ".txt"), text)


def test_every_cli_golden_has_a_command() -> None:
    """A removed command leaves its golden behind: fail instead of silently skipping it."""
    expected = {c.replace(" ", "_") + ".txt" for c in _helps()}
    present = {p.name for p in (GOLDEN / "cli").glob("*.txt")}
    assert present == expected


def test_python_dash_m_correlator_cli_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "correlator.cli", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("correlator ")
