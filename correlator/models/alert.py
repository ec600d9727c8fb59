"""Alertmanager webhook v4 (inbound wire model) and the domain Alert.

Wire facts (REFERENCE.md §1, reference/wire-formats.md §1.1): firing alerts carry the Go zero time
as ``endsAt`` (go by ``status``); ``receiver`` is regex-escaped; newer Alertmanagers add
``notification_reason`` (0.32) and ``routeLabels`` (0.34), so unknown fields are accepted. Old
third-party captures lack ``fingerprint``/``generatorURL``/per-alert ``status``: tolerated.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from correlator.models.identity import service_of

GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
_NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def no_nul(value: str) -> str:
    """Strings that reach indexed columns: PostgreSQL text cannot hold NUL (a 500 there, D10)."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed in this field (it is indexed)")
    return value


NoNul = AfterValidator(no_nul)
LabelValue = Annotated[str, StringConstraints(max_length=16_384)]
Labels = dict[str, LabelValue]  # the domain's (stored documents load as they were written)
# What intake accepts (D10, D14). Label names: Prometheus sets no limit by default; real ones
# are short identifiers. Label values become indexed columns (alertname, the service label,
# group keys), so neither may hold NUL; annotations only live in the JSON document.
LABEL_NAME_MAX = 1_024
InLabelName = Annotated[str, StringConstraints(max_length=LABEL_NAME_MAX), NoNul]
InLabels = dict[InLabelName, Annotated[str, StringConstraints(max_length=16_384), NoNul]]
InAnnotations = dict[InLabelName, LabelValue]


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class WebhookAlert(BaseModel):
    """One element of ``alerts[]`` exactly as Alertmanager sends it."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: AlertStatus | None = None
    labels: InLabels
    annotations: InAnnotations = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL", max_length=65_536)
    fingerprint: Annotated[str, NoNul] = Field(default="", max_length=256)

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, v: dict[str, str]) -> dict[str, str]:
        if not v.get("alertname"):
            raise ValueError("labels.alertname is required")
        return v

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _rfc3339_only(cls, v: object) -> object:
        """Alertmanager sends RFC 3339 strings; a bare number (pydantic would read epoch
        seconds) is no Alertmanager payload and would place the alert anywhere in time (D14)."""
        if isinstance(v, int | float) or (isinstance(v, str) and _NUMERIC.fullmatch(v.strip())):
            raise ValueError("must be an RFC 3339 timestamp string, not a number")
        return v

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _naive_is_utc(cls, v: datetime | None) -> datetime | None:
        """A timestamp without offset is UTC (never compare naive with aware datetimes)."""
        return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


class AlertmanagerWebhook(BaseModel):
    """The Alertmanager webhook body, ``version: "4"``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: str = "4"
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: AlertStatus
    receiver: str = ""
    group_labels: InLabels = Field(default_factory=dict, alias="groupLabels")
    common_labels: InLabels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: InAnnotations = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert] = Field(min_length=1, max_length=10_000)

    def to_alerts(self) -> list[Alert]:
        return [Alert.from_webhook(a, self) for a in self.alerts]


def label_fingerprint(labels: Labels) -> str:
    """Stable 16-hex fingerprint for payloads that lack Alertmanager's own."""
    canon = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


class Alert(BaseModel):
    """Domain alert: one alert of a webhook, normalised."""

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    status: AlertStatus
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str = ""
    group_key: str = ""
    receiver: str = ""

    @field_validator("starts_at")
    @classmethod
    def _millisecond_identity(cls, v: datetime) -> datetime:
        """Identity is (fingerprint, startsAt): the webhook carries startsAt at full precision
        but Alertmanager's ``GET /api/v2/alerts`` truncates it to milliseconds, so reconciliation
        created a second investigation for sub-millisecond times (report D8). Truncate both."""
        return v.replace(microsecond=v.microsecond - v.microsecond % 1000)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def expr(self) -> str | None:
        """PromQL of the rule, from ``generatorURL``'s ``g0.expr`` (never fetched, only parsed)."""
        return promql_from_generator_url(self.generator_url)

    @property
    def log_expr(self) -> str | None:
        """LogQL of a Loki ruler alert linking to Grafana Explore (``logql_from_generator_url``)."""
        return logql_from_generator_url(self.generator_url)

    @classmethod
    def from_webhook(cls, a: WebhookAlert, hook: AlertmanagerWebhook) -> Alert:
        status = a.status or hook.status
        ends = a.ends_at if a.ends_at and a.ends_at > GO_ZERO_TIME else None
        starts = a.starts_at if a.starts_at.tzinfo else a.starts_at.replace(tzinfo=UTC)
        return cls(
            fingerprint=a.fingerprint or label_fingerprint(a.labels),
            status=status,
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at=starts,
            ends_at=ends if status is AlertStatus.RESOLVED else None,
            generator_url=a.generator_url,
            group_key=hook.group_key,
            receiver=hook.receiver,
        )


def alert_service(labels: Mapping[str, str], names: Iterable[str] | None = None) -> str | None:
    """The workload an alert is about (the one seam; see ``correlator.models.identity``):
    ``names`` are the configured service labels, else the built-in conventions."""
    return service_of(labels, names)


def logql_from_generator_url(url: str) -> str | None:
    """The LogQL of a Loki ruler alert (Loki >= 2.8 links to Grafana Explore:
    ``/explore?left={"queries":[{"expr":"<logql>","queryType":"range"}]}``, sometimes not
    URL-encoded). Never fetched, only parsed; ``None`` for any other link."""
    if not url or "/explore" not in url:
        return None
    try:
        values = parse_qs(urlsplit(url).query).get("left", [])
        doc = json.loads(values[0]) if values else None
    except ValueError:
        return None
    queries = doc.get("queries") if isinstance(doc, dict) else None
    if not isinstance(queries, list) or not queries or not isinstance(queries[0], dict):
        return None
    expr = queries[0].get("expr")
    return expr if isinstance(expr, str) and expr.strip() else None


def promql_from_generator_url(url: str) -> str | None:
    if not url:
        return None
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    values = query.get("g0.expr")
    return values[0] if values and values[0].strip() else None


class TimeWindow(BaseModel):
    """A closed time interval in UTC."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)

    @classmethod
    def around(cls, t: datetime, *, before: timedelta, after: timedelta) -> TimeWindow:
        return cls(start=t - before, end=t + after)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def shift(self, delta: timedelta) -> TimeWindow:
        return TimeWindow(start=self.start + delta, end=self.end + delta)
