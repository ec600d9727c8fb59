"""The web UI pages served by the real app (lifespan running, SQLite store, ASGI transport)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from correlator.api import AppDeps, create_app
from correlator.models import Investigation, LLMCallRecord, LLMReport, LLMStageStats
from correlator.settings import Settings
from correlator.store import SqlStore
from tests.notify import factory, quoting


async def seed(store: SqlStore, inv: Investigation) -> Investigation:
    """Store ``inv``'s alert, then save ``inv``'s content under the id the store gave it."""
    created, _ = await store.create_or_get(inv.alert)
    full = inv.model_copy(update={"id": created.id, "created_at": created.created_at})
    await store.save(full)
    return full


@asynccontextmanager
async def ui_client(
    tmp_path: Path, client: str = "127.0.0.1", **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, SqlStore]]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ui.db'}", **overrides)
    store = SqlStore(settings.database_url)
    await store.create_schema()
    app = create_app(settings, AppDeps(store=store, run_workers=False, run_scheduler=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield c, store
    await store.close()


async def test_list_and_filters(tmp_path: Path) -> None:
    async with ui_client(tmp_path) as (client, store):
        inv = await seed(store, factory.with_telemetry(factory.rich()))
        other = factory.rich().alert.model_copy(
            update={"labels": {"alertname": "DiskFull", "service": "db"}, "fingerprint": "ff"}
        )
        await store.create_or_get(other)
        page = await client.get("/ui/investigations")
        assert page.status_code == 200
        assert f'href="/ui/investigations/{inv.id}"' in page.text
        assert "DiskFull" in page.text
        filtered = await client.get("/ui/investigations", params={"alertname": "DiskFull"})
        assert "DiskFull" in filtered.text
        assert "CheckoutErrorRate" not in filtered.text
        by_status = await client.get("/ui/investigations", params={"status": "queued"})
        assert "DiskFull" in by_status.text
        assert "CheckoutErrorRate" not in by_status.text
        css = await client.get("/ui/static/ui.css")
        assert css.headers["content-type"].startswith("text/css")
        assert (await client.get("/ui/static/..%2Fview.py")).status_code == 404


async def test_detail_page_shows_trace_logs_metric_hypotheses_remediation(tmp_path: Path) -> None:
    async with ui_client(tmp_path) as (client, store):
        inv = await seed(store, factory.with_telemetry(factory.rich()))
        page = await client.get(f"/ui/investigations/{inv.id}")
        assert page.status_code == 200
        text = page.text
        assert 'class="span-row error root-error" id="span-a000000000000004"' in text
        assert text.count("root-error") == 1
        assert 'href="#span-a000000000000002"' in text  # log line linked to its span
        assert "&lt;b&gt;connection refused&lt;/b&gt;" in text  # log text escaped
        assert 'class="marker marker-deploy"' in text
        assert "checkout 1.4.2" in text
        assert "proposed, not executed" in text
        assert "kubectl -n shop rollout undo deployment/checkout --to-revision=41" in text
        assert "82%" in text
        assert 'data-events-url="/api/v1/investigations/' in text
        assert "javascript:" not in text


async def test_detail_page_escapes_hostile_labels(tmp_path: Path) -> None:
    async with ui_client(tmp_path) as (client, store):
        inv = await seed(store, factory.hostile())
        text = (await client.get(f"/ui/investigations/{inv.id}")).text
        assert "<!channel>" not in text
        assert "Evil &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text
        assert "cause &lt;@U123&gt; &amp; *bold*" in text


async def test_token_required_off_loopback(tmp_path: Path) -> None:
    async with ui_client(tmp_path, host="0.0.0.0", ui_token="tok-123") as (client, _):
        assert (await client.get("/ui/investigations")).status_code == 401
        bearer = {"Authorization": "Bearer tok-123"}
        assert (await client.get("/ui/investigations", headers=bearer)).status_code == 200
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert (
            await client.post("/ui/login", content=b"token=nope", headers=form)
        ).status_code == 401
        login = await client.post("/ui/login", content=b"token=tok-123", headers=form)
        assert login.status_code == 303
        assert "httponly" in login.headers["set-cookie"].lower()
        assert (await client.get("/ui/investigations")).status_code == 200  # cookie kept
    async with ui_client(tmp_path, host="0.0.0.0") as (client, _):
        assert (await client.get("/ui/investigations")).status_code == 403


async def test_open_on_loopback_without_token(tmp_path: Path) -> None:
    async with ui_client(tmp_path, host="127.0.0.1") as (client, _):
        assert (await client.get("/ui/investigations")).status_code == 200
        assert (await client.get("/ui/")).status_code == 307


async def test_remote_peer_needs_a_token_even_if_settings_say_loopback(tmp_path: Path) -> None:
    # `correlator serve --host 0.0.0.0` listens everywhere while settings.host stays 127.0.0.1
    async with ui_client(tmp_path, client="10.1.2.3", host="127.0.0.1") as (client, _):
        assert (await client.get("/ui/investigations")).status_code == 403


async def test_detail_page_shows_what_was_sent_to_the_llm(tmp_path: Path) -> None:
    """D3: per LLM call the hash, size and redaction counts of what was sent are recorded on
    the investigation and shown on its page."""
    sent = LLMCallRecord(sha256="ab" * 32, bytes=4321, redactions={"jwt": 2, "password": 1})
    llm = LLMReport(
        enabled=True,
        stages=[LLMStageStats(stage="rank", model="openai/x", sent=[sent])],
        redactions={"jwt": 3},
    )
    async with ui_client(tmp_path) as (client, store):
        inv = await seed(store, factory.rich().model_copy(update={"llm": llm}))
        html = (await client.get(f"/ui/investigations/{inv.id}")).text
    assert 'id="llm-sent"' in html
    assert "abababababababab" in html
    assert "4321" in html
    assert "jwt 2, password 1" in html


async def test_detail_page_shows_the_verdict_quotes(tmp_path: Path) -> None:
    async with ui_client(tmp_path) as (client, store):
        inv = await seed(store, quoting.quoting())
        text = (await client.get(f"/ui/investigations/{inv.id}")).text
        verdict = text.split('<section id="verdict-quotes">', 1)[1].split("</section>", 1)[0]
        assert "checkout-api 2.4.0 -&gt; 2.4.1, commit 5e1d0b8 -&gt; 7a3f9c2" in verdict
        assert "flag new_checkout=on" in verdict
        assert "<code>SELECT shop.orders</code> on db-primary:5432 took 1.2 s" in verdict
        assert f"<code>{quoting.LOG}</code>" in verdict
