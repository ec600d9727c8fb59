"""THE prompt renderer: every word an LLM sees lives in ``prompts/*.j2``.

Rendered by the one sandboxed ``StrictUndefined`` environment (``correlator.templating``), so a
typo in a template raises instead of rendering as "". Output is capped in length. Two filters
are registered for templates: ``untrusted`` (neutralises look-alikes of the untrusted-data
delimiters inside data) and ``json`` (compact JSON, non-ASCII kept). See prompts/README.md.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from jinja2.sandbox import SandboxedEnvironment

from correlator.templating import make_environment

DEFAULT_PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"  # the top-level prompts/
MAX_PROMPT_CHARS = 400_000
TRUNCATED = "\n[prompt truncated]\n"

# Anything that could be read as our delimiter (<untrusted-data ...>, </untrusted-data>).
_DELIMITER_LOOKALIKE = re.compile(r"<(\s*/?\s*)(untrusted|trusted|system|instructions)", re.I)


def neutralize(value: object) -> str:
    """Make data unable to close or open our untrusted-data block."""
    return _DELIMITER_LOOKALIKE.sub(lambda m: "(" + m.group(1) + m.group(2), str(value))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


@lru_cache(maxsize=8)
def _environment(prompts_dir: Path) -> SandboxedEnvironment:
    env = make_environment(prompts_dir)
    env.filters["untrusted"] = neutralize
    env.filters["json"] = _json
    return env


def render(name: str, /, *, prompts_dir: Path | None = None, **ctx: object) -> str:
    """Render ``prompts_dir/name`` (default: the packaged prompts/) with ``ctx``; output capped
    at ``MAX_PROMPT_CHARS`` (a safety net: the LLM budget keeps prompts far smaller)."""
    env = _environment((prompts_dir or DEFAULT_PROMPTS_DIR).resolve())
    text = env.get_template(name).render(**ctx)
    if len(text) > MAX_PROMPT_CHARS:
        return text[: MAX_PROMPT_CHARS - len(TRUNCATED)] + TRUNCATED
    return text


def template_names(prompts_dir: Path | None = None) -> list[str]:
    """Every renderable prompt (partials ``_*.j2`` excluded)."""
    root = prompts_dir or DEFAULT_PROMPTS_DIR
    return sorted(p.name for p in root.glob("*.j2") if not p.name.startswith("_"))
