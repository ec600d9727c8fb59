import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from connectors.alertmanager import AlertmanagerAlerts
from correlator.errors import BackendBadResponse, BackendUnavailable
from correlator.models import AlertmanagerWebhook, AlertStatus
from correlator.settings import AlertmanagerSettings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"
ALERTS = (FIXTURES / "alertmanager_api_v2_alerts.json").read_bytes()


def source(
    handler: httpx.MockTransport, receiver: str | None = None, retries: int = 0
) -> AlertmanagerAlerts:
    cfg = AlertmanagerSettings(url="http://am.test", receiver=receiver, retries=retries)
    client = httpx.AsyncClient(base_url="http://am.test", transport=handler)
    return AlertmanagerAlerts(client, cfg)


def serving(status: int, body: bytes, seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


async def test_active_alerts_from_the_real_response() -> None:
    seen: list[httpx.Request] = []
    alerts = await source(serving(200, ALERTS, seen)).active_alerts()
    assert seen[0].url.path == "/api/v2/alerts"
    assert dict(seen[0].url.params) == {
        "active": "true",
        "silenced": "false",
        "inhibited": "false",
        "unprocessed": "false",
    }
    by_name = {a.alertname: a for a in alerts}
    backlog = by_name["DemoQueueBacklog"]
    assert backlog.status is AlertStatus.FIRING
    assert backlog.ends_at is None  # the API's endsAt is startsAt + resolve_timeout: ignored
    assert backlog.fingerprint == "cb14fc0c00f5862f"
    assert backlog.starts_at == datetime(2026, 11, 21, 16, 32, 54, 914000, tzinfo=UTC)
    assert backlog.expr == "demo_queue_depth > 5"
    assert backlog.receiver == "webhook"


async def test_same_identity_as_the_webhook_of_the_same_alert() -> None:
    hook = AlertmanagerWebhook.model_validate(
        json.loads((FIXTURES / "alertmanager_webhook_01_firing.json").read_text())
    )
    (from_hook,) = hook.to_alerts()
    alerts = await source(serving(200, ALERTS, [])).active_alerts()
    (from_api,) = [a for a in alerts if a.fingerprint == from_hook.fingerprint]
    assert (from_api.fingerprint, from_api.starts_at) == (
        from_hook.fingerprint,
        from_hook.starts_at,
    )


async def test_receiver_filter() -> None:
    assert len(await source(serving(200, ALERTS, []), receiver="webhook").active_alerts()) == 2
    assert await source(serving(200, ALERTS, []), receiver="other").active_alerts() == []


async def test_suppressed_alerts_are_skipped() -> None:
    data = json.loads(ALERTS)
    data[0]["status"]["state"] = "suppressed"
    alerts = await source(serving(200, json.dumps(data).encode(), [])).active_alerts()
    assert [a.alertname for a in alerts] == ["DemoQueueBacklog"]


async def test_errors_are_mapped() -> None:
    with pytest.raises(BackendUnavailable):
        await source(serving(503, b"down", [])).active_alerts()
    with pytest.raises(BackendBadResponse):
        await source(serving(200, b'[{"labels": 3}]', [])).active_alerts()
    with pytest.raises(BackendBadResponse):
        await source(serving(200, b"<html>", [])).active_alerts()
