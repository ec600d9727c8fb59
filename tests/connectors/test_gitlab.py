"""connectors/gitlab.py: the compare API through httpx.MockTransport, on GitLab's documented
example response (tests/fixtures/git/SOURCES.md)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors._http import BackendClient
from connectors.gitlab import GitLabChanges
from correlator.errors import BackendRejected
from correlator.models import FileStatus
from correlator.settings import GitSettings
from tests.connectors.support import FakeTime, fixture_json, json_response

DOC = fixture_json("git", "gitlab_compare_response.docs.json")
FROM, TO = "ae73cb07c9eeaf35924a10f713b364d32b2dd34f", "0b4bc9a49b562e85de7cc9e834518ea6828729b9"
NOW = datetime(2014, 2, 27, 10, 0, tzinfo=UTC)


class GitLab:
    def __init__(self, *answers: tuple[Any, int, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body, status, headers = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        response = json_response(body, status)
        response.headers.update(headers)
        return response


def source(
    gl: GitLab, fake_time: FakeTime, api: str = "https://gitlab.example.com/api/v4"
) -> GitLabChanges:
    cfg = GitSettings(provider="gitlab", api_url=api, token="glpat-abcdefghijklmnopqrst", retries=1)
    client = httpx.AsyncClient(base_url=api, transport=httpx.MockTransport(gl))
    http = BackendClient(
        "gitlab",
        client,
        cfg.backend(),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        wall_clock=lambda: NOW,
    )
    return GitLabChanges(client, cfg, http=http)


async def test_docs_example_response(fake_time: FakeTime) -> None:
    gl = GitLab((DOC, 200, {}))
    result = await source(gl, fake_time).compare("janedoe/gitlab-foss", FROM, TO)
    (req,) = gl.requests
    assert req.url.raw_path.startswith(
        b"/api/v4/projects/janedoe%2Fgitlab-foss/repository/compare?"
    )
    assert req.url.params["from"] == FROM
    assert req.url.params["to"] == TO
    assert req.headers["authorization"] == "Bearer glpat-abcdefghijklmnopqrst"
    (commit,) = result.commits
    assert (commit.sha[:11], commit.message, commit.author) == (
        "12d65c8dd2b",
        "JS fix",
        "Example User",
    )
    (f,) = result.files
    assert f.path == "files/js/application.js"
    assert f.status is FileStatus.MODIFIED
    assert (f.additions, f.deletions) == (4, 2)
    assert f.patch is not None
    assert f.patch.startswith("@@ -24,8 +24,10 @@")
    assert result.url == DOC["web_url"]  # on the configured host: kept
    assert not result.files_truncated


async def test_numeric_project_id_and_foreign_web_url(fake_time: FakeTime) -> None:
    doc = dict(DOC, web_url="https://elsewhere.example/x/-/compare/a...b")
    gl = GitLab((doc, 200, {}))
    result = await source(gl, fake_time).compare("5", FROM[:8], TO[:8])
    assert gl.requests[0].url.path == "/api/v4/projects/5/repository/compare"
    assert result.url is None  # a numeric id has no web path, a foreign host is not used
    path = await source(GitLab((doc, 200, {})), fake_time).compare("group/sub/proj", FROM, TO)
    assert path.url == f"https://gitlab.example.com/group/sub/proj/-/compare/{FROM}...{TO}"


async def test_omitted_diffs_and_timeout(fake_time: FakeTime) -> None:
    doc = copy.deepcopy(DOC)
    doc["diffs"][0].update(too_large=True, diff="")
    doc["diffs"].append(
        dict(
            doc["diffs"][0],
            new_path="new.js",
            old_path="new.js",
            new_file=True,
            too_large=False,
            collapsed=True,
        )
    )
    doc["compare_timeout"] = True
    result = await source(GitLab((doc, 200, {})), fake_time).compare("g/p", FROM, TO)
    assert [f.patch for f in result.files] == [None, None]
    assert result.files[1].status is FileStatus.ADDED
    assert result.files_truncated


async def test_429_waits_for_ratelimit_reset(fake_time: FakeTime) -> None:
    reset = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(NOW.timestamp()) + 4)}
    gl = GitLab(({"message": "Retry later"}, 429, reset), (DOC, 200, {}))
    result = await source(gl, fake_time).compare("g/p", FROM, TO)
    assert len(gl.requests) == 2
    assert fake_time.sleeps == [4.0]
    assert result.total_commits == 1


def test_repository_from_url_on_self_managed_host(fake_time: FakeTime) -> None:
    gl = source(GitLab((DOC, 200, {})), fake_time)
    assert gl.repository("https://gitlab.example.com/group/sub/proj.git") == "group/sub/proj"
    assert gl.repository("https://gitlab.example.com/group/proj/-/tree/main") == "group/proj"
    assert gl.repository("https://gitlab.com/group/proj") is None


async def test_bad_project_is_rejected_before_any_request(fake_time: FakeTime) -> None:
    gl = GitLab((DOC, 200, {}))
    with pytest.raises(BackendRejected):
        await source(gl, fake_time).compare("../../admin", FROM, TO)
    assert gl.requests == []
