"""Nezha per-pod CSV columns -> the series real exporters would have exposed (docs/datasets.md).

The Online Boutique manifests name every app container ``server`` and create no namespace, so
pods run in ``default``. Series and their sources:

=============================================  ==========================  ======================
series                                         labels                      from
=============================================  ==========================  ======================
``container_cpu_usage_seconds_total``          cAdvisor (kubelet):         ``CpuUsage(m)`` x dt
``container_memory_working_set_bytes``         job, metrics_path,          ``MemoryUsage(Mi)``
                                               namespace, pod, container
``container_network_{receive,transmit}_       cAdvisor, pod-level:        ``Network*Bytes`` x dt
bytes_total``                                  ... interface, no container
``kube_pod_owner``, ``kube_replicaset_owner``  kube-state-metrics          the pod name
``rpc_server_duration_seconds`` (summary       the service's own client,   ``PodServerLatency*``,
quantiles 0.9/0.95/0.99, ``_count``)           scraped via a               ``PodWorkload(Ops)`` x dt
``rpc_client_duration_seconds`` (summary)      ServiceMonitor: job,        ``PodClientLatency*``
``http_server_request_duration_seconds``       namespace, pod, service     ``front_service.csv``
(summary 0.5/0.9/0.95/0.99, frontend only)                                 latency quantiles
``http_requests_total{code}`` (frontend)                                   workload x success rate
=============================================  ==========================  ======================

Counters are integrals of the per-minute rates from the first row of the day (a counter that
starts at zero with the pod). The dataset has quantiles only, so latency is a summary (what a
client that computes quantiles exposes), never an invented histogram. ``PodSuccessRate(%)`` is
0 in every Online Boutique row (unused by the collector), so only the frontend has a by-code
request counter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from correlator.lab.datasets.nezha_raw import Row
from correlator.lab.datasets.om import Exemplar, Family, Labels, MetricType, labels

NAMESPACE = "default"
CONTAINER = "server"
FRONTEND = "frontend"

FAMILIES: dict[str, tuple[MetricType, str, str]] = {
    "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed", "seconds"),
    "container_memory_working_set_bytes": ("gauge", "Current working set", "bytes"),
    "container_network_receive_bytes_total": ("counter", "Cumulative bytes received", "bytes"),
    "container_network_transmit_bytes_total": ("counter", "Cumulative bytes transmitted", "bytes"),
    "kube_pod_owner": ("gauge", "Information about the Pod's owner.", ""),
    "kube_replicaset_owner": ("gauge", "Information about the ReplicaSet's owner.", ""),
    "rpc_server_duration_seconds": ("summary", "Duration of inbound RPCs.", "seconds"),
    "rpc_client_duration_seconds": ("summary", "Duration of outbound RPCs.", "seconds"),
    "http_server_request_duration_seconds": ("summary", "Duration of HTTP requests.", "seconds"),
    "http_requests_total": ("counter", "HTTP requests by status code.", ""),
}

RPC_QUANTILES = (("0.9", "P90"), ("0.95", "P95"), ("0.99", "P99"))
HTTP_QUANTILES = (("0.5", "P50"), ("0.9", "P90"), ("0.95", "P95"), ("0.99", "P99"))


def workload(pod: str) -> str:
    """``cartservice-579f59597d-wc2lz`` -> ``cartservice`` (Deployment pod naming)."""
    parts = pod.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else pod


def replicaset(pod: str) -> str:
    return pod.rsplit("-", 1)[0]


@dataclass
class Series:
    family: str
    suffix: str
    labels: Labels
    points: list[tuple[int, float]]


def _cadvisor(pod: str, **extra: str) -> Labels:
    return labels(
        job="kubelet", metrics_path="/metrics/cadvisor", namespace=NAMESPACE, pod=pod, **extra
    )


def _app(pod: str, **extra: str) -> Labels:
    svc = workload(pod)
    return labels(job=svc, namespace=NAMESPACE, pod=pod, service=svc, **extra)


def _integral(rows: list[Row], column: str, scale: float = 1.0) -> list[tuple[int, float]]:
    total, out, prev = 0.0, [], None
    for r in rows:
        if prev is not None and not math.isnan(r.num(column)):
            total += r.num(column) * scale * (r.ts_ms - prev) / 1000
        out.append((r.ts_ms, round(total, 6)))
        prev = r.ts_ms
    return out


def _count(rows: list[Row], column: str) -> list[tuple[int, float]]:
    total, out, prev = 0, [], None
    for r in rows:
        if prev is not None and not math.isnan(r.num(column)):
            total += round(r.num(column) * (r.ts_ms - prev) / 1000)
        out.append((r.ts_ms, float(total)))
        prev = r.ts_ms
    return out


def pod_series(pod: str, rows: list[Row]) -> list[Series]:
    """cAdvisor, kube-state-metrics and the service's own RPC series of one pod."""
    ts = [r.ts_ms for r in rows]
    c = _cadvisor(pod, container=CONTAINER)
    out = [
        Series("container_cpu_usage_seconds_total", "", c, _integral(rows, "CpuUsage(m)", 1e-3)),
        Series(
            "container_memory_working_set_bytes",
            "",
            c,
            [(r.ts_ms, r.num("MemoryUsage(Mi)") * 1048576) for r in rows],
        ),
        Series(
            "container_network_receive_bytes_total",
            "",
            _cadvisor(pod, interface="eth0"),
            _integral(rows, "NetworkReceiveBytes"),
        ),
        Series(
            "container_network_transmit_bytes_total",
            "",
            _cadvisor(pod, interface="eth0"),
            _integral(rows, "NetworkTransmitBytes"),
        ),
        Series(
            "kube_pod_owner",
            "",
            labels(
                job="kube-state-metrics",
                namespace=NAMESPACE,
                pod=pod,
                owner_kind="ReplicaSet",
                owner_name=replicaset(pod),
                owner_is_controller="true",
            ),
            [(t, 1.0) for t in ts],
        ),
        Series(
            "kube_replicaset_owner",
            "",
            labels(
                job="kube-state-metrics",
                namespace=NAMESPACE,
                replicaset=replicaset(pod),
                owner_kind="Deployment",
                owner_name=workload(pod),
                owner_is_controller="true",
            ),
            [(t, 1.0) for t in ts],
        ),
    ]
    if workload(pod) != FRONTEND:
        for q, col in RPC_QUANTILES:
            out.append(
                Series(
                    "rpc_server_duration_seconds",
                    "",
                    _app(pod, quantile=q),
                    [(r.ts_ms, r.num(f"PodServerLatency{col}(s)")) for r in rows],
                )
            )
        out.append(
            Series(
                "rpc_server_duration_seconds", "_count", _app(pod), _count(rows, "PodWorkload(Ops)")
            )
        )
    if any(r.num("PodClientLatencyP90(s)") > 0 for r in rows):
        for q, col in RPC_QUANTILES:
            out.append(
                Series(
                    "rpc_client_duration_seconds",
                    "",
                    _app(pod, quantile=q),
                    [(r.ts_ms, r.num(f"PodClientLatency{col}(s)")) for r in rows],
                )
            )
    return out


