"""Secrets are redacted where data enters: alerts and deploys at intake, evidence after the
evidence stage, so storage, API, UI, notes and prompts never hold them (report D3/D6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from correlator.metrics import Metrics
from correlator.models import EvidenceBundle, Investigation, InvestigationStatus
from correlator.pipeline import PipelineDeps, investigate
from correlator.settings import Settings
from tests.api.conftest import AUTH, fixture_json, wait_until
from tests.llm.bundles import PLANTED_SECRETS, checkout_bundle

DSN = "postgres://app:Sup3rS3cretPw@db-primary:5432/shop"
HOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/SLACKHOOKSECRET"


async def test_alert_annotations_are_redacted_before_storage(client: httpx.AsyncClient) -> None:
    """D6: the stored investigation (API) held every planted secret of the alert."""
    body = fixture_json("alertmanager_webhook_01_firing.json")
    body["alerts"][0]["annotations"]["description"] = f"db {DSN} hook {HOOK}"
    r = await client.post(
        "/api/v1/webhooks/alertmanager",
        json=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 202
    inv_id = r.json()["investigations"][0]["id"]

    async def stored() -> bool:
        return (await client.get(f"/api/v1/investigations/{inv_id}")).status_code == 200

    await wait_until(stored)
    text = (await client.get(f"/api/v1/investigations/{inv_id}")).text
    assert "Sup3rS3cretPw" not in text
    assert "SLACKHOOKSECRET" not in text
    assert "[REDACTED:password]" in text


async def test_group_labels_are_redacted_before_storage(client: httpx.AsyncClient) -> None:
    """D6 on the group path (``grouping: alertmanager``): the group's labels are label values
    too; a secret in them must not reach the stored group (API ``group.group_labels``)."""
    body = fixture_json("alertmanager_webhook_01_firing.json")
    body["groupLabels"]["dsn"] = DSN
    body["alerts"][0]["labels"]["dsn"] = DSN
    r = await client.post(
        "/api/v1/webhooks/alertmanager",
        json=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert r.status_code == 202
    inv_id = r.json()["investigations"][0]["id"]

    async def stored() -> bool:
        return (await client.get(f"/api/v1/investigations/{inv_id}")).status_code == 200

    await wait_until(stored)
    doc = (await client.get(f"/api/v1/investigations/{inv_id}")).json()
    assert doc["group"] is not None  # the group path was taken
    assert "Sup3rS3cretPw" not in json.dumps(doc)
    assert "[REDACTED:password]" in doc["group"]["group_labels"]["dsn"]


async def test_deploy_description_is_redacted_before_storage(client: httpx.AsyncClient) -> None:
    """D6: deploy text went verbatim to storage, Slack, PagerDuty and the webhook."""
    deploy = {
        "service": "checkout-api",
        "version": "2.3.1",
        "time": datetime.now(UTC).isoformat(),
        "description": f"migrate via {DSN} with GITHUB_TOKEN=abcdefabcdefabcdefabcdef",
    }
    r = await client.post(
        "/api/v1/deploys", json=deploy, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert r.status_code == 201
    listed = (await client.get("/api/v1/deploys")).text
    assert "Sup3rS3cretPw" not in listed
    assert "abcdefabcdefabcdefabcdef" not in listed
    assert "checkout-api" in listed


async def test_evidence_is_redacted_as_it_enters_the_pipeline() -> None:
    """D6: log lines, span attributes and change descriptions with secrets were stored and
    rendered as gathered; the pipeline now redacts the bundle once, right after evidence."""
    planted = checkout_bundle()

    async def evidence(inv: Investigation) -> EvidenceBundle:
        return planted

    now = datetime.now(UTC)
    inv = Investigation(
        id="inv-redact",
        fingerprint=planted.alert.fingerprint,
        alert=planted.alert,
        alert_status=planted.alert.status,
        status=InvestigationStatus.RUNNING,
        created_at=now,
        updated_at=now,
    )
    out = await investigate(
        inv, deps=PipelineDeps(evidence=evidence), settings=Settings(), metrics=Metrics()
    )
    dumped = json.dumps(out.model_dump(mode="json"))
    leaked: list[Any] = [s for s in PLANTED_SECRETS if s in dumped]
    assert leaked == []
    assert out.evidence is not None
    assert out.evidence.redactions
    assert sum(out.evidence.redactions.values()) >= len(PLANTED_SECRETS) - 1
