"""The simulator's Git provider double: recorded compare responses, paginated like GitHub,
served like GitLab; the scenario loader reads and time-shifts git/."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from correlator.lab.scenarios import ScenarioError, load_scenario
from correlator.lab.simulator import git
from correlator.lab.simulator.app import create_simulator_app
from correlator.lab.simulator.config import SimulatorConfig

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
CHECKOUT = SCENARIOS / "checkout-deploy-regression"
COMPARE = "git/github/shop/checkout-api/compare/5e1d0b8...7a3f9c2.json"


def client(path: Path = CHECKOUT) -> httpx.AsyncClient:
    app = create_simulator_app(load_scenario(path), SimulatorConfig(), prometheus_url=None)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


def test_loader_reads_and_shifts_git_files() -> None:
    s = load_scenario(CHECKOUT)
    body = s.git[COMPARE.removeprefix("git/")]
    assert body["files"][1]["filename"] == "orders/history.go"
    moved = s.shifted(s.offset_to(datetime(2030, 1, 1, tzinfo=UTC)))
    date = moved.git[COMPARE.removeprefix("git/")]["commits"][0]["commit"]["author"]["date"]
    assert date.startswith("2029-12-31T23:")


def test_loader_rejects_a_misnamed_git_file(tmp_path: Path) -> None:
    root = tmp_path / "checkout-deploy-regression"
    shutil.copytree(CHECKOUT, root)
    (root / COMPARE).rename(root / "git/github/shop/checkout-api/compare/whatever.json")
    with pytest.raises(ScenarioError, match="git/"):
        load_scenario(root)


async def test_github_compare_with_short_ids_and_pages() -> None:
    async with client() as c:
        whole = await c.get("/repos/shop/checkout-api/compare/5e1d0b8...7a3f9c2")
        assert whole.status_code == 200
        assert len(whole.json()["files"]) == 4
        assert "link" not in whole.headers
        page1 = await c.get(
            "/repos/shop/checkout-api/compare/5e1d0b8...7a3f9c2", params={"per_page": 1}
        )
        assert len(page1.json()["commits"]) == 1
        assert "link" not in page1.headers  # one commit: one page
        missing = await c.get("/repos/shop/checkout-api/compare/5e1d0b8...0000000")
        assert missing.status_code == 404
        assert missing.json()["message"] == "Not Found"


async def test_gitlab_route_answers_404_for_unknown_projects() -> None:
    async with client() as c:
        r = await c.get(
            "/api/v4/projects/shop%2Fcheckout-api/repository/compare",
            params={"from": "5e1d0b8", "to": "7a3f9c2"},
        )
    assert r.status_code == 404


def test_github_pages_slice_commits_and_keep_files_on_page_one() -> None:
    body = {"commits": [{"sha": str(i)} for i in range(5)], "files": [{"filename": "a"}]}
    store = {"github/o/r/compare/aaaaaaa...bbbbbbb.json": body}
    p1, more1 = git.github_compare(store, "o", "r", "aaaaaaa...bbbbbbb", 1, 2)
    p3, more3 = git.github_compare(store, "o", "r", "aaaaaaa...bbbbbbbcc", 3, 2)
    assert p1 is not None
    assert p3 is not None
    assert ([c["sha"] for c in p1["commits"]], more1, "files" in p1) == (["0", "1"], True, True)
    assert ([c["sha"] for c in p3["commits"]], more3, "files" in p3) == (["4"], False, False)
