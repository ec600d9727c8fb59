"""Service identity: which workload a set of labels (or OTel resource attributes) is about.

One pure function for every place that needs "the alert's service" (intake, evidence, rules, API
filters, notes, UI). Real stacks name workloads in many ways, and exporters report *on* a
workload under their own name, so labels cannot be read literally:

- the workload's own instrumentation: ``service``, ``service_name`` / ``service.name`` (OTel),
  ``app_kubernetes_io_name``, ``app``, ``k8s_deployment_name``, ``job`` (the OTLP receiver writes
  ``job="<namespace>/<service>"``);
- an exporter reporting on it (cAdvisor, kube-state-metrics, kubelet volume stats, kafka
  exporter): the ``service``/``job`` label names the exporter and the workload sits in
  ``deployment``, ``pod`` (ReplicaSet/StatefulSet suffix stripped), ``container``,
  ``persistentvolumeclaim``, ``consumergroup`` or the ``exported_*`` twin of a clashing label.

No I/O and no settings object: callers pass the label names they are configured with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Labels naming a workload directly, most specific first (Prometheus and OTel spellings).
SERVICE_LABELS: tuple[str, ...] = (
    "service",
    "service_name",
    "service.name",
    "exported_service",
    "app_kubernetes_io_name",
    "app.kubernetes.io/name",
    "label_app_kubernetes_io_name",
    "app",
    "label_app",
    "k8s_deployment_name",
    "k8s.deployment.name",
    "deployment",
    "k8s_statefulset_name",
    "k8s.statefulset.name",
    "statefulset",
    "k8s_daemonset_name",
    "k8s.daemonset.name",
    "daemonset",
    "exported_job",
    "job",
)
# Labels of the *subject* an exporter reports on, read after the service labels (pod names are
# reduced to their workload; a container name is often generic, e.g. "server", so it comes last).
SUBJECT_LABELS: tuple[str, ...] = (
    "pod",
    "k8s_pod_name",
    "k8s.pod.name",
    "exported_pod",
    "persistentvolumeclaim",
    "consumergroup",
    "container",
    "k8s_container_name",
    "k8s.container.name",
    "exported_container",
)
POD_LABELS = frozenset({"pod", "k8s_pod_name", "k8s.pod.name", "exported_pod"})
# Values that name a reporter (exporter, scrape job, platform component), not a workload.
EXPORTER_PATTERN = re.compile(
    r"(?i)^(.*[-_]exporter|exporter[-_].*|kube-state-metrics|kubelet|cadvisor|node|"
    r"kubernetes-.*|kube-.*-metrics|prometheus|pushgateway|blackbox|apiserver|"
    r"otel-?collector|opentelemetry-collector|alloy|grafana-agent|vector|promtail|"
    r"integrations/.*|serviceMonitor/.*|podMonitor/.*)$"
)
GENERIC_CONTAINERS = frozenset({"", "POD", "server", "app", "main", "istio-proxy", "linkerd-proxy"})

# Kubernetes random suffixes use this alphabet (no vowels, no 0/1/3: k8s utilrand).
_K8S = "[bcdfghjklmnpqrstvwxz2456789]"
_REPLICASET_POD = re.compile(rf"^(?P<w>.+)-{_K8S}{{6,10}}-{_K8S}{{5}}$")
_CRONJOB_POD = re.compile(rf"^(?P<w>.+)-[0-9]{{8,10}}-{_K8S}{{5}}$")
_DAEMONSET_POD = re.compile(rf"^(?P<w>.+)-{_K8S}{{5}}$")
_STATEFULSET_POD = re.compile(r"^(?P<w>.+)-[0-9]+$")
# RE2 (PromQL) pattern of a workload's pod names; the workload part is filled in escaped.
POD_SUFFIX_RE2 = rf"-(?:{_K8S}{{6,10}}-{_K8S}{{5}}|{_K8S}{{5}}|[0-9]+)"


@dataclass(frozen=True)
class Identity:
    """The workload labels are about, the label it came from, and the exporter (if any) that
    reported it: ``Identity("checkout", "deployment", "kube-state-metrics")``."""

    service: str
    label: str
    exporter: str | None = None


def workload_of_pod(pod: str) -> str:
    """``checkout-7d9f8b6c5d-x2x4z`` -> ``checkout`` (Deployment), ``kafka-0`` -> ``kafka``
    (StatefulSet), ``node-exporter-x7k2p`` -> ``node-exporter`` (DaemonSet); else unchanged."""
    pod = pod.strip()
    for pattern in (_CRONJOB_POD, _REPLICASET_POD, _STATEFULSET_POD, _DAEMONSET_POD):
        m = pattern.match(pod)
        if m:
            return m.group("w")
    return pod


def _value(label: str, raw: str) -> str:
    value = raw.strip()
    if label in {"job", "exported_job"} and "/" in value and not EXPORTER_PATTERN.match(value):
        value = value.rsplit("/", 1)[-1]  # OTLP receiver: job="<namespace>/<service>"
    if label in POD_LABELS:
        value = workload_of_pod(value)
    if label == "persistentvolumeclaim":
        value = _STATEFULSET_POD.sub(r"\g<w>", value)  # data-kafka-0 -> data-kafka
    return value


def is_exporter(value: str) -> bool:
    return bool(EXPORTER_PATTERN.match(value.strip()))


def identify(labels: Mapping[str, str], names: Iterable[str] | None = None) -> Identity | None:
    """The workload ``labels`` are about: the first of ``names`` (the configured labels), then
    of ``SERVICE_LABELS``, whose value is not an exporter; else the first subject label (pod,
    claim, consumer group, container). ``None`` when nothing names a workload."""
    exporter: str | None = None
    order = dict.fromkeys((*(names or ()), *SERVICE_LABELS, *SUBJECT_LABELS))
    for label in order:
        raw = labels.get(label, "")
        if not raw or not raw.strip():
            continue
        value = _value(label, raw)
        if is_exporter(value):
            exporter = exporter or value
            continue
        if label in SUBJECT_LABELS and value in GENERIC_CONTAINERS:
            continue
        return Identity(value, label, exporter)
    return None


def service_of(labels: Mapping[str, str], names: Iterable[str] | None = None) -> str | None:
    """Just the workload name of ``identify``."""
    found = identify(labels, names)
    return found.service if found else None


def pod_regex(service: str) -> str:
    """An RE2 regex (unescaped for PromQL) matching the pod names of workload ``service``."""
    return re.escape(service).replace("\\-", "-") + POD_SUFFIX_RE2
