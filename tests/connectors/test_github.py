"""connectors/github.py: the compare API through httpx.MockTransport, on GitHub's documented
example response (tests/fixtures/git/SOURCES.md), incl. pagination and the 300-file limit."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors._http import BackendClient
from connectors.github import GitHubChanges
from correlator.errors import BackendRateLimited, BackendRejected
from correlator.models import FileStatus
from correlator.settings import GitSettings
from tests.connectors.support import FakeTime, fixture_json, json_response

DOC = fixture_json("git", "github_compare_response.docs.json")
BASE, HEAD = "6dcb09b", "bbcd538c8e72b8c175046e27cc8f907076331401"


class GitHub:
    """Serves compare pages; records every request."""

    def __init__(self, pages: list[tuple[Any, dict[str, str]]], status: int = 200) -> None:
        self.pages = pages
        self.status = status
        self.requests: list[httpx.Request] = []
        self.before: list[tuple[Any, int, dict[str, str]]] = []  # one-off answers served first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before:
            body, status, headers = self.before.pop(0)
            response = json_response(body, status)
            response.headers.update(headers)
            return response
        page = int(request.url.params.get("page", "1"))
        body, headers = self.pages[min(page, len(self.pages)) - 1]
        response = json_response(body, self.status)
        response.headers.update(headers)
        return response


def source(
    gh: GitHub,
    fake_time: FakeTime,
    *,
    api: str = "https://api.github.com",
    wall: datetime | None = None,
    per_page: int = 100,
    **kw: Any,
) -> GitHubChanges:
    cfg = GitSettings(api_url=api, token="ghp_secret_token_value_123", retries=1, **kw)
    client = httpx.AsyncClient(base_url=cfg.backend().url or "", transport=httpx.MockTransport(gh))
    http = BackendClient(
        "github",
        client,
        cfg.backend(),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        wall_clock=lambda: wall or datetime(2011, 4, 14, 16, 0, tzinfo=UTC),
    )
    return GitHubChanges(client, cfg, http=http, per_page=per_page)


async def test_docs_example_response(fake_time: FakeTime) -> None:
    gh = GitHub([(DOC, {})])
    result = await source(gh, fake_time).compare("octocat/Hello-World", BASE, HEAD)
    (req,) = gh.requests
    assert req.url.path == f"/repos/octocat/Hello-World/compare/{BASE}...{HEAD}"
    assert req.url.params["page"] == "1"
    assert req.url.params["per_page"] == "100"
    assert req.headers["accept"] == "application/vnd.github+json"
    assert req.headers["x-github-api-version"] == "2022-11-28"
    assert req.headers["authorization"] == "Bearer ghp_secret_token_value_123"
    assert result.provider == "github"
    assert result.total_commits == 1
    (commit,) = result.commits
    assert (commit.sha, commit.message, commit.author) == (
        "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "Fix all the bugs",
        "octocat",
    )
    (f,) = result.files
    assert (f.path, f.status, f.additions, f.deletions) == ("file1.txt", FileStatus.ADDED, 103, 21)
    assert f.patch == "@@ -132,7 +132,7 @@ module Test @@ -1000,7 +1000,7 @@ module Test"
    assert result.url == "https://github.com/octocat/Hello-World/compare/master...topic"
    assert not result.files_truncated


async def test_pagination_requests_pages_by_number_never_the_link_url(
    fake_time: FakeTime,
) -> None:
    commit = DOC["commits"][0]
    page1 = dict(DOC, commits=[dict(commit, sha=f"{i:040x}") for i in range(2)], total_commits=5)
    page2 = {k: v for k, v in page1.items() if k != "files"}
    page2["commits"] = [dict(commit, sha=f"{i:040x}") for i in range(2, 4)]
    page3 = dict(page2, commits=[dict(commit, sha=f"{4:040x}")])
    evil = {"Link": '<https://attacker.example/steal?page=2>; rel="next"'}
    gh = GitHub([(page1, evil), (page2, evil), (page3, {})])
    changes = source(gh, fake_time, max_commit_pages=5, per_page=2)
    result = await changes.compare("octocat/Hello-World", BASE, HEAD)
    assert [r.url.host for r in gh.requests] == ["api.github.com"] * 3
    assert [r.url.params["page"] for r in gh.requests] == ["1", "2", "3"]
    assert {r.url.params["per_page"] for r in gh.requests} == {"2"}
    assert [c.sha[-1] for c in result.commits] == ["0", "1", "2", "3", "4"]
    assert result.total_commits == 5
    assert [f.path for f in result.files] == ["file1.txt"]  # files come with page 1 only


async def test_page_cap_bounds_the_calls(fake_time: FakeTime) -> None:
    more = {"Link": '<https://api.github.com/x?page=9>; rel="next"'}
    gh = GitHub([(DOC, more)] * 10)
    await source(gh, fake_time, max_commit_pages=3).compare("octocat/Hello-World", BASE, HEAD)
    assert len(gh.requests) == 3


async def test_three_hundred_files_means_possibly_more(fake_time: FakeTime) -> None:
    base_file = DOC["files"][0]
    doc = dict(DOC, files=[dict(base_file, filename=f"f{i}.txt") for i in range(300)])
    result = await source(GitHub([(doc, {})]), fake_time).compare("octocat/Hello-World", BASE, HEAD)
    assert len(result.files) == 300
    assert result.files_truncated
    doc299 = dict(doc, files=doc["files"][:299])
    result = await source(GitHub([(doc299, {})]), fake_time).compare("o/r", BASE, HEAD)
    assert not result.files_truncated


async def test_file_without_patch_is_kept_without_hunks(fake_time: FakeTime) -> None:
    doc = copy.deepcopy(DOC)
    del doc["files"][0]["patch"]
    doc["files"][0]["status"] = "renamed"
    doc["files"][0]["previous_filename"] = "file0.txt"
    (f,) = (await source(GitHub([(doc, {})]), fake_time).compare("o/r", BASE, HEAD)).files
    assert f.patch is None
    assert f.status is FileStatus.RENAMED
    assert f.previous_path == "file0.txt"


async def test_enterprise_base_url_and_web_links(fake_time: FakeTime) -> None:
    gh = GitHub([(DOC, {})])
    result = await source(gh, fake_time, api="https://ghe.example.com/api/v3").compare(
        "shop/checkout-api", "5e1d0b8", "7a3f9c2"
    )
    assert str(gh.requests[0].url).startswith(
        "https://ghe.example.com/api/v3/repos/shop/checkout-api/compare/5e1d0b8...7a3f9c2?"
    )
    # the payload's html_url is on github.com, not the configured host: built from config
    assert result.url == "https://ghe.example.com/shop/checkout-api/compare/5e1d0b8...7a3f9c2"


def test_repository_from_url_only_on_the_configured_host(fake_time: FakeTime) -> None:
    gh = source(GitHub([]), fake_time)
    assert gh.repository("https://github.com/shop/checkout-api") == "shop/checkout-api"
    assert gh.repository("https://github.com/shop/checkout-api.git") == "shop/checkout-api"
    assert gh.repository("git@github.com:shop/checkout-api.git") == "shop/checkout-api"
    assert gh.repository("https://github.com/shop/checkout-api/tree/main") == "shop/checkout-api"
    assert gh.repository("https://evil.example/shop/checkout-api") is None
    assert gh.repository("https://github.com/only-owner") is None
    ghe = source(GitHub([]), fake_time, api="https://ghe.example.com/api/v3")
    assert ghe.repository("https://ghe.example.com/shop/inventory") == "shop/inventory"
    assert ghe.repository("https://github.com/shop/inventory") is None


@pytest.mark.parametrize(
    ("repo", "base", "head"),
    [
        ("shop/../admin", "5e1d0b8", "7a3f9c2"),
        ("shop/x", "../../etc", "7a3f9c2"),
        ("a", "5e1d0b8", "7a3f9c2"),
    ],
)
async def test_untrusted_ids_are_rejected_before_any_request(
    fake_time: FakeTime, repo: str, base: str, head: str
) -> None:
    gh = GitHub([(DOC, {})])
    with pytest.raises(BackendRejected):
        await source(gh, fake_time).compare(repo, base, head)
    assert gh.requests == []


async def test_404_is_rejected_not_retried(fake_time: FakeTime) -> None:
    gh = GitHub([({"message": "Not Found"}, {})], status=404)
    with pytest.raises(BackendRejected) as err:
        await source(gh, fake_time).compare("o/r", BASE, HEAD)
    assert err.value.status == 404
    assert len(gh.requests) == 1


async def test_spent_rate_limit_403_waits_until_reset(fake_time: FakeTime) -> None:
    now = datetime(2011, 4, 14, 16, 0, tzinfo=UTC)
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(now.timestamp()) + 7)}
    gh = GitHub([(DOC, {})])
    gh.before = [({"message": "API rate limit exceeded"}, 403, limited)]
    result = await source(gh, fake_time, wall=now).compare("o/r", BASE, HEAD)
    assert len(gh.requests) == 2
    assert fake_time.sleeps == [7.0]
    assert result.total_commits == 1


async def test_last_request_of_the_quota_holds_the_next_call(fake_time: FakeTime) -> None:
    now = datetime(2011, 4, 14, 16, 0, tzinfo=UTC)
    spent = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(now.timestamp()) + 3600)}
    gh = GitHub([(DOC, spent)])
    changes = source(gh, fake_time, wall=now)
    await changes.compare("o/r", BASE, HEAD)
    with pytest.raises(BackendRateLimited) as err:  # an hour: longer than we ever wait
        await changes.compare("o/r", BASE, "7a3f9c2")
    assert len(gh.requests) == 1
    assert err.value.retry_after == 3600.0


async def test_secondary_rate_limit_too_long_gives_up(fake_time: FakeTime) -> None:
    gh = GitHub([({"message": "secondary rate limit"}, {"Retry-After": "3600"})], status=403)
    with pytest.raises(BackendRateLimited) as err:
        await source(gh, fake_time).compare("o/r", BASE, HEAD)
    assert err.value.retry_after == 3600.0
    assert len(gh.requests) == 1
