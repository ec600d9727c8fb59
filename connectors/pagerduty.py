"""PagerDuty notifier: Events API v2 enrichment or REST incident notes (``pagerduty.mode``).

Events v2 (reference/wire-formats.md §7.2): ``POST events_url`` with ``routing_key``,
``event_action: trigger``, the ``dedup_key`` Alertmanager used (hex sha256 of the group key, so
the enrichment lands on the incident Alertmanager opened), ``payload.custom_details`` and
``links``. Success is **202**; 400 means the event is malformed (never retried); 429/5xx are
retried (shared policy in ``connectors/_http.py``, then the outbox's backoff).

REST notes (§7.3): the incident is found by its incident key (``GET /incidents?incident_key=``),
then ``POST /incidents/{id}/notes`` with ``Authorization: Token token=...`` and the required
``From:`` header. An incident that does not exist yet is retried later (Alertmanager may still be
opening it).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors._http import BackendClient, build_client
from correlator.errors import BackendRejected, NotifyError
from correlator.metrics import Metrics
from correlator.ports import DeliveryReceipt, OutboundNote
from correlator.settings import BackendSettings, PagerDutySettings

CHANNEL = "pagerduty"
NOTE_MAX = 24_000
REST_ACCEPT = "application/vnd.pagerduty+json;version=2"


class PagerDutyError(NotifyError):
    """PagerDuty refused the event or note (``errors`` from the 400 body when present)."""


def _cfg() -> BackendSettings:
    return BackendSettings(
        url=None,
        bearer_token=None,
        timeout_seconds=10.0,
        connect_timeout_seconds=3.0,
        retries=2,
        breaker_failures=5,
        breaker_reset_seconds=30.0,
    )


class PagerDutyNotifier:
    """``Notifier`` for both modes; the outbox sends ``enrich`` (events) or ``note`` (REST)."""

    def __init__(
        self,
        http: BackendClient,
        settings: PagerDutySettings,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http
        self.settings = settings
        self._client = client

    @classmethod
    def from_settings(
        cls,
        settings: PagerDutySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        **client_options: Any,
    ) -> PagerDutyNotifier:
        cfg = _cfg()
        client = build_client(cfg, transport=transport)
        http = BackendClient(CHANNEL, client, cfg, metrics=metrics, **client_options)
        return cls(http, settings, client=client)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, note: OutboundNote) -> DeliveryReceipt:
        if note.kind == "note":
            return await self._note(note)
        return await self._enqueue(note)

    async def _enqueue(self, note: OutboundNote) -> DeliveryReceipt:
        key = self.settings.routing_key
        if key is None:
            raise PagerDutyError(CHANNEL, "pagerduty.routing_key is not set", retryable=False)
        event = {"routing_key": key.get_secret_value(), **note.payload}
        try:
            response = await self.http.request("POST", self.settings.events_url, json=event)
        except BackendRejected as err:
            raise PagerDutyError(CHANNEL, f"event rejected: {err}", retryable=False) from err
        if response.status_code != 202:
            raise PagerDutyError(
                CHANNEL, f"expected 202, got {response.status_code}", retryable=False
            )
        data = self.http.decode_json(response)
        dedup = data.get("dedup_key") if isinstance(data, dict) else None
        return DeliveryReceipt(external_id=str(dedup or note.payload.get("dedup_key") or ""))

    def _rest_headers(self) -> dict[str, str]:
        s = self.settings
        if s.api_token is None or not s.from_email:
            raise PagerDutyError(
                CHANNEL, "notes mode needs pagerduty.api_token and from_email", retryable=False
            )
        return {
            "Authorization": f"Token token={s.api_token.get_secret_value()}",
            "Accept": REST_ACCEPT,
            "From": s.from_email,
        }

    async def _note(self, note: OutboundNote) -> DeliveryReceipt:
        headers = self._rest_headers()
        base = self.settings.api_url.rstrip("/")
        incident_key = str(note.payload.get("incident_key", ""))
        found = self.http.decode_json(
            await self.http.request(
                "GET", f"{base}/incidents", params={"incident_key": incident_key}, headers=headers
            )
        )
        incidents = found.get("incidents", []) if isinstance(found, dict) else []
        if not incidents:
            raise PagerDutyError(
                CHANNEL, f"no incident with key {incident_key[:16]}... yet", retryable=True
            )
        incident_id = str(incidents[0]["id"])
        content = str(note.payload.get("content", ""))[:NOTE_MAX]
        response = await self.http.request(
            "POST",
            f"{base}/incidents/{incident_id}/notes",
            json={"note": {"content": content}},
            headers=headers,
            retries=0,  # a retried note could be added twice; the outbox retries later
        )
        data = self.http.decode_json(response)
        note_id = data.get("note", {}).get("id") if isinstance(data, dict) else None
        return DeliveryReceipt(external_id=str(note_id or ""), target=incident_id)
