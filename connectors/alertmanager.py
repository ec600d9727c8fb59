"""Alertmanager API v2 client: the active alerts, for reconciliation (``ports.ActiveAlertSource``).

``GET /api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=false`` returns
``gettableAlerts`` (api/v2/openapi.yaml): ``labels``, ``annotations``, ``startsAt``, ``endsAt``
(startsAt + resolve_timeout while firing: ignored), ``fingerprint``, ``receivers[].name``,
``status.state``, ``generatorURL``. ``fingerprint`` and ``startsAt`` are the same values the
webhook carries, so an alert seen both ways maps to one investigation.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from correlator.errors import BackendBadResponse, BackendUnavailable
from correlator.metrics import Metrics
from correlator.models import Alert, AlertStatus, Labels
from correlator.settings import AlertmanagerSettings

BACKEND = "alertmanager"
ALERTS_PATH = "/api/v2/alerts"


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class _AlertState(BaseModel):
    model_config = ConfigDict(extra="allow")
    state: str = "active"


class _GettableAlert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    fingerprint: str
    generator_url: str = Field(default="", alias="generatorURL")
    receivers: list[_Receiver] = Field(default_factory=list)
    status: _AlertState = Field(default_factory=_AlertState)


class AlertmanagerAlerts:
    """Active, unsilenced, uninhibited alerts (optionally only those routed to ``receiver``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: AlertmanagerSettings,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._client = client
        self._receiver = settings.receiver
        self._metrics = metrics

    async def active_alerts(self) -> list[Alert]:
        params = {"active": "true", "silenced": "false", "inhibited": "false"}
        params["unprocessed"] = "false"
        try:
            response = await self._client.get(ALERTS_PATH, params=params)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(BACKEND, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise BackendUnavailable(
                BACKEND, f"HTTP {response.status_code}", status=response.status_code
            )
        try:
            raw = [_GettableAlert.model_validate(a) for a in response.json()]
        except (ValueError, TypeError, ValidationError) as exc:
            raise BackendBadResponse(BACKEND, f"unexpected /api/v2/alerts body: {exc}") from exc
        return [self._to_alert(a) for a in raw if self._wanted(a)]

    def _wanted(self, alert: _GettableAlert) -> bool:
        if alert.status.state != "active" or not alert.labels.get("alertname"):
            return False
        return self._receiver is None or any(r.name == self._receiver for r in alert.receivers)

    def _to_alert(self, a: _GettableAlert) -> Alert:
        starts = a.starts_at if a.starts_at.tzinfo else a.starts_at.replace(tzinfo=UTC)
        receiver = self._receiver or (a.receivers[0].name if a.receivers else "")
        return Alert(
            fingerprint=a.fingerprint,
            status=AlertStatus.FIRING,
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at=starts,
            generator_url=a.generator_url,
            receiver=receiver,
        )
