"""Figure 1, ingest: sustained webhooks/s and time to 202 with concurrent senders.

A real ``correlator serve`` (uvicorn, SQLite, workers on) on loopback; ``senders`` httpx async
tasks in this process each post one-alert webhooks back to back for ``seconds``. Every alert is
distinct. Afterwards every id returned with a 202 must exist in the store (no loss).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from correlator.lab.bench.payloads import alert, stored_ids, webhook
from correlator.lab.bench.service import running_service
from correlator.lab.bench.stats import percentile


async def _send_loop(
    client: httpx.AsyncClient,
    url: str,
    sender: int,
    stop_at: float,
    latencies: list[float],
    ids: set[str],
    errors: list[str],
) -> None:
    n = 0
    starts = datetime.now(UTC)
    while time.perf_counter() < stop_at:
        labels = {"alertname": "BenchIngest", "service": "bench", "sender": str(sender)}
        labels["seq"] = str(n)
        body = webhook([alert(labels, starts)], {"alertname": "BenchIngest"})
        t0 = time.perf_counter()
        try:
            r = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
            continue
        finally:
            n += 1
        if r.status_code == 202:
            latencies.append(time.perf_counter() - t0)
            ids.update(item["id"] for item in r.json()["investigations"])
        else:
            errors.append(str(r.status_code))


async def _load(base: str, senders: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    ids: set[str] = set()
    errors: list[str] = []
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) as client:
        started = time.perf_counter()
        stop_at = started + seconds
        url = f"{base}/api/v1/webhooks/alertmanager"
        await asyncio.gather(
            *(_send_loop(client, url, s, stop_at, latencies, ids, errors) for s in range(senders))
        )
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "ids": ids, "errors": errors, "elapsed": elapsed}


def run_ingest(*, senders: int = 50, seconds: float = 20.0) -> dict[str, Any]:
    """One ingest run; returns the figure's numbers for this run."""
    with running_service() as svc:
        out = asyncio.run(_load(svc.url, senders, seconds))
        stored = stored_ids(svc.db_path)
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
    }
