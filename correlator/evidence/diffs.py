"""The suspect changes' diffs: which changes to compare, and the hunks that explain the failure.

For each recent change with a from and a to commit (a recorded deploy takes its from commit
from the version change the traces or ``build_info`` show, when it lacks one) whose service maps
to a repository (``settings.git.repos``, else the spans' ``vcs.repository.url.full`` when the
provider accepts its host), the ``ChangeSource`` compare result is reduced to a bounded
``ChangeDiff``: commits, changed files with their category, and the hunks scored against the
failure's clues (``diffclues``). Docs and test files never count as touching the failing path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from correlator.evidence.diffclues import Clues
from correlator.evidence.unidiff import Hunk, category, parse_patch
from correlator.models import (
    Change,
    ChangeDiff,
    Compare,
    DiffFileSummary,
    DiffHunk,
    TraceEvidence,
)

MAX_HUNKS = 5
MAX_HUNK_LINES = 14
MAX_LINE = 200
MAX_FILES = 40
MAX_COMMITS = 20
MAX_QUOTE = 140
TOUCH_SCORE = 2.0
REPO_ATTRS = ("vcs.repository.url.full", "vcs.repository.url")
INFERRED_SOURCES = {"trace", "metric"}
_SQL_SELECT = re.compile(r"\bSELECT\s+(?!\.\.\.).+?\s+FROM\b", re.I | re.S)


@dataclass(frozen=True)
class Target:
    """One compare to run: the change it explains, its repository and commit range."""

    change: Change
    repo: str
    base: str
    head: str

    @property
    def evidence_id(self) -> str:
        return f"diff:{self.change.service}:{self.base[:12]}..{self.head[:12]}"


def _previous_commit(c: Change, changes: Sequence[Change]) -> str | None:
    """The change's from commit, else the one an inferred change of the same release shows."""
    if c.from_commit:
        return c.from_commit
    head = (c.to_commit or "")[:7]
    for other in sorted(changes, key=lambda o: o.evidence_id):
        if other.source not in INFERRED_SOURCES or other.service != c.service:
            continue
        same = (c.to_version and other.to_version == c.to_version) or (
            head and (other.to_commit or "").startswith(head)
        )
        if same and other.from_commit:
            return other.from_commit
    return None


def repo_from_spans(service: str, traces: Sequence[TraceEvidence]) -> list[str]:
    """Repository URLs the service's own spans declare (resource attributes), sorted."""
    urls: set[str] = set()
    for te in traces:
        for span in te.trace.spans:
            if span.service != service:
                continue
            for key in REPO_ATTRS:
                value = span.resource.attributes.get(key)
                if isinstance(value, str) and value:
                    urls.add(value)
    return sorted(urls)


def targets(
    changes: Sequence[Change],
    repo_of: dict[str, str],
    *,
    onset: datetime,
    preferred: Sequence[str],
    limit: int,
) -> list[Target]:
    """At most ``limit`` compares: services in ``preferred`` first, then closest to onset."""
    rank = {s: i for i, s in enumerate(preferred)}
    found: dict[tuple[str, str, str], Target] = {}
    ordered = sorted(
        changes,
        key=lambda c: (
            rank.get(c.service, len(rank)),
            c.source in INFERRED_SOURCES,
            abs((onset - c.time).total_seconds()),
            c.evidence_id,
        ),
    )
    for c in ordered:
        repo = repo_of.get(c.service)
        base = _previous_commit(c, changes)
        if not repo or not base or not c.to_commit or base == c.to_commit:
            continue
        key = (repo, base, c.to_commit)
        if key not in found:
            found[key] = Target(c, repo, base, c.to_commit)
        if len(found) >= limit:
            break
    return list(found.values())


def _score(hunk: Hunk, kind: str, clues: Clues) -> tuple[float, list[str], set[str]]:
    """Score of one hunk against the clues, the reasons, and the words that matched."""
    if kind in ("docs", "tests"):
        return 0.0, [], set()
    path = hunk.path.lower()
    text = hunk.changed_text.lower()
    header = hunk.header.lower()
    score = 0.0
    reasons: list[str] = []
    words: set[str] = set()
    for clue in clues.paths:
        if path.endswith(clue) or clue.endswith(path):
            score, reasons = score + 3.0, [*reasons, f"failing file {hunk.path}"]
            break
        if clue.rsplit("/", 1)[-1] == path.rsplit("/", 1)[-1]:
            score, reasons = score + 1.5, [*reasons, f"file name in stack {hunk.path}"]
            break
    end = hunk.new_start + max(hunk.new_lines, 1)
    if any(p.endswith(path) and hunk.new_start <= n < end for p, n in clues.lines):
        score, reasons = score + 2.0, [*reasons, "failing line"]
    checks = (
        ("function", clues.functions, 2.0),
        ("table", clues.tables, 1.5),
        ("column", clues.columns, 1.5),
        ("flag", clues.flags, 2.0),
        ("config key", clues.config_keys, 2.0),
        ("symbol", clues.symbols, 1.0),
    )
    for label, values, weight in checks:
        for value in sorted(values - words):
            pattern = rf"(?<![\w]){re.escape(value)}(?![\w])"
            if re.search(pattern, text) or (label == "function" and re.search(pattern, header)):
                score, reasons = score + weight, [*reasons, f"{label} {value}"]
                words.add(value)
                break
    if kind == "deps":
        score, reasons, words = _deps_score(hunk, clues, score, reasons, words)
    return score, reasons, words


