"""The investigation JSON carries the notifications' delivery state from the outbox."""

from typing import Any

import httpx

from tests.api.conftest import AUTH, MakeClient, fixture_bytes, wait_until
from tests.notify.fakes import SLACK_TOKEN, FakeSlack

FIRING = "alertmanager_webhook_01_firing.json"


async def test_investigation_json_shows_slack_delivery_state(make_client: MakeClient) -> None:
    slack = FakeSlack().start()
    try:
        client = await make_client(
            slack={"bot_token": SLACK_TOKEN, "channel": "#alerts", "api_url": slack.url + "/api"}
        )
        r = await client.post(
            "/api/v1/webhooks/alertmanager", content=fixture_bytes(FIRING), headers=AUTH
        )
        inv_id = r.json()["investigations"][0]["id"]
        url = f"/api/v1/investigations/{inv_id}"

        async def delivered() -> bool:
            doc: dict[str, Any] = (await client.get(url)).json()
            return any(n["state"] == "delivered" for n in doc["notifications"])

        await wait_until(delivered)
        doc = (await client.get(url)).json()
        # rows of one message coalesce: an older version may be ``superseded`` (never sent, no
        # ts); the delivered one carries the Slack ts
        delivered = [n for n in doc["notifications"] if n["state"] == "delivered"]
        post = next(n for n in delivered if n["kind"] == "post")
        assert post["channel"] == "slack"
        assert post["external_id"]  # the Slack message ts, kept for chat.update
        assert slack.top_level(), "the fake Slack received the post"
    finally:
        slack.stop()


async def test_without_channels_notifications_are_empty(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/webhooks/alertmanager", content=fixture_bytes(FIRING), headers=AUTH
    )
    inv_id = r.json()["investigations"][0]["id"]
    doc = (await client.get(f"/api/v1/investigations/{inv_id}")).json()
    assert doc["notifications"] == []
