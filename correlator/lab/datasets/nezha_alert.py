"""The fixed alert rule set on the Online Boutique entry service and the webhook it produces.

Two symptoms an operator of the shop would page on, both on the frontend (the only service
users talk to): a latency quantile and the error ratio. The thresholds are not chosen here:
``nezha.choose_rules`` takes each from the fault-free baseline with one rounding rule
(``alerting.nice_ceiling``); ``floor`` keeps a ratio threshold above a single stray error.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from correlator.lab.datasets.alerting import Points, Rule
from correlator.lab.datasets.nezha_metrics import FRONTEND, NAMESPACE, Series

SEL = f'namespace="{NAMESPACE}", service="{FRONTEND}"'
PROMETHEUS_URL = "http://prometheus-k8s-0:9090"
ALERTMANAGER_URL = "http://alertmanager-main-0:9093"


def _pick(family: str, **want: str) -> Callable[[Sequence[Series]], list[Points]]:
    def pick(series: Sequence[Series]) -> list[Points]:
        return [
            s.points
            for s in series
            if s.family + s.suffix == family
            and dict(s.labels).get("service") == FRONTEND
            and all(dict(s.labels).get(k) == v for k, v in want.items())
        ]

    return pick


@dataclass(frozen=True)
class RuleSpec:
    name: str
    kind: Literal["instant", "ratio"]
    expr: str
    severity: str
    summary: str
    description: str
    floor: float
    num: Callable[[Sequence[Series]], list[Points]]
    den: Callable[[Sequence[Series]], list[Points]]

    def inputs(self, series: Sequence[Series]) -> tuple[list[Points], list[Points]]:
        return self.num(series), self.den(series)

    def rule(self, *, threshold: float) -> Rule:
        t = f"{threshold:g}"
        return Rule(
            name=self.name,
            expr=self.expr.replace("{threshold}", t),
            kind=self.kind,
            threshold=threshold,
            severity=self.severity,
            summary=self.summary.format(threshold=t),
            description=self.description.format(threshold=t),
        )


RULE_SPECS: tuple[RuleSpec, ...] = (
    RuleSpec(
        name="FrontendLatencyHigh",
        kind="instant",
        expr=(
            "max by (namespace, service) (http_server_request_duration_seconds{"
            + SEL
            + ', quantile="0.5"}) > {threshold}'
        ),
        severity="critical",
        summary="frontend median latency above {threshold}s",
        description="The frontend's median request latency has been above {threshold}s for 1m.",
        floor=0.0,
        num=_pick("http_server_request_duration_seconds", quantile="0.5"),
        den=_pick("http_server_request_duration_seconds", quantile="0.5"),
    ),
    RuleSpec(
        name="FrontendErrorRatioHigh",
        kind="ratio",
        expr=(
            "sum by (namespace, service) (rate(http_requests_total{"
            + SEL
            + ', code=~"5.."}[2m])) / sum by (namespace, service) (rate(http_requests_total{'
            + SEL
            + "}[2m])) > {threshold}"
        ),
        severity="critical",
        summary="frontend error ratio above {threshold}",
        description="More than {threshold} of the frontend's requests have failed for 1m.",
        floor=0.01,
        num=_pick("http_requests_total", code="500"),
        den=_pick("http_requests_total"),
    ),
)


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's alert fingerprint: FNV-1a 64 over sorted names and values, 0xff-separated
    (prometheus/common ``model.LabelSet.Fingerprint``)."""
    h = 0xCBF29CE484222325
    for k in sorted(labels):
        for part in (k.encode(), b"\xff", labels[k].encode(), b"\xff"):
            for byte in part:
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _iso(ms: int) -> str:
    t = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook(rule: Rule, fired_at_ms: int) -> dict[str, Any]:
    """The Alertmanager webhook v4 body for the rule firing at ``fired_at_ms`` (``startsAt``)."""
    labels = {
        "alertname": rule.name,
        "namespace": NAMESPACE,
        "service": FRONTEND,
        "severity": rule.severity,
    }
    annotations = {"description": rule.description, "summary": rule.summary}
    expr = urllib.parse.quote_plus(rule.expr)
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": _iso(fired_at_ms),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"{PROMETHEUS_URL}/graph?g0.expr={expr}&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }
    return {
        "receiver": "correlator",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": rule.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": ALERTMANAGER_URL,
        "version": "4",
        "groupKey": '{}:{alertname="' + rule.name + '"}',
        "truncatedAlerts": 0,
    }
