"""``POST /api/v1/investigations/{id}/feedback``, ``GET /api/v1/accuracy`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

import httpx

from correlator.api import AppDeps
from tests.api.conftest import AUTH, MakeClient, fixture_bytes

WEBHOOK = "/api/v1/webhooks/alertmanager"
NO_WORK = AppDeps(run_workers=False, run_scheduler=False)


async def queued_investigation(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.post(
        WEBHOOK, content=fixture_bytes("alertmanager_webhook_01_firing.json"), headers=AUTH
    )
    assert r.status_code == 202
    item: dict[str, Any] = r.json()["investigations"][0]
    return item


def url(inv_id: str) -> str:
    return f"/api/v1/investigations/{inv_id}/feedback"


async def test_feedback_round_trip_through_the_api(make_client: MakeClient) -> None:
    client = await make_client(deps=NO_WORK)
    inv = await queued_investigation(client)
    r = await client.post(url(inv["id"]), json={"verdict": "correct", "by": "alice"})
    assert r.status_code == 201
    assert r.json()["verdict"] == "correct"
    assert r.json()["source"] == "api"
    wrong = {
        "verdict": "wrong",
        "root_cause": {"service": "postgres", "fault_type": "database_slow", "change": "v2"},
        "note": "rolled back the migration",
        "by": "bob",
    }
    assert (await client.post(url(inv["id"]), json=wrong)).status_code == 201
    got = (await client.get(f"/api/v1/investigations/{inv['id']}")).json()
    assert [f["verdict"] for f in got["feedback"]] == ["correct", "wrong"]  # last one wins
    assert got["feedback"][-1]["root_cause"]["service"] == "postgres"
    table = (await client.get("/api/v1/accuracy")).json()
    assert table["overall"]["total"] == 1
    assert table["overall"]["wrong"] == 1
    assert table["by_alertname"][0]["key"] == got["alert"]["labels"]["alertname"]
    metrics = (await client.get("/metrics")).text
    assert 'correlator_feedback_total{source="api",verdict="wrong"} 1.0' in metrics
    key = got["alert"]["labels"]["alertname"]
    assert f'correlator_verdicts{{by="alertname",key="{key}",verdict="wrong"}} 1.0' in metrics
    assert f'correlator_verdicts_confirmed_ratio{{by="alertname",key="{key}"}} 0.0' in metrics


async def test_feedback_rejects_bad_input(make_client: MakeClient) -> None:
    client = await make_client(deps=NO_WORK)
    inv = await queued_investigation(client)
    assert (await client.post(url("nope"), json={"verdict": "correct"})).status_code == 404
    assert (await client.post(url(inv["id"]), json={"verdict": "maybe"})).status_code == 422
    extra = {"verdict": "correct", "score": 1}
    assert (await client.post(url(inv["id"]), json=extra)).status_code == 422
    form = await client.post(url(inv["id"]), data={"verdict": "correct"})
    assert form.status_code == 415  # a cross-site HTML form cannot post JSON
    bad = await client.post(
        url(inv["id"]), content=b"{", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert (await client.get("/api/v1/accuracy", params={"since": "soon"})).status_code == 422


async def test_feedback_auth_ui_token_or_feedback_token(make_client: MakeClient) -> None:
    client = await make_client(deps=NO_WORK, ui_token="ui-secret", feedback_token="fb-secret")
    inv = await queued_investigation(client)
    body = {"verdict": "partly"}
    assert (await client.post(url(inv["id"]), json=body)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post(url(inv["id"]), json=body, headers=wrong)).status_code == 401
    for token in ("fb-secret", "ui-secret"):
        ok = await client.post(
            url(inv["id"]), json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 201
    # the feedback token writes verdicts but does not open the read API
    fb_only = {"Authorization": "Bearer fb-secret"}
    assert (await client.get("/api/v1/accuracy", headers=fb_only)).status_code == 401
    ui = {"Authorization": "Bearer ui-secret"}
    table = (await client.get("/api/v1/accuracy", headers=ui, params={"since": "30d"})).json()
    assert table["overall"]["partly"] == 1
    assert table["overall"]["total"] == 1
