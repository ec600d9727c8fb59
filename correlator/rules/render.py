"""Rendering of rules templates: sandboxed Jinja (``correlator.templating.render_string``) with
every interpolated value escaped for where it lands (a PromQL/LogQL string, a shell word).

PromQL/LogQL string escaping is ``correlator.wire.promql.escape_string``, the one codec that
evidence queries use too (control characters as ``\\xNN``, lone surrogates replaced).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from jinja2 import TemplateError

from correlator.errors import ConfigError
from correlator.templating import render_string
from correlator.wire.promql import escape_string


def shell_word(value: str) -> str:
    """Quote a value so that a rendered command line keeps it as one inert word."""
    return shlex.quote(value)


def _render(template: str, values: Mapping[str, object]) -> str:
    try:
        return render_string(template, **values)
    except TemplateError as exc:
        raise ConfigError(f"template {template[:60]!r}: {exc}") from exc


def render_promql(template: str, values: Mapping[str, str], **raw: str) -> str:
    """Render a PromQL/LogQL template; ``values`` are escaped, ``raw`` (label names) are not."""
    escaped: dict[str, object] = {k: escape_string(v) for k, v in values.items()}
    escaped.update(raw)
    return _render(template, escaped)


def render_command(template: str, values: Mapping[str, str]) -> str:
    """Render a command template with every value shell-quoted (proposal text, never run)."""
    return _render(template, {k: shell_word(v) for k, v in values.items()})
