"""One investigation per Alertmanager group (``grouping: alertmanager``), on SQLite and PostgreSQL.

Bodies are the captured Alertmanager notification ``alertmanager_webhook_01_firing.json`` with
its one alert copied per ``instance`` (a group of N alerts, as Alertmanager sends it when N
targets fire the same rule); the copies carry no ``fingerprint`` so the model derives it from the
labels, as for any sender without one. Slack is the fake Web API server of ``tests/notify``
(answers recorded from the upstream OpenAPI examples).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from correlator.settings import SlackSettings
from tests.api.conftest import AUTH, MakeClient, fixture_json, wait_until
from tests.notify.fakes import SLACK_TOKEN, FakeSlack

WEBHOOK = "/api/v1/webhooks/alertmanager"
FIRING = "alertmanager_webhook_01_firing.json"


def notification(
    alerts: list[tuple[str, str]],
    *,
    resolved: tuple[str, ...] = (),
    starts_at: str | None = None,
) -> dict[str, Any]:
    """One group notification: ``(instance, service)`` per alert; ``resolved`` instances have
    status resolved (Alertmanager sends a group's resolved alerts with its firing ones)."""
    body = fixture_json(FIRING)
    template = body["alerts"][0]
    del template["fingerprint"]
    out = []
    for instance, service in alerts:
        a = copy.deepcopy(template)
        a["labels"].update(instance=instance, service=service)
        if starts_at is not None:
            a["startsAt"] = starts_at
        if instance in resolved:
            a["status"] = "resolved"
            a["endsAt"] = "2026-11-21T16:40:00Z"
        out.append(a)
    body["alerts"] = out
    body["status"] = "firing" if len(resolved) < len(alerts) else "resolved"
    return body


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> list[str]:
    r = await client.post(WEBHOOK, json=body, headers=AUTH)
    assert r.status_code == 202, r.text
    return [item["id"] for item in r.json()["investigations"]]


async def get(client: httpx.AsyncClient, inv_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = (await client.get(f"/api/v1/investigations/{inv_id}")).json()
    return doc


async def wait_status(client: httpx.AsyncClient, inv_id: str, status: str, **group: int) -> None:
    async def reached() -> bool:
        doc = await get(client, inv_id)
        same = all(doc["group"][k] == v for k, v in group.items())
        return bool(doc["status"] == status and same)

    await wait_until(reached)


async def total(client: httpx.AsyncClient) -> int:
    return int((await client.get("/api/v1/investigations")).json()["total"])


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


async def test_renotification_attaches_alerts_to_the_group_investigation(
    make_client: MakeClient,
) -> None:
    client = await make_client()
    first = await post(client, notification([("pod-a", "checkout"), ("pod-b", "checkout")]))
    assert len(set(first)) == 1
    await wait_status(client, first[0], "done")
    again = await post(
        client,
        notification([("pod-a", "checkout"), ("pod-b", "checkout"), ("pod-c", "checkout")]),
    )
    assert set(again) == {first[0]}
    doc = await get(client, first[0])
    group = doc["group"]
    assert group["group_key"] == '{}:{alertname="DemoQueueBacklog"}'
    assert group["receiver"] == "webhook"
    assert group["group_labels"] == {"alertname": "DemoQueueBacklog"}
    assert sorted(a["labels"]["instance"] for a in group["alerts"]) == ["pod-a", "pod-b", "pod-c"]
    assert (group["firing"], group["resolved"]) == (3, 0)
    # same service and expression: the scope did not widen, so no re-run
    assert doc["status"] == "done"
    assert group["revision"] == 0
    assert group["scope"] == ["checkout | demo_queue_depth > 5"]
    assert await total(client) == 1
    (summary,) = (await client.get("/api/v1/investigations")).json()["items"]
    assert (summary["alerts"], summary["alerts_firing"]) == (3, 3)
    assert summary["group_key"] == group["group_key"]
    page = (await client.get(f"/ui/investigations/{first[0]}")).text
    assert 'id="group-alerts"' in page
    assert all(f"instance=pod-{x}" in page for x in "abc")
    assert "(3 alerts)" in (await client.get("/ui/investigations")).text


async def test_group_resolves_when_its_last_alert_does(make_client: MakeClient) -> None:
    client = await make_client()
    pods = [("pod-a", "checkout"), ("pod-b", "checkout")]
    (inv_id, _) = await post(client, notification(pods))
    await wait_status(client, inv_id, "done")
    await post(client, notification(pods, resolved=("pod-a",)))
    doc = await get(client, inv_id)
    assert doc["alert_status"] == "firing"
    assert (doc["group"]["firing"], doc["group"]["resolved"]) == (1, 1)
    await post(client, notification(pods, resolved=("pod-a", "pod-b")))
    doc = await get(client, inv_id)
    assert doc["alert_status"] == "resolved"
    assert (doc["group"]["firing"], doc["group"]["resolved"]) == (0, 2)
    assert {a["status"] for a in doc["group"]["alerts"]} == {"resolved"}
    # the same group firing again later is a new incident: a new investigation
    (later, _) = await post(client, notification(pods, starts_at="2026-11-22T09:00:00Z"))
    assert later != inv_id
    assert await total(client) == 2


async def test_scope_widening_reruns_and_edits_the_same_slack_message(
    make_client: MakeClient, slack: FakeSlack
) -> None:
    slack_settings = SlackSettings(
        bot_token=SecretStr(SLACK_TOKEN), channel="#alerts", api_url=f"{slack.url}/api"
    )
    client = await make_client(slack=slack_settings, group_debounce_seconds=0.0)
    (inv_id,) = await post(client, notification([("pod-a", "checkout")]))
    await wait_status(client, inv_id, "done")

    async def posted() -> bool:
        return len(slack.top_level()) == 1

    await wait_until(posted)
    (key,) = [k for k, m in slack.messages.items() if not m.get("thread_ts")]
    joined = await post(client, notification([("pod-a", "checkout"), ("pod-x", "payments")]))
    assert set(joined) == {inv_id}
    await wait_status(client, inv_id, "done", revision=1, firing=2)
    doc = await get(client, inv_id)
    assert doc["group"]["scope"] == [
        "checkout | demo_queue_depth > 5",
        "payments | demo_queue_depth > 5",
    ]

    async def edited() -> bool:
        return bool(slack.messages[key]["updates"] >= 1)

    await wait_until(edited)
    updates = [r for r in slack.requests if r.path.endswith("/chat.update")]
    assert {r.body["ts"] for r in updates} == {key[1]}
    assert len(slack.top_level()) == 1  # one message per group, edited in place
    assert await total(client) == 1


async def test_grouping_alert_keeps_one_investigation_per_alert(make_client: MakeClient) -> None:
    client = await make_client(grouping="alert")
    ids = await post(client, notification([("pod-a", "checkout"), ("pod-b", "checkout")]))
    assert len(set(ids)) == 2
    again = await post(client, notification([("pod-a", "checkout"), ("pod-b", "checkout")]))
    assert again == ids
    docs = [await get(client, i) for i in ids]
    assert [d["group"] for d in docs] == [None, None]
    assert [d["alert"]["labels"]["instance"] for d in docs] == ["pod-a", "pod-b"]
    assert await total(client) == 2
