"""GitLab compare API, read-only (``ports.ChangeSource``).

``GET {api}/projects/:id/repository/compare?from=<base>&to=<head>`` where ``{api}`` is
``https://gitlab.com/api/v4`` or ``https://HOST/api/v4`` and ``:id`` is a numeric project id or
the URL-encoded ``group/project`` path. Documented behaviour relied on: ``commits`` (``id``,
``title``, ``author_name``), ``diffs`` (``old_path``, ``new_path``, ``diff`` = the hunks,
``new_file``/``renamed_file``/``deleted_file``, ``collapsed``/``too_large`` when GitLab left the
diff out), ``compare_timeout`` (the comparison was cut short) and ``web_url`` (kept only when on
the configured web host). The endpoint is not paginated.

Rate limits (429 with ``Retry-After``/``RateLimit-Reset``) are handled by ``connectors/_http.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors._git import (
    check_sha,
    first_line,
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

BACKEND = "gitlab"
_PROJECT = re.compile(r"^(?:\d+|[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+)$")


class _GitLabApi:
    def __init__(self, http: BackendClient) -> None:
        self.http = http

    async def compare(self, project: str, base: str, head: str) -> Any:
        path = f"/projects/{quote(project, safe='')}/repository/compare"
        return await self.http.get_json(path, params={"from": base, "to": head})


class GitLabChanges:
    """Satisfies ``ChangeSource`` over gitlab.com or a self-managed GitLab."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: GitSettings,
        *,
        metrics: Metrics | None = None,
        http: BackendClient | None = None,
    ) -> None:
        self._api = _GitLabApi(
            http or BackendClient(BACKEND, client, settings.backend(), metrics=metrics)
        )
        self._web = web_base(settings)

    def repository(self, url: str) -> str | None:
        path = repository_path(url, self._web)
        return path if path is not None and _PROJECT.match(path) else None

    async def compare(self, repo: str, base: str, head: str) -> Compare:
        if not _PROJECT.match(repo) or ".." in repo:
            raise BackendRejected(BACKEND, f"not a project id or path: {repo[:100]!r}")
        base, head = check_sha(BACKEND, base), check_sha(BACKEND, head)
        doc = await self._api.compare(repo, base, head)
        if not isinstance(doc, Mapping):
            raise BackendBadResponse(BACKEND, f"compare answered {type(doc).__name__}")
        commits = [c for c in map(_commit, mappings(doc.get("commits"))) if c is not None]
        files = [f for f in map(_file, mappings(doc.get("diffs"))) if f is not None]
        return Compare(
            provider=BACKEND,
            repo=repo,
            base=base,
            head=head,
            url=self._url(doc.get("web_url"), repo, base, head),
            commits=commits,
            total_commits=len(commits),
            files=files,
            files_truncated=doc.get("compare_timeout") is True,
        )

    def _url(self, web_url: object, repo: str, base: str, head: str) -> str | None:
        if isinstance(web_url, str) and same_host(web_url, self._web):
            return web_url
        if repo.isdigit():
            return None  # a numeric id has no web path we could build
        return f"{self._web}/{repo}/-/compare/{base}...{head}"


def _commit(item: Mapping[str, Any]) -> CompareCommit | None:
    sha = item.get("id")
    if not isinstance(sha, str):
        return None
    author = item.get("author_name")
    return CompareCommit(
        sha=sha,
        message=first_line(item.get("title") or item.get("message")),
        author=str(author) if author else None,
    )


def _status(item: Mapping[str, Any]) -> FileStatus:
    if item.get("new_file") is True:
        return FileStatus.ADDED
    if item.get("deleted_file") is True:
        return FileStatus.REMOVED
    if item.get("renamed_file") is True:
        return FileStatus.RENAMED
    return FileStatus.MODIFIED


def _file(item: Mapping[str, Any]) -> CompareFile | None:
    path = item.get("new_path") or item.get("old_path")
    if not isinstance(path, str) or not path:
        return None
    diff = item.get("diff")
    omitted = item.get("too_large") is True or item.get("collapsed") is True
    patch = diff if isinstance(diff, str) and diff and not omitted else None
    added = removed = 0
    for line in (patch or "").splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    old = item.get("old_path")
    return CompareFile(
        path=path,
        previous_path=old if isinstance(old, str) and old != path else None,
        status=_status(item),
        additions=added,
        deletions=removed,
        patch=patch,
    )
