"""The one way correlator renders Jinja2: a sandboxed environment with StrictUndefined.

Prompts (``prompts/``) and notes (``correlator/notes/templates``) both go through
``make_environment``; nothing else constructs a Jinja2 environment, and ``jinja2.Template``
is banned by ruff. Undefined variables raise instead of rendering as "".
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

if TYPE_CHECKING:
    from jinja2 import Template  # noqa: TID251 - the type only, inside the one templating home


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


@functools.lru_cache(maxsize=1)
def _string_environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@functools.lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    """Compiled once per process: rules render the same few templates for every alert, and
    compiling (not rendering) was most of the rules' CPU in an alert storm."""
    return _string_environment().from_string(source)


def render_string(source: str, **context: object) -> str:
    """Render a short template held as data (e.g. a rules/ remediation template), sandboxed."""
    return _compiled(source).render(**context)
