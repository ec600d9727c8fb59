"""Verdict buttons of the web UI in a real headless Chromium (Playwright, Debian's chromium)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from correlator.models import Verdict
from correlator.settings import Settings
from correlator.store import SqlStore
from tests.e2e._stack import free_port
from tests.e2e.test_ui_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Served
from tests.notify import factory
from tests.notify.test_ui import seed

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, Settings]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ui.db'}",
        host="127.0.0.1",
        port=free_port(),
        public_url="http://127.0.0.1",
    )
    with Served(settings) as s:
        yield s, settings


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/system-deps.sh"
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def test_verdict_buttons_round_trip(
    served: tuple[Served, Settings], chromium: Browser
) -> None:
    server, settings = served
    store = SqlStore(settings.database_url)
    try:
        inv = await seed(store, factory.rich())
        page = await chromium.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{server.url}/ui/investigations/{inv.id}")
        state = page.locator("#verdict-state")
        await expect(state).to_contain_text("No verdict yet")
        await page.fill("#verdict-form input[name=by]", "alice")
        await page.click('#verdict-form button[data-verdict="correct"]')
        await expect(state).to_contain_text("confirmed by alice")

        await page.click('#verdict-form button[data-verdict="wrong"]')
        await expect(page.locator("#real-cause")).to_be_visible()
        await page.fill("#verdict-form input[name=by]", "bob")
        await page.fill("#real-cause input[name=service]", "postgres")
        await page.select_option("#real-cause select[name=fault_type]", "database_slow")
        await page.fill("#real-cause input[name=change]", "migration 42")
        await page.fill("#real-cause input[name=note]", "restored the index")
        await page.click("#verdict-save-wrong")
        await expect(state).to_contain_text(
            "marked wrong by bob; real cause: postgres database slow after migration 42"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "ui-verdict.png"), full_page=True)
        await page.close()
        got = await store.get(inv.id)
        assert got is not None
        assert [(f.verdict, f.by, f.source) for f in got.feedback] == [
            (Verdict.CORRECT, "alice", "ui"),
            (Verdict.WRONG, "bob", "ui"),
        ]
    finally:
        await store.close()
