"""The rules' resource PromQL selects cAdvisor / kube-state-metrics series by pod, in a real
Prometheus (Debian package, backfilled with ``promtool``).

cAdvisor and kube-state-metrics series carry ``namespace``, ``pod``, ``container`` (and, for
cAdvisor, a pod-level cgroup series without ``container``), never ``service``. The series below
have exactly those label sets (names and labels as in the cAdvisor and kube-state-metrics metric
references); the workload ``cart`` has two ReplicaSet pods whose CPU rises at onset, and
``cart-db`` (another workload whose name starts with ``cart-``) burns CPU throughout.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from correlator.lab.simulator.promproc import PrometheusProcess
from correlator.models import MetricSeries
from correlator.rules import load_ruleset
from correlator.rules.signals import Context, resource_saturation
from tests.unit.rules import factories as f

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

RULES = Path(__file__).resolve().parents[2] / "rules"
STEP = 15
START = int(f.ONSET.timestamp()) - 3600
END = int(f.ONSET.timestamp()) + 300
PODS = {  # pod -> (cores before onset, cores after)
    "cart-5d8f7c9b6-q2w8z": (0.10, 0.90),
    "cart-5d8f7c9b6-xk7pm": (0.12, 0.85),
    "cart-db-0": (1.5, 1.5),
}


def _openmetrics() -> str:
    """Cumulative CPU seconds per pod: a container series and cAdvisor's pod-level cgroup series
    (no ``container`` label, same usage plus the pause container's crumbs)."""
    lines = ["# TYPE container_cpu_usage_seconds counter"]
    for pod, (before, after) in PODS.items():
        for labels, extra in (
            (f'container="server",namespace="shop",pod="{pod}"', 0.0),
            (f'namespace="shop",pod="{pod}"', 0.001),
        ):
            total = 0.0
            for t in range(START, END + 1, STEP):
                rate = (before if t < f.ONSET.timestamp() else after) + extra
                total += rate * STEP
                lines.append(f"container_cpu_usage_seconds_total{{{labels}}} {total:.3f} {t}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        pytest.skip("prometheus/promtool not installed (scripts/system-deps.sh)")
    proc = PrometheusProcess(_openmetrics(), workdir=tmp_path_factory.mktemp("pod-prom"))
    try:
        yield proc.start()
    finally:
        proc.stop()


def _query(url: str, expr: str) -> list[tuple[float, float]]:
    params = {"query": expr, "start": START + 600, "end": END, "step": STEP}
    doc = httpx.get(f"{url}/api/v1/query_range", params=params, timeout=10).json()
    assert doc["status"] == "success", doc
    result = doc["data"]["result"]
    assert len(result) <= 1
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


def test_alert_with_only_namespace_and_pod_gets_its_workloads_cpu(prometheus: str) -> None:
    ruleset = load_ruleset(RULES)
    alert = f.alert("PodHighLatency", namespace="shop", pod="cart-5d8f7c9b6-q2w8z")
    cpu = {
        q.service: q for q in ruleset.metric_queries(alert, ["cart"]) if q.name.startswith("cpu:")
    }
    points = _query(prometheus, cpu["cart"].expr)
    assert points, cpu["cart"].expr
    late = [v for t, v in points if t > f.ONSET.timestamp() + 180]
    early = [v for t, v in points if t < f.ONSET.timestamp() - 300]
    # both cart pods, each counted once (pod-level cgroup series not added to the container's)
    assert min(late) == pytest.approx(0.90 + 0.85 + 0.002, abs=0.02)
    assert max(early) == pytest.approx(0.10 + 0.12 + 0.002, abs=0.02)
    series = MetricSeries(
        evidence_id="metric:cpu:cart",
        name="cpu:cart",
        query=cpu["cart"].expr,
        service="cart",
        signal="cpu",
        points=points,
    )
    bundle = f.bundle(metrics=[series], the_alert=alert)
    res = resource_saturation(Context(bundle, ruleset.thresholds))
    assert "cart" in res.scores
    assert "cpu" in res.tags["cart"]


def test_similarly_named_workload_is_not_selected(prometheus: str) -> None:
    ruleset = load_ruleset(RULES)
    alert = f.alert("PodHighLatency", namespace="shop", pod="cart-db-0")
    assert ruleset.metric_queries(alert, ["cart-db"])[0].service == "cart-db"
    cpu = [q for q in ruleset.metric_queries(alert, ["cart-db"]) if q.name.startswith("cpu:")]
    points = _query(prometheus, cpu[0].expr)
    assert points
    assert all(v == pytest.approx(1.501, abs=0.02) for _, v in points[10:])
    assert _query(prometheus, cpu[0].expr.replace("cart-db", "cart-d")) == []
