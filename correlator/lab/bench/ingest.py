"""Figure 1, ingest: time to 202 with concurrent senders while investigations run.

A real ``correlator serve`` (uvicorn, SQLite, ``--worker-processes``) whose backends are the
simulator (the storm scenario, real Prometheus, ``latency_ms`` added per request); ``senders``
httpx async tasks in this process each post one-alert webhooks back to back for ``seconds``.
Every webhook is its own Alertmanager group (the scenario's alert, told apart by
``sender``/``seq`` labels), so each one queues a real investigation and the workers stay busy
for the whole run: the latencies are intake's while investigations run, and the run records how
many were running (sampled from the store every 0.5 s). Afterwards every id returned with a 202
must exist in the store (no loss).

Closed loop (``run_ingest``): each sender posts its next webhook as soon as the previous one is
answered, so the offered load is whatever the service sustains; by Little's law the latency is
about ``senders / throughput`` (50 senders at 85 webhooks/s: ~0.6 s), however cheap intake is.
The open-loop variant (fixed offered rate) is ``correlator.lab.bench.ingest_open``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from correlator.lab.bench.payloads import alert, status_counts, stored_ids, webhook
from correlator.lab.bench.service import running_service, wait_workers
from correlator.lab.bench.stats import percentile
from correlator.lab.bench.storm import simulator_config
from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.server import RunningSimulator, running_simulator


async def _send_loop(
    client: httpx.AsyncClient,
    url: str,
    sender: int,
    stop_at: float,
    template: Template,
    out: dict[str, Any],
) -> None:
    n = 0
    while time.perf_counter() < stop_at:
        payload = body(template, sender, n)
        t0 = time.perf_counter()
        try:
            r = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            out["errors"].append(type(exc).__name__)
            continue
        finally:
            n += 1
        if r.status_code == 202:
            out["latencies"].append(time.perf_counter() - t0)
            out["ids"].update(item["id"] for item in r.json()["investigations"])
        else:
            out["errors"].append(str(r.status_code))


async def _load(base: str, senders: int, seconds: float, sim: RunningSimulator) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "ids": set(), "errors": []}
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) as client:
        started = time.perf_counter()
        stop_at = started + seconds
        url = f"{base}/api/v1/webhooks/alertmanager"
        await asyncio.gather(
            *(_send_loop(client, url, s, stop_at, template_of(sim), out) for s in range(senders))
        )
        out["elapsed"] = time.perf_counter() - started
    return out


Template = tuple[dict[str, str], datetime, str]  # the scenario alert's labels, startsAt, URL


def template_of(sim: RunningSimulator) -> Template:
    first = sim.scenario.webhook.alerts[0]
    return dict(first.labels), sim.scenario.alert_time, first.generator_url or ""


def body(template: Template, sender: int, n: int) -> dict[str, Any]:
    """One-alert webhook, its own group (``sender``/``seq`` labels)."""
    base, starts_at, url = template
    labels = {**base, "sender": str(sender), "seq": str(n)}
    group = {"alertname": labels.get("alertname", "Bench"), "sender": str(sender), "seq": str(n)}
    return webhook([alert(labels, starts_at, url)], group)


class _Sampler:
    """Counts running investigations in the store every ``every`` seconds (a thread)."""

    def __init__(self, db: Path, every: float = 0.5) -> None:
        self.db, self.every = db, every
        self.running: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.running.append(status_counts(self.db).get("running", 0))


def run_ingest(
    scenario: Path,
    *,
    senders: int = 50,
    seconds: float = 20.0,
    worker_processes: int = 1,
    latency_ms: float = 50.0,
) -> dict[str, Any]:
    """One closed-loop ingest run; returns the figure's numbers for this run."""

    def load(url: str, sim: RunningSimulator) -> dict[str, Any]:
        return asyncio.run(_load(url, senders, seconds, sim))

    out, stored, running, counts = measured(scenario, worker_processes, latency_ms, load)
    return figures(out, stored, senders, worker_processes, running, counts)


def measured(
    scenario: Path,
    worker_processes: int,
    latency_ms: float,
    load: Callable[[str, RunningSimulator], dict[str, Any]],
) -> tuple[dict[str, Any], set[str], list[int], dict[str, int]]:
    """Simulator + service; ``load(url, sim)`` with running investigations sampled; then the
    ids in the store and the status counts."""
    with (
        running_simulator(scenario, SimulatorConfig(latency_ms=latency_ms)) as sim,
        tempfile.TemporaryDirectory(prefix="correlator-ingest-") as tmp,
    ):
        env = {"CORRELATOR_CONFIG": str(simulator_config(sim, Path(tmp)))}
        args = ("--worker-processes", str(worker_processes))
        with running_service(env, args=args) as svc:
            wait_workers(svc.url, worker_processes, timeout=120.0)
            with _Sampler(svc.db_path) as sampler:
                out = load(svc.url, sim)
            stored = stored_ids(svc.db_path)
            counts = status_counts(svc.db_path)
    return out, stored, sampler.running, counts


def figures(
    out: dict[str, Any],
    stored: set[str],
    senders: int,
    worker_processes: int,
    running: list[int],
    counts: dict[str, int],
) -> dict[str, Any]:
    lat: list[float] = out["latencies"]
    ids: set[str] = out["ids"]
    missing = len(ids - stored)
    return {
        "senders": senders,
        "seconds": round(out["elapsed"], 3),
        "accepted": len(lat),
        "errors": len(out["errors"]),
        "webhooks_per_s": round(len(lat) / out["elapsed"], 1) if out["elapsed"] else 0.0,
        "p50_ms": round(percentile(lat, 50) * 1000, 2) if lat else None,
        "p99_ms": round(percentile(lat, 99) * 1000, 2) if lat else None,
        "ids_202": len(ids),
        "ids_stored": len(ids & stored),
        "missing": missing,
        "no_loss": missing == 0 and len(ids) == len(lat),
        "worker_processes": worker_processes,
        "running_median": statistics.median(running) if running else None,
        "running_min": min(running) if running else None,
        "investigations_done": counts.get("done", 0),
    }
