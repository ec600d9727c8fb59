"""Bad input is a 4xx, never a 500 (reliability report D10)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import AUTH, fixture_json

HOOK = "/api/v1/webhooks/alertmanager"


@pytest.mark.parametrize("path", [HOOK, "/api/v1/deploys"])
async def test_huge_integer_literal_is_400(client: httpx.AsyncClient, path: str) -> None:
    """D10: an integer literal over 4,300 digits raised ValueError in json.loads: 500."""
    body = b'{"x": 1' + b"0" * 5000 + b"}"
    r = await client.post(path, content=body, headers=AUTH)
    assert r.status_code == 400
    assert "malformed JSON" in r.text


@pytest.mark.parametrize("path", ["/api/v1/investigations", "/api/v1/deploys"])
async def test_offset_beyond_int64_is_422(client: httpx.AsyncClient, path: str) -> None:
    """D10: ``offset >= 2**63`` overflowed SQLite: 500."""
    r = await client.get(path, params={"offset": str(2**63)}, headers=AUTH)
    assert r.status_code == 422


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_deploy_time_overflowing_utc_is_422(client: httpx.AsyncClient, when: str) -> None:
    """D10: the deploy ``time`` overflowed once converted to UTC: 500."""
    r = await client.post("/api/v1/deploys", json={"service": "x", "time": when}, headers=AUTH)
    assert r.status_code == 422
    assert "time" in r.text


async def test_oversized_label_key_is_422_naming_it_briefly(client: httpx.AsyncClient) -> None:
    """D14: a 900 kB label *key* was accepted and stored; now a 422 that names the labels field
    and the size, without echoing the whole key back."""
    body = fixture_json("alertmanager_webhook_01_firing.json")
    body["alerts"][0]["labels"]["k" * 900_000] = "v"
    r = await client.post(HOOK, json=body, headers=AUTH)
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"][:5] == ["body", "alerts", 0, "labels", f"{'k' * 80}... (900000 characters)"]
    assert "1024" in err["msg"]
    assert len(r.content) < 2_000


@pytest.mark.parametrize("value", [1764762000, 1764762000.5, "1764762000"])
async def test_numeric_starts_at_is_422(client: httpx.AsyncClient, value: object) -> None:
    """D14: ``startsAt`` as a number was read as epoch seconds; Alertmanager sends RFC 3339
    strings (as in the recorded payloads), so a number is a 422 naming startsAt."""
    body = fixture_json("alertmanager_webhook_01_firing.json")
    body["alerts"][0]["startsAt"] = value
    r = await client.post(HOOK, json=body, headers=AUTH)
    assert r.status_code == 422
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "alerts", 0, "startsAt"]
    assert "RFC 3339" in err["msg"]


async def test_recorded_rfc3339_starts_at_still_accepted(client: httpx.AsyncClient) -> None:
    """D14: the recorded Alertmanager payload (an RFC 3339 string) is still a 202."""
    body = fixture_json("alertmanager_webhook_01_firing.json")
    r = await client.post(HOOK, json=body, headers=AUTH)
    assert r.status_code == 202


def _with_nul(where: str) -> dict[str, object]:
    body = fixture_json("alertmanager_webhook_01_firing.json")
    alert = body["alerts"][0]
    if where == "fingerprint":
        alert["fingerprint"] = "ab\x00cd"
    elif where == "label key":
        alert["labels"]["team\x00"] = "x"
    else:
        alert["labels"][where] = f"{alert['labels'].get(where, 'x')}\x00tail"
    return body


@pytest.mark.parametrize("where", ["alertname", "service", "fingerprint", "label key"])
async def test_nul_in_indexed_alert_fields_is_422(client: httpx.AsyncClient, where: str) -> None:
    """D10: a NUL in alertname, the service label, a label name or the fingerprint was a 500
    on PostgreSQL (``invalid byte sequence for encoding "UTF8": 0x00``) and stored on SQLite;
    now a 422 naming the field on both databases."""
    r = await client.post(HOOK, json=_with_nul(where), headers=AUTH)
    assert r.status_code == 422, r.text
    assert "NUL" in r.text
    listed = await client.get("/api/v1/investigations", headers=AUTH)
    assert listed.json()["items"] == []


async def test_nul_in_deploy_service_is_422(client: httpx.AsyncClient) -> None:
    """D10: a NUL in the deploy ``service`` (an indexed column) is a 422 on both databases."""
    deploy = {"service": "check\x00out", "time": "2026-11-21T16:30:00Z"}
    r = await client.post("/api/v1/deploys", json=deploy, headers=AUTH)
    assert r.status_code == 422
    assert "NUL" in r.text


async def test_nul_in_annotations_is_stored(client: httpx.AsyncClient) -> None:
    """D10: annotations only live in the JSON document: a NUL there is kept on both databases."""
    body = fixture_json("alertmanager_webhook_01_firing.json")
    body["alerts"][0]["annotations"]["summary"] = "a\x00b"
    r = await client.post(HOOK, json=body, headers=AUTH)
    assert r.status_code == 202, r.text