def frontend_series(pod: str, front: list[Row], pod_rows: list[Row]) -> list[Series]:
    """The frontend's HTTP series: latency quantiles and requests by code, per scrape."""
    out = [
        Series(
            "http_server_request_duration_seconds",
            "",
            _app(pod, quantile=q),
            [(r.ts_ms, r.num(f"Latency{col}(s)")) for r in front],
        )
        for q, col in HTTP_QUANTILES
    ]
    by_minute = {r.ts_ms // 60000: r for r in pod_rows}
    ok = err = 0
    ok_pts, err_pts, prev, ops = [], [], None, 0.0
    for r in front:
        pr = by_minute.get(r.ts_ms // 60000)
        ops = pr.num("PodWorkload(Ops)") if pr is not None else ops
        if prev is not None:
            n = round(ops * (r.ts_ms - prev) / 1000)
            e = round(n * (1 - r.num("SuccessRate(%)") / 100))
            ok, err = ok + n - e, err + e
        ok_pts.append((r.ts_ms, float(ok)))
        err_pts.append((r.ts_ms, float(err)))
        prev = r.ts_ms
    out.append(Series("http_requests_total", "", _app(pod, code="200"), ok_pts))
    out.append(Series("http_requests_total", "", _app(pod, code="500"), err_pts))
    return out


def families(
    series: Iterable[Series],
    start_ms: int,
    end_ms: int,
    exemplars: dict[tuple[str, Labels, int], Exemplar] | None = None,
) -> list[Family]:
    """The samples in ``[start, end]`` as OpenMetrics families (exemplars keyed by series+ts)."""
    fams: dict[str, Family] = {}
    ex = exemplars or {}
    for s in series:
        mtype, help_, unit = FAMILIES[s.family]
        fam = fams.setdefault(s.family, Family(s.family, mtype, help_, unit))
        for ts, v in s.points:
            if start_ms <= ts <= end_ms:
                fam.add(s.suffix, s.labels, ts, v, ex.get((s.family + s.suffix, s.labels, ts)))
    return list(fams.values())
