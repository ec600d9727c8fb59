"""Figure 4, alert storm: ``alerts`` alerts in ``groups`` groups within ``window`` seconds.

A real ``correlator serve`` whose backends are the simulator (one scenario, real Prometheus,
``latency_ms`` added to every backend request).
Each group is an Alertmanager group (same alertname/service, alerts differing by ``instance``,
one ``startsAt`` per group); it is notified three times like Alertmanager does: first with half
of its alerts, then with all of them (the first half re-sent), then all again (group_interval
re-send). The service runs its workers in ``worker_processes`` processes (``serve
--worker-processes``) and is measured once they are up. Counted: webhooks accepted,
investigations (one per group with ``grouping: alertmanager``, the default; one per distinct
alert with ``grouping: alert``), backend requests at the simulator (total vs distinct), peak RSS
(``VmHWM``) of the HTTP process and of the process tree (sum over the worker processes), CPU of
the tree, and the time from the first notification until every investigation is done.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from correlator.lab.bench.payloads import alert, status_counts, webhook
from correlator.lab.bench.service import (
    Service,
    child_pids,
    peak_rss_kib,
    peak_rss_tree_kib,
    running_service,
    wait_workers,
)
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.harness import _merge
from correlator.lab.simulator.server import RunningSimulator, running_simulator

PENDING = ("queued", "running")


def _plan(sim: RunningSimulator, alerts: int, groups: int, window: float) -> list[Any]:
    """(offset seconds, webhook body) for every notification, sorted by offset."""
    template = sim.scenario.webhook.alerts[0]
    base_labels = dict(template.labels)
    per_group = max(1, alerts // groups)
    plan: list[tuple[float, dict[str, Any]]] = []
    for g in range(groups):
        starts = sim.scenario.alert_time - timedelta(seconds=g)
        labels = {**base_labels, "alertname": f"{base_labels.get('alertname', 'Bench')}{g:03d}"}
        group_alerts = [
            alert({**labels, "instance": f"pod-{i:03d}"}, starts, template.generator_url or "")
            for i in range(per_group)
        ]
        group_labels = {"alertname": labels["alertname"]}
        first = window * 0.5 * g / groups
        half = group_alerts[: max(1, per_group // 2)]
        plan.append((first, webhook(half, group_labels)))
        plan.append((first + window * 0.3, webhook(group_alerts, group_labels)))
        plan.append((first + window * 0.5, webhook(group_alerts, group_labels)))
    return sorted(plan, key=lambda p: p[0])


async def _send(base: str, plan: list[Any]) -> tuple[int, int, float]:
    """Post every notification at its offset; returns (accepted, rejected, send seconds)."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    accepted = rejected = 0
    async with httpx.AsyncClient(limits=limits, timeout=60.0, trust_env=False) as client:
        started = time.perf_counter()

        async def one(offset: float, body: dict[str, Any]) -> None:
            nonlocal accepted, rejected
            await asyncio.sleep(max(0.0, started + offset - time.perf_counter()))  # schedule
            r = await client.post(f"{base}/api/v1/webhooks/alertmanager", json=body)
            if r.status_code == 202:
                accepted += 1
            else:
                rejected += 1

        await asyncio.gather(*(one(o, b) for o, b in plan))
        return accepted, rejected, time.perf_counter() - started


def _wait_done(svc: Service, deadline_s: float) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        counts = status_counts(svc.db_path)
        if counts and not any(counts.get(s, 0) for s in PENDING):
            return True
        time.sleep(0.2)  # polling a bounded condition
    return False


def simulator_config(sim: RunningSimulator, directory: Path) -> Path:
    """A serve config whose backends are the simulator, with the scenario's settings."""
    backends = {n: {"url": sim.url} for n in ("prometheus", "tempo", "loki", "grafana")}
    path = directory / "storm.yaml"
    path.write_text(yaml.safe_dump(_merge(backends, sim.scenario.meta.settings)), "utf-8")
    return path


def run_storm(
    scenario: Path,
    *,
    alerts: int = 2000,
    groups: int = 100,
    window: float = 10.0,
    drain_cap: float = 900.0,
    worker_processes: int = 1,
    latency_ms: float = 50.0,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> dict[str, Any]:
    """One storm run; returns the figure's numbers for this run.

    Waits at most ``drain_cap`` seconds for the queue to drain; when it did not, the run
    reports how many were done, the drain rate and the projected time until all are done.
    """
    with (
        running_simulator(scenario, SimulatorConfig(latency_ms=latency_ms)) as sim,
        tempfile.TemporaryDirectory(prefix="correlator-storm-") as tmp,
    ):
        full = {"CORRELATOR_CONFIG": str(simulator_config(sim, Path(tmp))), **(env or {})}
        args = ("--worker-processes", str(worker_processes))
        with running_service(full, args=args, log_path=log_path) as svc:
            wait_workers(svc.url, worker_processes, timeout=120.0)
            plan = _plan(sim, alerts, groups, window)
            started = time.perf_counter()
            accepted, rejected, send_s = asyncio.run(_send(svc.url, plan))
            done = _wait_done(svc, deadline_s=drain_cap)
            all_done_s = time.perf_counter() - started
            rss = peak_rss_kib(svc.pid)
            rss_tree = peak_rss_tree_kib(svc.pid)
            cpu = sum(cpu_seconds(p) or 0.0 for p in [svc.pid, *child_pids(svc.pid)])
            counts = status_counts(svc.db_path)
        requests = httpx.get(f"{sim.url}/_sim/requests", timeout=10.0, trust_env=False).json()
    distinct_alerts = len(plan) // 3 * max(1, alerts // groups)
    total, distinct = int(requests["total"]), int(requests["distinct"])
    finished = counts.get("done", 0) + counts.get("failed", 0)
    rate = finished / all_done_s if all_done_s else 0.0
    return {
        "alerts": distinct_alerts,
        "groups": groups,
        "webhooks": len(plan),
        "alert_mentions": sum(len(b["alerts"]) for _, b in plan),
        "accepted": accepted,
        "rejected": rejected,
        "send_s": round(send_s, 3),
        "investigations": sum(counts.values()),
        "done": counts.get("done", 0),
        "failed": counts.get("failed", 0),
        "all_done": done,
        "all_done_s": round(all_done_s, 3) if done else None,
        "measured_s": round(all_done_s, 3),
        "investigations_per_s": round(rate, 3),
        "projected_all_done_s": round(sum(counts.values()) / rate, 1) if rate else None,
        "service_cpu_s": round(cpu, 2),
        "backend_requests": total,
        "distinct_requests": distinct,
        "request_ratio": round(total / distinct, 3) if distinct else None,
        "requests_by_backend": requests["by_backend"],
        "peak_rss_mib": round(rss / 1024, 1) if rss is not None else None,
        "peak_rss_tree_mib": round(rss_tree / 1024, 1) if rss_tree is not None else None,
        "worker_processes": worker_processes,
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (``/proc/<pid>/stat``)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return round((int(fields[11]) + int(fields[12])) / ticks, 2)
