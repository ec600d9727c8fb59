"""The one way correlator renders Jinja2: a sandboxed environment with StrictUndefined.

Prompts (``prompts/``) and notes (``correlator/notes/templates``) both go through
``make_environment``; nothing else constructs a Jinja2 environment, and ``jinja2.Template``
is banned by ruff. Undefined variables raise instead of rendering as "".
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment


def make_environment(*search_path: Path, html: bool = False) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader([str(p) for p in search_path]),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html", "htm", "xml"]) if html else False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def render_string(source: str, **context: object) -> str:
    """Render a short template held as data (e.g. a rules/ remediation template), sandboxed."""
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    return env.from_string(source).render(**context)
