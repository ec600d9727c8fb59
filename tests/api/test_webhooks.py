from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import AUTH, TOKEN, fixture_bytes, fixture_json, wait_until

URL = "/api/v1/webhooks/alertmanager"
FIRING = "alertmanager_webhook_01_firing.json"


async def post(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    h = {"Content-Type": "application/json", **(AUTH if headers is None else headers)}
    return await client.post(URL, content=body, headers=h)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": "Bearer"},
    ],
)
async def test_wrong_or_missing_token_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    r = await post(client, fixture_bytes(FIRING), headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/api/v1/investigations")).json()["total"] == 0


async def test_open_when_no_token_configured(make_client: Any) -> None:
    client = await make_client(webhook_token=None)
    assert (await post(client, fixture_bytes(FIRING), {})).status_code == 202


async def test_real_webhook_is_accepted_after_durable_store(client: httpx.AsyncClient) -> None:
    r = await post(client, fixture_bytes(FIRING))
    assert r.status_code == 202
    (item,) = r.json()["investigations"]
    assert item["fingerprint"] == "cb14fc0c00f5862f"
    assert item["status"] in {"queued", "running", "done"}
    got = (await client.get(f"/api/v1/investigations/{item['id']}")).json()
    assert got["alert"]["labels"]["alertname"] == "DemoQueueBacklog"


async def test_resend_is_idempotent(client: httpx.AsyncClient) -> None:
    ids = {
        (await post(client, fixture_bytes(FIRING))).json()["investigations"][0]["id"]
        for _ in range(3)
    }
    assert len(ids) == 1
    assert (await client.get("/api/v1/investigations")).json()["total"] == 1
    metrics = (await client.get("/metrics")).text
    assert 'correlator_alerts_total{result="duplicate"} 2.0' in metrics
    assert 'correlator_alerts_total{result="new"} 1.0' in metrics


async def test_resolved_marks_the_alert_resolved(client: httpx.AsyncClient) -> None:
    first = (await post(client, fixture_bytes(FIRING))).json()["investigations"][0]
    r = await post(client, fixture_bytes("alertmanager_webhook_03_resolved.json"))
    assert r.status_code == 202
    assert r.json()["investigations"][0]["id"] == first["id"]
    got = (await client.get(f"/api/v1/investigations/{first['id']}")).json()
    assert got["alert_status"] == "resolved"
    assert got["alert"]["ends_at"].startswith("2026-11-21T16:3")


async def test_resolved_without_firing_creates_the_investigation(client: httpx.AsyncClient) -> None:
    r = await post(client, fixture_bytes("alertmanager_webhook_03_resolved.json"))
    assert r.status_code == 202
    (item,) = r.json()["investigations"]
    got = (await client.get(f"/api/v1/investigations/{item['id']}")).json()
    assert got["alert_status"] == "resolved"


async def test_legacy_shape_is_tolerated(client: httpx.AsyncClient) -> None:
    r = await post(client, fixture_bytes("prometheus-msteams_prom_post_request.json"))
    assert r.status_code == 202
    assert len(r.json()["investigations"]) >= 1


async def test_pipeline_without_backends_names_what_is_missing_and_accuses_no_one(
    client: httpx.AsyncClient,
) -> None:
    inv_id = (await post(client, fixture_bytes(FIRING))).json()["investigations"][0]["id"]
    url = f"/api/v1/investigations/{inv_id}"

    async def done() -> bool:
        return bool((await client.get(url)).json()["status"] == "done")

    await wait_until(done)
    got = (await client.get(url)).json()
    assert got["expr"] == "demo_queue_depth > 5"
    assert got["partial"] is None
    # No backend is configured in this app: every envelope says so, none is invented.
    by_source: dict[str, set[str]] = {}
    for item in got["evidence"]["items"]:
        by_source.setdefault(item["source"], set()).add(item["status"])
    assert {s for src, st in by_source.items() if src != "correlator" for s in st} == {
        "not_configured"
    }
    assert by_source.get("correlator", {"no_data"}) == {"no_data"}  # our own deploy store: empty
    assert got["evidence"]["exemplars"] == []
    assert got["evidence"]["traces"] == []
    assert got["analysis"]["hypotheses"] == []
    assert got["analysis"]["insufficient"]["missing"]
    assert got["note"]
    assert [s["name"] for s in got["stages"]] == ["alert", "evidence", "rules", "llm"]
    assert got["attempts"] == 1
    starts = datetime.fromisoformat(got["alert"]["starts_at"])
    assert datetime.fromisoformat(got["window_start"]) == starts - timedelta(seconds=900)
    assert datetime.fromisoformat(got["window_end"]) == starts + timedelta(seconds=120)
    events = (await client.get(f"{url}/events")).text
    assert "event: started" in events
    assert "event: stage" in events
    assert events.rstrip().splitlines()[-1].startswith("data: ")
    assert "event: finished" in events
    metrics = (await client.get("/metrics")).text
    assert 'correlator_stage_seconds_count{stage="alert",status="ok"}' in metrics
    assert 'correlator_investigations_total{status="done"} 1.0' in metrics


async def test_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    r = await post(client, body)
    assert r.status_code == 413


async def test_body_over_limit_without_content_length_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"pad": "'
        for _ in range(70):
            yield b"x" * 16384
        yield b'"}'

    r = await client.post(
        URL, content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413


async def test_body_just_under_limit_is_parsed(make_client: Any) -> None:
    client = await make_client(body_limit_bytes=4096)
    body = fixture_bytes(FIRING)
    assert len(body) < 4096
    assert (await post(client, body)).status_code == 202
    assert (await post(client, body + b" " * (4097 - len(body)))).status_code == 413


@pytest.mark.parametrize("body", [b"", b"{", b'{"status": "firing",', b"\xff\xfe\x00", b"[" * 5000])
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    r = await post(client, body)
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["detail"]


async def test_schema_error_is_422_with_field_path(client: httpx.AsyncClient) -> None:
    body = fixture_json(FIRING)
    del body["alerts"][0]["labels"]["alertname"]
    body["alerts"][0]["startsAt"] = "yesterday"
    r = await client.post(URL, json=body, headers=AUTH)
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "alerts", 0, "labels"] in locs
    assert ["body", "alerts", 0, "startsAt"] in locs
    r = await client.post(URL, json={"status": "firing"}, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "alerts"]


async def test_openapi_documents_the_webhook_body(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"][URL]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/AlertmanagerWebhook"
    assert "WebhookAlert" in spec["components"]["schemas"]
    assert "202" in op["responses"]


@pytest.mark.parametrize(
    "starts_at",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00Z",
        "1969-01-01T00:00:00Z",
    ],
)
async def test_extreme_timestamps_are_not_5xx(client: httpx.AsyncClient, starts_at: str) -> None:
    body = fixture_json(FIRING)
    body["alerts"][0]["startsAt"] = starts_at
    r = await client.post(URL, json=body, headers=AUTH)
    assert r.status_code in {202, 422}


@pytest.mark.parametrize("ends_at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
async def test_extreme_end_times_are_not_5xx(client: httpx.AsyncClient, ends_at: str) -> None:
    body = fixture_json("alertmanager_webhook_03_resolved.json")
    body["alerts"][0]["endsAt"] = ends_at
    r = await client.post(URL, json=body, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "alerts", 0, "endsAt"]


async def test_naive_timestamps_are_not_5xx(client: httpx.AsyncClient) -> None:
    body = fixture_json("alertmanager_webhook_03_resolved.json")
    body["alerts"][0]["startsAt"] = "2026-11-21T16:32:54"
    body["alerts"][0]["endsAt"] = "2026-11-21T16:40:00"
    r = await client.post(URL, json=body, headers=AUTH)
    assert r.status_code in {202, 422}
