"""Service identity (``correlator.models.identity``): label conventions of real stacks.

Label sets are shaped like real series: cAdvisor (``namespace``, ``pod``, ``container``, no
``service``), kube-state-metrics scraped through a Service (``service="kube-state-metrics"``,
``job="kube-state-metrics"``), the OTLP receiver's ``job="<namespace>/<service>"``, kafka
exporter's ``consumergroup``, kubelet volume stats' ``persistentvolumeclaim``.
"""

from __future__ import annotations

import re

import pytest

from correlator.models import alert_service
from correlator.models.identity import identify, pod_regex, service_of, workload_of_pod


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("frontend-579b9bff58-t2dbm", "frontend"),  # Deployment (ReplicaSet hash + id)
        ("checkout-7d9f8b6c5d-x2x4z", "checkout"),
        ("kafka-0", "kafka"),  # StatefulSet
        ("node-exporter-x7k2p", "node-exporter"),  # DaemonSet
        ("backup-28340160-bq7zv", "backup"),  # CronJob's Job pod
        ("my-cache", "my-cache"),  # vowels: not a k8s random suffix
        ("redis", "redis"),
    ],
)
def test_pod_to_workload(pod: str, workload: str) -> None:
    assert workload_of_pod(pod) == workload


def test_alert_with_only_namespace_and_pod() -> None:
    labels = {"alertname": "PodCPUHigh", "namespace": "shop", "pod": "cart-5d8f7c9b6-q2w8z"}
    found = identify(labels)
    assert found is not None
    assert (found.service, found.label) == ("cart", "pod")


def test_service_label_naming_an_exporter_is_not_the_workload() -> None:
    labels = {
        "alertname": "KubePodCrashLooping",
        "service": "kube-state-metrics",
        "job": "kube-state-metrics",
        "namespace": "shop",
        "pod": "payment-6b4f9d7c8-mz9lk",
        "container": "payment",
    }
    found = identify(labels)
    assert found is not None
    assert found.service == "payment"
    assert found.exporter == "kube-state-metrics"


def test_generic_container_name_falls_back_to_pod() -> None:
    # cAdvisor series of Online-Boutique-like manifests: every container is called "server"
    labels = {"namespace": "shop", "pod": "currency-6f7b8c9d5-bcdfg", "container": "server"}
    assert service_of(labels) == "currency"
    assert service_of({"container": "server"}) is None


def test_otlp_receiver_job_is_namespace_slash_service() -> None:
    assert service_of({"job": "shop/checkout"}) == "checkout"
    assert service_of({"job": "kubernetes-pods", "app": "ad"}) == "ad"


def test_consumergroup_and_claim_name_the_subject() -> None:
    assert service_of({"job": "kafka-exporter", "consumergroup": "billing"}) == "billing"
    lag = {"service": "kubelet", "persistentvolumeclaim": "data-postgres-0"}
    assert service_of(lag) == "data-postgres"


def test_configured_names_come_first_then_conventions() -> None:
    labels = {"service": "edge", "team_service": "orders"}
    assert alert_service(labels, ["team_service"]) == "orders"
    assert alert_service(labels) == "edge"
    assert alert_service({"k8s_deployment_name": "quote"}, ["service"]) == "quote"
    assert alert_service({"alertname": "X"}) is None


def test_pod_regex_matches_only_that_workloads_pods() -> None:
    rx = re.compile(pod_regex("cart"))
    assert rx.fullmatch("cart-5d8f7c9b6-q2w8z")
    assert rx.fullmatch("cart-0")
    assert not rx.fullmatch("cart-db-5d8f7c9b6-q2w8z")
    assert not rx.fullmatch("cartservice-5d8f7c9b6-q2w8z")
    assert re.compile(pod_regex("a.b")).fullmatch("axb-0") is None
