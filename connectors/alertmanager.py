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
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from connectors._http import BackendClient
from correlator.errors import BackendBadResponse
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


_ALERTS = TypeAdapter(list[_GettableAlert])


class AlertmanagerAlerts:
    """Active, unsilenced, uninhibited alerts (optionally only those routed to ``receiver``)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: AlertmanagerSettings,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._http = BackendClient(BACKEND, client, settings, metrics=metrics)
        self._receiver = settings.receiver

    async def active_alerts(self) -> list[Alert]:
        """Raises ``BackendError`` subclasses (mapped and retried by ``connectors._http``)."""
        params = {"active": True, "silenced": False, "inhibited": False, "unprocessed": False}
        body = await self._http.get_json(ALERTS_PATH, params=params)
        try:
            raw = _ALERTS.validate_python(body)
        except ValidationError as exc:
            msg = f"unexpected /api/v2/alerts body: {exc.error_count()} error(s), first: "
            raise BackendBadResponse(BACKEND, msg + str(exc.errors()[0]["loc"])) from exc
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
