"""Figure 1, ingest, open loop: a fixed offered rate, latency from each scheduled send time.

The set-up is ``correlator.lab.bench.ingest``'s (a real ``correlator serve`` with worker
processes, simulator backends at +``latency_ms``, one-alert webhooks each their own group, so
investigations run throughout; every 202'd id checked in the store afterwards). The difference
is the load: ``senders`` senders post on a fixed schedule, together ``rate`` webhooks/s (sender
``s`` posts its ``n``-th webhook at ``(s + n * senders) / rate`` seconds), whatever the answers
do. Each latency is measured from the request's *scheduled* time, so a request its sender could
not send on time (still waiting for the previous answer) counts its delay: coordinated omission
does not hide a service that falls behind. Also recorded: the time from the actual send
(``service_p50_ms``/``service_p99_ms``) and how late sends started (``late_p99_ms``,
``late_max_ms``).

The senders run in a child process of their own: in the bench process the simulator (a thread
serving the running investigations' backend queries) shares the GIL with them and delays their
sends by up to ~100 ms even at 10 webhooks/s, which an open-loop schedule would charge to intake.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from correlator.lab.bench.ingest import Template, body, figures, measured, template_of
from correlator.lab.bench.stats import percentile
from correlator.lab.simulator.server import RunningSimulator

Schedule = tuple[float, float, int, float]  # started, rate, senders, stop_at


async def _sender(
    client: httpx.AsyncClient,
    url: str,
    sender: int,
    schedule: Schedule,
    template: Template,
    out: dict[str, Any],
) -> None:
    """Post webhook ``n`` at ``started + (sender + n * senders) / rate`` until ``stop_at``."""
    started, rate, senders, stop_at = schedule
    n = 0
    while (due := started + (sender + n * senders) / rate) < stop_at:
        payload = body(template, sender, n)
        n += 1
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        sent = time.perf_counter()
        out["late"].append(max(0.0, sent - due))
        try:
            r = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            out["errors"].append(type(exc).__name__)
            continue
        done = time.perf_counter()
        if r.status_code == 202:
            out["latencies"].append(done - due)  # from the schedule, not from the send
            out["service"].append(done - sent)
            out["ids"].extend(item["id"] for item in r.json()["investigations"])
        else:
            out["errors"].append(str(r.status_code))


async def _load(
    base: str, senders: int, rate: float, seconds: float, template: Template
) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "service": [], "late": [], "ids": [], "errors": []}
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) as client:
        started = time.perf_counter() + 0.1  # every sender's first slot is in the future
        schedule = (started, rate, senders, started + seconds)
        url = f"{base}/api/v1/webhooks/alertmanager"
        await asyncio.gather(
            *(_sender(client, url, s, schedule, template, out) for s in range(senders))
        )
        out["elapsed"] = time.perf_counter() - started
    return out


def _child(
    base: str, senders: int, rate: float, seconds: float, template: Template
) -> dict[str, Any]:
    """The load, in the child process (picklable in and out)."""
    return asyncio.run(_load(base, senders, rate, seconds, template))


def run_ingest_open(
    scenario: Path,
    *,
    senders: int = 50,
    rate: float = 100.0,
    seconds: float = 20.0,
    worker_processes: int = 1,
    latency_ms: float = 50.0,
) -> dict[str, Any]:
    """One open-loop ingest run at ``rate`` webhooks/s offered; the run's numbers."""

    def load(url: str, sim: RunningSimulator) -> dict[str, Any]:
        args = (url, senders, rate, seconds, template_of(sim))
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            out: dict[str, Any] = pool.apply(_child, args)
        out["ids"] = set(out["ids"])
        return out

    out, stored, running, counts = measured(scenario, worker_processes, latency_ms, load)
    return {
        **_open_figures(out, rate, seconds),
        **figures(out, stored, senders, worker_processes, running, counts),
    }


def _open_figures(out: dict[str, Any], rate: float, seconds: float) -> dict[str, Any]:
    """The open-loop run's own numbers (the shared ones come from ``ingest.figures``)."""
    service: list[float] = out["service"]
    late: list[float] = out["late"]
    lat: list[float] = out["latencies"]
    return {
        "offered_per_s": rate,
        "scheduled_s": seconds,
        "sent": len(late),
        "max_ms": round(max(lat) * 1000, 2) if lat else None,
        "service_p50_ms": round(percentile(service, 50) * 1000, 2) if service else None,
        "service_p99_ms": round(percentile(service, 99) * 1000, 2) if service else None,
        "late_p99_ms": round(percentile(late, 99) * 1000, 2) if late else None,
        "late_max_ms": round(max(late) * 1000, 2) if late else None,
        "error_kinds": dict(sorted(Counter(out["errors"]).items())),  # exception or status
    }
