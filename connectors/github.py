"""GitHub (and GitHub Enterprise Server) compare API, read-only (``ports.ChangeSource``).

``GET {api}/repos/{owner}/{repo}/compare/{base}...{head}?per_page=100&page=N`` with
``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version: 2022-11-28``. ``{api}`` is
``https://api.github.com`` or a GHES ``https://HOST/api/v3``. Documented behaviour relied on:

* commits are paginated (``per_page`` <= 100, ``Link: rel="next"``); the list of changed files
  comes only with page 1 and holds at most 300 files for the whole comparison, so 300 files
  means "possibly more" (``files_truncated``);
* a file without ``patch`` is binary or too large to diff;
* ``html_url`` is the compare web view (kept only when on the configured web host).

The next page is requested by number; the URL in the ``Link`` header is never followed.
Rate limits (403/429 with ``Retry-After`` or ``X-RateLimit-Remaining: 0``) are handled by the
shared policy in ``connectors/_http.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from connectors._git import (
    check_sha,
    first_line,
    link_has_next,
    mappings,
    repository_path,
    same_host,
    web_base,
)
from connectors._http import BackendClient
from correlator.errors import BackendBadResponse, BackendRejected
from correlator.metrics import Metrics
from correlator.models import Compare, CompareCommit, CompareFile, FileStatus
from correlator.settings import GitSettings

BACKEND = "github"
PER_PAGE = 100
FILE_LIMIT = 300
_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_STATUS = {
    "added": FileStatus.ADDED,
    "modified": FileStatus.MODIFIED,
    "changed": FileStatus.MODIFIED,
    "removed": FileStatus.REMOVED,
    "renamed": FileStatus.RENAMED,
}


class _GitHubApi:
    """Raw compare calls: decoded JSON page plus whether a next page exists."""

    def __init__(self, http: BackendClient, per_page: int) -> None:
        self.http = http
        self.per_page = per_page

    async def compare_page(self, repo: str, base: str, head: str, page: int) -> tuple[Any, bool]:
        path = f"/repos/{repo}/compare/{base}...{head}"
        params = {"per_page": self.per_page, "page": page}
        response = await self.http.request("GET", path, params=params, headers=_HEADERS)
        return self.http.decode_json(response), link_has_next(response.headers.get("link"))


class GitHubChanges:
    """Satisfies ``ChangeSource`` over github.com or a GitHub Enterprise Server."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: GitSettings,
        *,
        metrics: Metrics | None = None,
        http: BackendClient | None = None,
        per_page: int = PER_PAGE,
    ) -> None:
        self._api = _GitHubApi(
            http or BackendClient(BACKEND, client, settings.backend(), metrics=metrics), per_page
        )
        self._web = web_base(settings)
        self._max_pages = settings.max_commit_pages

    def repository(self, url: str) -> str | None:
        path = repository_path(url, self._web)
        return path if path is not None and _REPO.match(path) else None

    async def compare(self, repo: str, base: str, head: str) -> Compare:
        if not _REPO.match(repo) or ".." in repo:
            raise BackendRejected(BACKEND, f"not an owner/repo: {repo[:100]!r}")
        base, head = check_sha(BACKEND, base), check_sha(BACKEND, head)
        first, more = await self._api.compare_page(repo, base, head, 1)
        doc = _object(first)
        commits = _commits(doc.get("commits"))
        page = 1
        while more and page < self._max_pages:
            page += 1
            body, more = await self._api.compare_page(repo, base, head, page)
            commits += _commits(_object(body).get("commits"))
        files = [f for f in map(_file, mappings(doc.get("files"))) if f is not None]
        total = doc.get("total_commits")
        return Compare(
            provider=BACKEND,
            repo=repo,
            base=base,
            head=head,
            url=self._url(doc.get("html_url"), repo, base, head),
            commits=commits,
            total_commits=total if isinstance(total, int) else len(commits),
            files=files,
            files_truncated=len(files) >= FILE_LIMIT,
        )

    def _url(self, html_url: object, repo: str, base: str, head: str) -> str:
        if isinstance(html_url, str) and same_host(html_url, self._web):
            return html_url
        return f"{self._web}/{repo}/compare/{base}...{head}"


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise BackendBadResponse(BACKEND, f"compare answered {type(body).__name__}")
    return body


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _commits(raw: Any) -> list[CompareCommit]:
    out: list[CompareCommit] = []
    for item in mappings(raw):
        sha = item.get("sha")
        if not isinstance(sha, str):
            continue
        commit = _mapping(item.get("commit"))
        author = _mapping(commit.get("author"))
        name = _mapping(item.get("author")).get("login") or author.get("name")
        out.append(
            CompareCommit(
                sha=sha,
                message=first_line(commit.get("message")),
                author=str(name) if name else None,
            )
        )
    return out


def _file(item: Mapping[str, Any]) -> CompareFile | None:
    path = item.get("filename")
    if not isinstance(path, str) or not path:
        return None
    patch = item.get("patch")
    previous = item.get("previous_filename")
    return CompareFile(
        path=path,
        previous_path=previous if isinstance(previous, str) else None,
        status=_STATUS.get(str(item.get("status")), FileStatus.OTHER),
        additions=_int(item.get("additions")),
        deletions=_int(item.get("deletions")),
        patch=patch if isinstance(patch, str) else None,
    )


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0
