import asyncio
import gc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from correlator.api import AppDeps
from correlator.store import SqlStore
from tests.api.conftest import (
    AUTH,
    MakeClient,
    fixture_bytes,
    fixture_json,
    make_settings,
    running_app,
    wait_until,
)

WEBHOOK = "/api/v1/webhooks/alertmanager"


async def send(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await client.post(WEBHOOK, content=fixture_bytes(name), headers=AUTH)
    assert r.status_code == 202
    item: dict[str, Any] = r.json()["investigations"][0]
    return item


async def test_list_filters_and_pages(make_client: MakeClient) -> None:
    client = await make_client(deps=AppDeps(run_workers=False, run_scheduler=False))
    a = await send(client, "alertmanager_webhook_01_firing.json")
    b = await send(client, "alertmanager_webhook_02_firing.json")
    page = (await client.get("/api/v1/investigations")).json()
    assert page["total"] == 2
    assert [i["id"] for i in page["items"]] == [b["id"], a["id"]]  # newest first
    by_name = await client.get("/api/v1/investigations", params={"alertname": "DemoSlowCheckout"})
    assert [i["id"] for i in by_name.json()["items"]] == [b["id"]]
    by_service = await client.get("/api/v1/investigations", params={"service": "checkout"})
    assert [i["id"] for i in by_service.json()["items"]] == [a["id"]]
    queued = await client.get("/api/v1/investigations", params={"status": "queued"})
    assert queued.json()["total"] == 2
    done = await client.get("/api/v1/investigations", params={"status": "done"})
    assert done.json()["total"] == 0
    second = await client.get("/api/v1/investigations", params={"limit": 1, "offset": 1})
    assert [i["id"] for i in second.json()["items"]] == [a["id"]]
    bad = await client.get("/api/v1/investigations", params={"status": "weird"})
    assert bad.status_code == 422


async def test_an_alert_named_only_by_a_deployment_label_is_found_by_service(
    make_client: MakeClient,
) -> None:
    """``service`` column and filter use ``prometheus.service_labels`` (``alert_service``)."""
    client = await make_client(deps=AppDeps(run_workers=False, run_scheduler=False))
    body = fixture_json("alertmanager_webhook_01_firing.json")
    for alert in body["alerts"]:
        alert["labels"] = {"alertname": "CartErrors", "k8s_deployment_name": "cart"}
    body["commonLabels"] = body["groupLabels"] = {"alertname": "CartErrors"}
    r = await client.post(WEBHOOK, json=body, headers=AUTH)
    assert r.status_code == 202
    found = (await client.get("/api/v1/investigations", params={"service": "cart"})).json()
    assert found["total"] == len(body["alerts"])
    assert {i["service"] for i in found["items"]} == {"cart"}


async def test_unknown_investigation_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/investigations/nope")).status_code == 404
    assert (await client.get("/api/v1/investigations/nope/events")).status_code == 404


async def test_read_api_requires_ui_token_when_set(make_client: MakeClient) -> None:
    client = await make_client(ui_token="ui-secret")
    assert (await client.get("/api/v1/investigations")).status_code == 401
    ok = await client.get("/api/v1/investigations", headers={"Authorization": "Bearer ui-secret"})
    assert ok.status_code == 200
    assert (await client.get("/healthz")).status_code == 200


async def test_deploys_post_validates_and_lists(client: httpx.AsyncClient) -> None:
    deploy = {
        "service": "checkout",
        "version": "v1.2.3",
        "commit": "abc123",
        "time": "2026-11-21T16:30:00Z",
    }
    assert (await client.post("/api/v1/deploys", json=deploy)).status_code == 401
    r = await client.post("/api/v1/deploys", json=deploy, headers=AUTH)
    assert r.status_code == 201
    deploy_id = r.json()["id"]
    listed = (await client.get("/api/v1/deploys")).json()["items"]
    assert listed[0]["id"] == deploy_id
    assert listed[0]["deploy"]["version"] == "v1.2.3"
    assert listed[0]["deploy"]["time"].startswith("2026-11-21T16:30:00")
    bogus = await client.post("/api/v1/deploys", json={**deploy, "bogus": 1}, headers=AUTH)
    assert bogus.status_code == 422
    assert bogus.json()["detail"][0]["loc"] == ["body", "bogus"]
    no_time = {k: v for k, v in deploy.items() if k != "time"}
    missing = await client.post("/api/v1/deploys", json=no_time, headers=AUTH)
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "time"]
    empty = await client.post("/api/v1/deploys", json={**deploy, "service": ""}, headers=AUTH)
    assert empty.status_code == 422
    garbage = await client.post("/api/v1/deploys", content=b"{nope", headers=AUTH)
    assert garbage.status_code == 400


