"""The web UI in a real browser: Playwright (Python) driving Debian's /usr/bin/chromium against
the app served by uvicorn on 127.0.0.1. Loads the list and detail pages, sees a live stage update
arrive over SSE (an event is written into the store while the page is open) and saves
screenshots into test-artifacts/.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright, expect

from correlator.api import AppDeps, create_app
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.harness import simulator_settings
from correlator.lab.simulator.server import running_simulator
from correlator.models import Investigation, InvestigationStatus
from correlator.settings import Settings
from correlator.store import SqlStore
from correlator.wiring import investigate_once
from tests.e2e._stack import free_port
from tests.notify import factory
from tests.notify.test_ui import seed

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Served:
    """uvicorn serving ``create_app`` in a thread (its own event loop), stopped on exit."""

    def __init__(self, settings: Settings) -> None:
        app = create_app(settings, AppDeps(run_workers=False, run_scheduler=False))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{settings.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("correlator did not start")
            threading.Event().wait(0.1)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'ui.db'}",
        host="127.0.0.1",
        port=free_port(),
        public_url="http://127.0.0.1",
    )


@pytest.fixture
def served(settings: Settings) -> Iterator[Served]:
    with Served(settings) as s:
        yield s


@pytest.fixture
async def store(settings: Settings, served: Served) -> AsyncIterator[SqlStore]:
    s = SqlStore(settings.database_url)
    yield s
    await s.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/system-deps.sh"
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def test_list_detail_and_live_stage_update(
    served: Served, store: SqlStore, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    done = await seed(store, factory.with_telemetry(factory.rich()))
    live = factory.with_telemetry(factory.rich(inv_id="x"))
    live = live.model_copy(
        update={
            "alert": live.alert.model_copy(
                update={"fingerprint": "live0000", "labels": {**live.alert.labels, "x": "1"}}
            ),
            "fingerprint": "live0000",
        }
    )
    live = await seed(store, live)
    running = live.model_copy(
        update={"status": InvestigationStatus.RUNNING, "stages": live.stages[:1]}
    )
    await store.save(running)

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{served.url}/ui/investigations")
    rows = page.locator("#investigations tbody tr[data-id]")
    await expect(rows).to_have_count(2)
    await expect(page.locator(f'tr[data-id="{done.id}"]')).to_contain_text("CheckoutErrorRate")
    await page.screenshot(path=str(ARTIFACTS / "ui-list.png"), full_page=True)

    await page.select_option("#f-status", "running")
    await page.click("form.filters button")
    await expect(rows).to_have_count(1)
    await expect(page.locator(f'tr[data-id="{live.id}"]')).to_be_visible()

    await page.goto(f"{served.url}/ui/investigations/{done.id}")
    await expect(page.locator(".span-row.root-error")).to_have_count(1)
    await expect(page.locator(".span-row.root-error")).to_contain_text("Charge")
    await expect(page.locator("#remediation")).to_contain_text("proposed, not executed")
    await expect(page.locator("svg.metric .marker-deploy")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "ui-detail.png"), full_page=True)

    await page.goto(f"{served.url}/ui/investigations/{live.id}")
    await expect(page.locator("#live-state")).to_have_text("live")
    timeline = page.locator("#timeline li")
    await expect(timeline).to_have_count(1)
    # the pipeline's next stage finishes while the page is open
    await store.append_event(
        live.id, "stage", {"name": "rules", "status": "ok", "elapsed_ms": 3.2, "detail": ""}
    )
    rules = page.locator('#timeline li[data-stage="rules"]')
    await expect(rules).to_contain_text("ok", timeout=15_000)
    await expect(timeline).to_have_count(2)
    await store.append_event(live.id, "llm.stage", {"stage": "rank", "status": "started"})
    await expect(page.locator('#timeline li[data-stage="llm.rank"]')).to_be_visible(timeout=15_000)
    await page.screenshot(path=str(ARTIFACTS / "ui-detail-live.png"), full_page=True)
    await store.save(running.model_copy(update={"status": InvestigationStatus.DONE}))
    await store.append_event(live.id, "finished", {"status": "done"})
    await expect(page.locator("#finished-banner")).to_be_visible(timeout=15_000)
    await expect(page.locator("#inv-status")).to_have_text("done")
    await page.close()


CHECKOUT = ROOT / "tests" / "scenarios" / "checkout-deploy-regression"


async def checkout_investigation() -> Investigation:
    """The checkout scenario through the real pipeline (simulated backends, real Prometheus)."""
    cm = running_simulator(CHECKOUT, SimulatorConfig())
    sim = await asyncio.to_thread(cm.__enter__)
    try:
        settings = simulator_settings(sim.url, sim.scenario)
        (inv,) = await investigate_once(sim.scenario.webhook, settings)
    finally:
        await asyncio.to_thread(cm.__exit__, None, None, None)
    return inv


async def test_checkout_scenario_list_and_detail(
    served: Served, store: SqlStore, browser: Browser
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    inv = await seed(store, await checkout_investigation())
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{served.url}/ui/investigations?alertname=CheckoutLatencyP95High")
    await expect(page.locator(f'tr[data-id="{inv.id}"]')).to_contain_text("checkout-api")
    await page.goto(f"{served.url}/ui/investigations/{inv.id}")
    await expect(page.locator("h1")).to_contain_text("CheckoutLatencyP95High")
    stages = page.locator("#timeline li")
    await expect(stages).to_have_count(len(inv.stages))
    for stage in inv.stages:
        await expect(page.locator(f'#timeline li[data-stage="{stage.name}"]')).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("finished")
    # what the rules found: the 2.4.1 deploy (7a3f9c2) of checkout-api, a proposed rollback
    top = page.locator("#hypotheses ol.hyps > li.top")
    await expect(top).to_contain_text("checkout-api")
    await expect(top).to_contain_text("7a3f9c2")
    await expect(page.locator("#remediation")).to_contain_text("proposed, not executed")
    await expect(page.locator("#remediation pre.cmd")).to_contain_text("rollout undo")
    # the exemplar trace as a waterfall with the root-most error span highlighted
    await expect(page.locator("#trace .span-row").first).to_be_visible()
    await expect(page.locator("#trace .span-row.root-error")).to_have_count(1)
    # deploy markers on the metric timeline
    await expect(page.locator("svg.metric polyline.series")).to_have_count(1)
    assert await page.locator("svg.metric g.marker").count() >= 1
    await page.screenshot(path=str(ARTIFACTS / "ui-checkout-detail.png"), full_page=True)
    await page.close()
