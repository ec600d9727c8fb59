"""Recorded Git provider compare responses (a scenario's ``git/``), served like the real APIs.

GitHub: ``GET /repos/{owner}/{repo}/compare/{base}...{head}`` with ``per_page``/``page``: the
commits are sliced per page, ``files`` come only with page 1, and a ``Link: rel="next"`` header
is sent while pages remain (as GitHub documents). GitLab:
``GET /api/v4/projects/{id}/repository/compare?from=&to=`` answers the recorded body. A commit
in the request matches a recorded one when either is a prefix of the other (7-char short ids).
Unknown repositories or commits answer 404 with the provider's error body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

GITHUB_NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
GITLAB_NOT_FOUND = {"message": "404 Not found"}
MAX_PER_PAGE = 100


def _same(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return len(min(a, b, key=len)) >= 7 and (a.startswith(b) or b.startswith(a))


def find(
    git: dict[str, dict[str, Any]], prefix: str, base: str, head: str
) -> dict[str, Any] | None:
    """The recorded body under ``<prefix>/compare/<base>...<head>.json``, or None."""
    for name, body in sorted(git.items()):
        stem, _, tail = name.removesuffix(".json").rpartition("/compare/")
        if stem != prefix or "..." not in tail:
            continue
        b, h = tail.split("...", 1)
        if _same(b, base) and _same(h, head):
            return body
    return None


def github_compare(
    git: dict[str, dict[str, Any]],
    owner: str,
    repo: str,
    basehead: str,
    page: int,
    per_page: int | None,
) -> tuple[dict[str, Any] | None, bool]:
    """(page body, whether a next page exists); (None, False) when not recorded."""
    base, sep, head = basehead.partition("...")
    body = find(git, f"github/{owner}/{repo}", base, head) if sep else None
    if body is None:
        return None, False
    if per_page is None and page <= 1:
        return body, False
    size = max(1, min(per_page or 30, MAX_PER_PAGE))
    commits = list(body.get("commits") or [])
    start = (max(page, 1) - 1) * size
    out = dict(body, commits=commits[start : start + size])
    if page > 1:
        out.pop("files", None)
    return out, start + size < len(commits)


def gitlab_compare(
    git: dict[str, dict[str, Any]], project: str, base: str, head: str
) -> dict[str, Any] | None:
    return find(git, f"gitlab/{unquote(project)}", base, head)
