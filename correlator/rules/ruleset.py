"""The merged, validated rules of a directory and what the engine asks of them."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from correlator.models import Alert, MetricQuery
from correlator.models.identity import pod_regex
from correlator.rules.render import render_promql
from correlator.rules.schema import (
    FaultTyping,
    MetricSignal,
    MetricTemplate,
    NextQueries,
    RemediationTemplates,
    Rule,
    Settings,
    SignalName,
    Strict,
    Thresholds,
)
from correlator.rules.templates import promql_values

SIGNAL_OF_METRIC: dict[MetricSignal, SignalName] = {
    MetricSignal.REQUEST_RATE: SignalName.TRAFFIC,
    MetricSignal.ERROR_RATIO: SignalName.ERROR_ORIGIN,
    MetricSignal.LATENCY: SignalName.LATENCY_ORIGIN,
}  # every other metric signal feeds the resource signal

DEFAULT_WEIGHTS: dict[SignalName, float] = {
    SignalName.ERROR_ORIGIN: 3.0,
    SignalName.LATENCY_ORIGIN: 3.0,
    SignalName.LOGS: 1.0,
    SignalName.CHANGE: 1.5,
    SignalName.RESOURCE: 2.5,
    SignalName.TOPOLOGY: 1.0,
    SignalName.TRAFFIC: 2.0,
}


class RuleSet(Strict):
    rules: list[Rule] = Field(default_factory=list)
    weights: dict[SignalName, float] = Field(default_factory=dict)
    metrics: list[MetricTemplate] = Field(default_factory=list)
    remediation: RemediationTemplates = Field(default_factory=RemediationTemplates)
    next_queries: NextQueries = Field(default_factory=NextQueries)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    settings: Settings = Field(default_factory=Settings)
    fault_typing: FaultTyping | None = Field(
        default=None, description="None: every suspect is typed FaultTyping.default"
    )
    sources: list[str] = Field(default_factory=list, description="files merged, in order")

    def rules_for(self, alert: Alert) -> list[Rule]:
        return [r for r in self.rules if r.match.matches(alert)]

    def weights_for(self, alert: Alert) -> dict[SignalName, float]:
        """Signals of every matching rule. Per signal, the first matching rule (files by name,
        then list order) that lists it sets its weight (its override, else ``weights``).

        With no matching rule every signal applies with its default weight.
        """
        base = {**DEFAULT_WEIGHTS, **self.weights}
        matched = self.rules_for(alert)
        if not matched:
            return dict(sorted(base.items()))
        out: dict[SignalName, float] = {}
        for rule in matched:
            for sig in rule.signals:
                if sig not in out:
                    out[sig] = rule.weights.get(sig, base[sig])
        return dict(sorted(out.items()))

    def service_label_for(self, alert: Alert) -> str:
        """The label naming services in this alert's world (``service``, ``service_name``,
        ``app``...): the first of ``alert_service_labels`` the alert carries."""
        for label in self.settings.alert_service_labels:
            if alert.labels.get(label):
                return label
        return self.settings.service_label

    def namespace_of(self, alert: Alert) -> str:
        return alert.labels.get(self.settings.namespace_label, "")

    def metric_queries(self, alert: Alert, services: Iterable[str]) -> list[MetricQuery]:
        """The per-service PromQL the evidence chain should run for the signals that apply."""
        applies = self.weights_for(alert)
        wanted = [
            m
            for m in self.metrics
            if SIGNAL_OF_METRIC.get(m.signal, SignalName.RESOURCE) in applies
        ]
        namespace = self.namespace_of(alert)
        out: list[MetricQuery] = []
        for service in sorted(set(services)):
            for m in wanted:
                expr = render_promql(
                    m.expr,
                    promql_values(
                        service=service,
                        namespace=namespace,
                        alertname=alert.alertname,
                        pod_regex=pod_regex(service),
                    ),
                    service_label=self.service_label_for(alert),
                    namespace_label=self.settings.namespace_label,
                    expr=alert.expr or "",
                )
                out.append(
                    MetricQuery(
                        name=f"{m.name}:{service}",
                        expr=expr,
                        service=service,
                        signal=m.signal.value,
                    )
                )
        return out
