"""Unified-diff hunks (the ``patch`` of a GitHub file, the ``diff`` of a GitLab one) and what
kind of file a path is. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_HEADER_PREFIXES = ("diff --git ", "index ", "--- ", "+++ ", "new file mode", "deleted file mode")

DOC_SUFFIXES = (".md", ".rst", ".adoc", ".txt", ".markdown")
DOC_DIRS = ("docs", "doc", "documentation")
DOC_NAMES = ("readme", "changelog", "license", "contributing", "authors", "notice")
TEST_DIRS = ("test", "tests", "__tests__", "spec", "testdata", "e2e")
TEST_NAME = re.compile(r"(^test_.*\.py$|_test\.(go|py)$|\.(spec|test)\.[jt]sx?$|Test\.(java|kt)$)")
DEP_NAMES = (
    "go.mod",
    "go.sum",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "pipfile",
    "pipfile.lock",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "cargo.toml",
    "cargo.lock",
    "gemfile",
    "gemfile.lock",
    "composer.json",
    "composer.lock",
)
DEP_NAME = re.compile(r"^requirements.*\.(txt|in)$|\.csproj$|^packages\.config$")
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml", ".ini", ".conf", ".cfg", ".properties", ".env")
CONFIG_DIRS = ("config", "configs", "deploy", "helm", "k8s", "kustomize", "charts")


@dataclass
class Hunk:
    path: str
    header: str
    new_start: int
    new_lines: int
    lines: list[str] = field(default_factory=list)

    @property
    def added(self) -> list[tuple[int, str]]:
        """(new-file line number, text) of every added line."""
        out: list[tuple[int, str]] = []
        number = self.new_start
        for line in self.lines:
            if line.startswith("+"):
                out.append((number, line[1:]))
                number += 1
            elif not line.startswith("-"):
                number += 1
        return out

    @property
    def changed_text(self) -> str:
        return "\n".join(line[1:] for line in self.lines if line[:1] in "+-")


def parse_patch(path: str, patch: str) -> list[Hunk]:
    """The hunks of one file's patch; file header lines are skipped, text before the first
    ``@@`` is ignored, ``\\ No newline at end of file`` markers are dropped."""
    hunks: list[Hunk] = []
    current: Hunk | None = None
    for line in patch.splitlines():
        m = _HUNK.match(line)
        if m:
            current = Hunk(
                path=path,
                header=line[:200],
                new_start=int(m.group(3)),
                new_lines=int(m.group(4)) if m.group(4) is not None else 1,
            )
            hunks.append(current)
            continue
        if current is None or line.startswith("\\") or line.startswith(_HEADER_PREFIXES):
            continue
        current.lines.append(line if line[:1] in " +-" else " " + line)
    return hunks


def category(path: str) -> str:
    """``docs``, ``tests``, ``deps``, ``config`` or ``code`` (by path conventions only)."""
    p = PurePosixPath(path.lower())
    parts = set(p.parts[:-1])
    name = p.name
    if parts & set(TEST_DIRS) or TEST_NAME.search(PurePosixPath(path).name):
        return "tests"
    if name in DEP_NAMES or DEP_NAME.search(name):
        return "deps"
    if parts & set(DOC_DIRS) or name.endswith(DOC_SUFFIXES) or name.split(".")[0] in DOC_NAMES:
        return "docs"
    if name.endswith(CONFIG_SUFFIXES) or parts & set(CONFIG_DIRS):
        return "config"
    return "code"