async def test_metrics_expose_intake_and_queue_depth(make_client: MakeClient) -> None:
    client = await make_client(
        deps=AppDeps(run_workers=False, run_scheduler=False), queue_depth_warn=1
    )
    await send(client, "alertmanager_webhook_01_firing.json")
    await send(client, "alertmanager_webhook_02_firing.json")
    await client.post(WEBHOOK, content=b"{", headers=AUTH)
    text = (await client.get("/metrics")).text
    assert "correlator_queue_depth 2.0" in text
    assert "correlator_queue_over_limit 1.0" in text
    assert 'correlator_webhooks_total{outcome="accepted"} 2.0' in text
    assert 'correlator_webhooks_total{outcome="malformed"} 1.0' in text
    assert "# TYPE correlator_stage_seconds histogram" in text


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    deps = AppDeps(store=store, run_workers=False, run_scheduler=False)
    async with running_app(make_settings(tmp_path), deps) as client:
        r = await client.get("/readyz")
    await store.close()
    # aiosqlite leaves the worker thread of a failed connect to the garbage collector; collect
    # it while this loop is still open so its callback does not hit a closed loop later
    gc.collect()
    await asyncio.sleep(0)
    assert r.status_code == 503
    assert r.json()["database"] == "unreachable"


async def test_events_stream_resumes_and_includes_resolution(client: httpx.AsyncClient) -> None:
    a = await send(client, "alertmanager_webhook_01_firing.json")
    url = f"/api/v1/investigations/{a['id']}"

    async def done() -> bool:
        return bool((await client.get(url)).json()["status"] == "done")

    await wait_until(done)
    await send(client, "alertmanager_webhook_03_resolved.json")
    stream = await client.get(f"{url}/events")
    assert stream.headers["content-type"].startswith("text/event-stream")
    ids = [int(line[4:]) for line in stream.text.splitlines() if line.startswith("id: ")]
    kinds = [line[7:] for line in stream.text.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "started"
    assert "finished" in kinds
    assert kinds[-1] == "alert_resolved"
    assert ids == sorted(ids)
    resumed = await client.get(f"{url}/events", headers={"Last-Event-ID": str(ids[-2])})
    assert [ln for ln in resumed.text.splitlines() if ln.startswith("id: ")] == [f"id: {ids[-1]}"]
    got = (await client.get(url)).json()
    assert got["alert_status"] == "resolved"
    assert datetime.fromisoformat(got["alert"]["ends_at"]) < datetime.now(UTC)


async def test_read_api_accepts_the_ui_cookie(make_client: MakeClient) -> None:
    client = await make_client(ui_token="ui-secret")
    client.cookies.set("correlator_ui", "ui-secret")
    assert (await client.get("/api/v1/investigations")).status_code == 200
    client.cookies.set("correlator_ui", "wrong")
    assert (await client.get("/api/v1/investigations")).status_code == 401


async def test_read_api_off_loopback_without_ui_token_is_403(tmp_path: Path) -> None:
    deps = AppDeps(run_workers=False, run_scheduler=False)
    app_settings = make_settings(tmp_path, host="0.0.0.0")
    async with running_app(app_settings, deps) as client:
        r = await client.get("/api/v1/investigations")
        assert r.status_code == 403
        assert (await client.get("/healthz")).status_code == 200


async def test_read_api_from_a_remote_peer_without_ui_token_is_403(tmp_path: Path) -> None:
    from correlator.api import create_app

    app = create_app(make_settings(tmp_path), AppDeps(run_workers=False, run_scheduler=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            assert (await client.get("/api/v1/investigations")).status_code == 403
