"""A suspect change's diff: what a Git provider's compare API returned, and the evidence kept.

``Compare`` is the provider-neutral result a ``ports.ChangeSource`` returns (GitHub
``GET /repos/{owner}/{repo}/compare/{base}...{head}``, GitLab
``GET /projects/:id/repository/compare``). ``ChangeDiff`` is what the evidence chain keeps of it
for one change: bounded, redacted, with the hunks most related to the failure first.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class FileStatus(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    REMOVED = "removed"
    RENAMED = "renamed"
    OTHER = "other"


class CompareCommit(BaseModel):
    sha: str
    message: str = Field(default="", description="first line of the commit message")
    author: str | None = None


class CompareFile(BaseModel):
    path: str
    previous_path: str | None = None
    status: FileStatus = FileStatus.MODIFIED
    additions: int = 0
    deletions: int = 0
    patch: str | None = Field(
        default=None, description="unified-diff hunks (no file header); None for binary/too large"
    )


class Compare(BaseModel):
    """A compare result as a ``ChangeSource`` returns it (wire shapes already mapped)."""

    provider: str
    repo: str
    base: str
    head: str
    url: str | None = Field(default=None, description="compare web view on the configured host")
    commits: list[CompareCommit] = Field(default_factory=list)
    total_commits: int = 0
    files: list[CompareFile] = Field(default_factory=list)
    files_truncated: bool = Field(
        default=False, description="the provider's file limit was hit (GitHub: 300 files)"
    )


class DiffHunk(BaseModel):
    """One hunk of a changed file, with why it was judged related to the failure."""

    path: str
    header: str = Field(description="the @@ line, e.g. '@@ -40,6 +40,18 @@ func History'")
    new_start: int = 0
    new_lines: int = 0
    added: int = 0
    removed: int = 0
    lines: list[str] = Field(default_factory=list, description="bounded, prefixed ' ', '+', '-'")
    score: float = 0.0
    reasons: list[str] = Field(default_factory=list)
    quote: str = Field(default="", description="the added line that best explains the match")
    quote_line: int | None = Field(default=None, description="new-file line number of quote")


class DiffFileSummary(BaseModel):
    path: str
    status: FileStatus = FileStatus.MODIFIED
    additions: int = 0
    deletions: int = 0
    category: str = Field(default="code", description="code, docs, tests, config, deps")


class ChangeDiff(BaseModel):
    """The compare evidence of one change (envelope id ``diff:<service>:<base>..<head>``)."""

    evidence_id: str
    change_id: str
    service: str
    provider: str
    repo: str
    base: str
    head: str
    url: str | None = None
    commits: list[CompareCommit] = Field(default_factory=list)
    total_commits: int = 0
    files: list[DiffFileSummary] = Field(default_factory=list)
    total_files: int = 0
    files_truncated: bool = False
    hunks: list[DiffHunk] = Field(default_factory=list, description="most related first")
    touches_failing_path: bool = Field(
        default=False, description="a hunk matches the failing span/stack/statement/flag/config"
    )
    docs_or_tests_only: bool = Field(
        default=False, description="every changed file is documentation or tests"
    )

    @property
    def top(self) -> DiffHunk | None:
        return self.hunks[0] if self.hunks else None

    def quote(self) -> str:
        """The top hunk in one line: ``7a3f9c2 orders/history.go +12: SELECT ... FROM orders``
        (head commit, file, new-file line of the quoted added line, the line)."""
        top = self.top
        if top is None:
            return ""
        where = f" +{top.quote_line}" if top.quote_line is not None else ""
        text = f"{self.head[:7]} {top.path}{where}"
        return f"{text}: {top.quote}" if top.quote else text