_PACKAGE = re.compile(r"[A-Za-z][\w-]*(?:[./][A-Za-z][\w-]*)+")


def _deps_score(
    hunk: Hunk, clues: Clues, score: float, reasons: list[str], words: set[str]
) -> tuple[float, list[str], set[str]]:
    """A bumped dependency whose package (``org.postgresql``, ``github.com/jackc/pgx/v5``)
    appears in the failure's stack traces or error logs."""
    stacks = "\n".join(clues.stack_text)
    for _, line in hunk.added:
        for name in (m.group(0).lower() for m in _PACKAGE.finditer(line)):
            if len(name) >= 6 and name in stacks:
                return score + 2.5, [*reasons, f"dependency {name} in stack"], words | {name}
    return score, reasons, words


def _quote(hunk: Hunk, words: set[str]) -> tuple[str, int | None]:
    """The added line that matched the most clue words (else the first non-blank one)."""
    best: tuple[int, int, str] | None = None
    for number, text in hunk.added:
        if not text.strip():
            continue
        hits = sum(1 for w in words if w in text.lower())
        if best is None or hits > best[0]:
            best = (hits, number, text)
    if best is None:
        return "", None
    text = _SQL_SELECT.sub("SELECT ... FROM", " ".join(best[2].split())).rstrip("`")
    return text[:MAX_QUOTE], best[1]


def _bounded(lines: list[str], around: int) -> list[str]:
    start = max(0, min(around - MAX_HUNK_LINES // 2, len(lines) - MAX_HUNK_LINES))
    return [line[:MAX_LINE] for line in lines[start : start + MAX_HUNK_LINES]]


def _line_index(hunk: Hunk, number: int | None) -> int:
    """Position in ``hunk.lines`` of the added line with new-file number ``number`` (else 0)."""
    current = hunk.new_start
    for i, line in enumerate(hunk.lines):
        if line.startswith("-"):
            continue
        if line.startswith("+") and current == number:
            return i
        current += 1
    return 0


def _hunk_view(hunk: Hunk, kind: str, clues: Clues) -> DiffHunk:
    score, reasons, words = _score(hunk, kind, clues)
    quote, number = _quote(hunk, words)
    index = _line_index(hunk, number)
    return DiffHunk(
        path=hunk.path,
        header=hunk.header,
        new_start=hunk.new_start,
        new_lines=hunk.new_lines,
        added=sum(1 for ln in hunk.lines if ln.startswith("+")),
        removed=sum(1 for ln in hunk.lines if ln.startswith("-")),
        lines=_bounded(hunk.lines, index),
        score=round(score, 3),
        reasons=reasons,
        quote=quote,
        quote_line=number,
    )


def build_diff(target: Target, compare: Compare, clues: Clues) -> ChangeDiff:
    """The bounded evidence kept of one compare result, hunks most related first."""
    kinds = {f.path: category(f.path) for f in compare.files}
    views: list[DiffHunk] = []
    for f in compare.files:
        for hunk in parse_patch(f.path, f.patch or ""):
            views.append(_hunk_view(hunk, kinds[f.path], clues))
    views.sort(key=lambda h: (-h.score, -h.added, h.path, h.new_start))
    files = [
        DiffFileSummary(
            path=f.path,
            status=f.status,
            additions=f.additions,
            deletions=f.deletions,
            category=kinds[f.path],
        )
        for f in compare.files
    ]
    only_docs = bool(files) and all(f.category in ("docs", "tests") for f in files)
    return ChangeDiff(
        evidence_id=target.evidence_id,
        change_id=target.change.evidence_id,
        service=target.change.service,
        provider=compare.provider,
        repo=compare.repo,
        base=compare.base,
        head=compare.head,
        url=compare.url,
        commits=compare.commits[-MAX_COMMITS:],
        total_commits=max(compare.total_commits, len(compare.commits)),
        files=files[:MAX_FILES],
        total_files=len(files),
        files_truncated=compare.files_truncated,
        hunks=views[:MAX_HUNKS],
        touches_failing_path=any(h.score >= TOUCH_SCORE for h in views),
        docs_or_tests_only=only_docs and not compare.files_truncated,
    )


def describe(d: ChangeDiff) -> str:
    """One line for the diff envelope's summary."""
    added = sum(f.additions for f in d.files)
    removed = sum(f.deletions for f in d.files)
    more = "+" if d.files_truncated else ""
    head = (
        f"{d.repo} {d.base[:7]}...{d.head[:7]}: {d.total_commits} commit(s), "
        f"{d.total_files}{more} file(s) +{added} -{removed}"
    )
    if d.docs_or_tests_only:
        return f"{head}; docs/tests only"
    top = d.quote()
    return f"{head}; top hunk {top}" if top and d.touches_failing_path else head
