"""Generic webhook notifier: POST the investigation summary JSON to ``webhook.url``.

The body is ``NoteRenderer.summary_json`` (version, investigation id, phase, alert, likely cause,
proposed action, what could not be checked, the Markdown note). Each delivery carries an
``Idempotency-Key`` header (stable per investigation and phase) so receivers can drop repeats;
an optional bearer token authenticates us. 2xx is success; 429/5xx are retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors._http import BackendClient, build_client
from correlator.errors import NotifyError
from correlator.metrics import Metrics
from correlator.ports import DeliveryReceipt, OutboundNote
from correlator.settings import BackendSettings, WebhookNotifierSettings

CHANNEL = "webhook"


class WebhookNotifier:
    def __init__(
        self, http: BackendClient, *, url: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.http = http
        self.url = url
        self._client = client

    @classmethod
    def from_settings(
        cls,
        settings: WebhookNotifierSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        **client_options: Any,
    ) -> WebhookNotifier:
        if not settings.url:
            raise ValueError("webhook.url is not set")
        cfg = BackendSettings(
            url=None,
            bearer_token=settings.bearer_token,
            timeout_seconds=10.0,
            connect_timeout_seconds=3.0,
            retries=2,
        )
        client = build_client(cfg, transport=transport)
        http = BackendClient(CHANNEL, client, cfg, metrics=metrics, **client_options)
        return cls(http, url=settings.url, client=client)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, note: OutboundNote) -> DeliveryReceipt:
        if not self.url:
            raise NotifyError(CHANNEL, "webhook.url is not set", retryable=False)
        await self.http.request(
            "POST",
            self.url,
            json=note.payload,
            headers={"Idempotency-Key": note.idempotency_key},
        )
        return DeliveryReceipt()
