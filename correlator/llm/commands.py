"""Which LLM-proposed commands may be shown as commands (reliability report D7).

A command the model proposes is published only when it matches one of the allowed *shapes*
(``rules/remediation.yaml`` ``llm_command_shapes``: anchored regular expressions such as
``kubectl -n <ns> rollout undo deployment/<name>``) and contains no destructive verb
(``llm_command_deny`` plus the built-in list below), no shell chaining, piping, substitution or
redirection. Anything else is dropped from ``commands`` and kept only as prose in the summary,
marked as not validated. correlator never executes any of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import yaml

from correlator.settings import PACKAGE_ROOT

# Always refused, whatever the shapes say: deletion, wiping, remote code, privilege.
BUILTIN_DENY = (
    r"\brm\s+-[a-z]*[rf]",
    r"\bkubectl\b.*\b(delete|drain|cordon|replace\s+--force|patch)\b",
    r"\bhelm\b.*\b(uninstall|delete)\b",
    r"\b(mkfs|dd|shred|wipefs|fdisk|parted)\b",
    r"\b(drop|truncate)\s+(table|database|schema|index)\b",
    r"\bdelete\s+from\b",
    r"\b(curl|wget)\b",
    r"\b(sudo|su|chmod|chown|shutdown|reboot|halt|poweroff|kill|pkill|killall)\b",
    r"\bterraform\s+destroy\b",
    r"\bgit\s+(push\s+.*--force|reset\s+--hard|clean\s+-[a-z]*f)",
    r"\b(aws|gcloud|az)\b.*\b(delete|terminate|remove|rm)\b",
)
# Shell metacharacters that chain, pipe, substitute or redirect.
_SHELL = re.compile(r"[;&|`<>]|\$\(|\$\{|\n")


@dataclass(frozen=True)
class CommandPolicy:
    shapes: Sequence[str] = ()
    deny: Sequence[str] = ()
    _allow: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _deny: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", tuple(re.compile(s) for s in self.shapes))
        patterns = (*BUILTIN_DENY, *self.deny)
        object.__setattr__(self, "_deny", tuple(re.compile(p, re.I) for p in patterns))

    def verdict(self, command: str) -> str | None:
        """``None`` when the command may be shown as a command, else why not."""
        text = command.strip()
        if any(p.search(text) for p in self._deny):
            return "destructive"
        if _SHELL.search(text):
            return "shell chaining, piping or redirection"
        if not any(p.fullmatch(text) for p in self._allow):
            return "not an allowed command shape"
        return None

    def split(self, commands: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """(allowed commands, [(refused command, reason)])."""
        ok: list[str] = []
        refused: list[tuple[str, str]] = []
        for c in commands:
            why = self.verdict(c)
            if why is None:
                ok.append(c.strip())
            else:
                refused.append((c, why))
        return ok, refused


@lru_cache(maxsize=1)
def default_policy() -> CommandPolicy:
    """The shapes of the packaged ``rules/remediation.yaml`` (tests, ``refine`` without one)."""
    data = yaml.safe_load((PACKAGE_ROOT / "rules" / "remediation.yaml").read_text("utf-8"))
    rem = (data or {}).get("remediation") or {}
    return CommandPolicy(
        shapes=tuple(rem.get("llm_command_shapes") or ()),
        deny=tuple(rem.get("llm_command_deny") or ()),
    )


def as_prose(refused: Sequence[tuple[str, str]]) -> str:
    """What the note says instead of the refused commands (destructive ones are not repeated)."""
    parts = []
    destructive = sum(1 for _, why in refused if why == "destructive")
    if destructive:
        parts.append(f"{destructive} destructive command(s) proposed by the model were removed")
    shown = [f"`{c.strip()[:200]}` ({why})" for c, why in refused if why != "destructive"]
    if shown:
        parts.append("not validated, not a command: " + "; ".join(shown))
    return ". ".join(parts)
