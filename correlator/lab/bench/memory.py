"""Memory recall latency: similar-incident lookup with 10,000 stored investigations.

Seeds a fresh SQLite store (the default backend, file on disk, WAL) with ``stored``
investigations spread over 50 alert rules x 10 services and 60 days, their memory rows and a
verdict on 30 % of them. A fifth of them share one alert rule and service inside the window (the
worst case: ``recall`` ranks its newest 500 candidates). Then ``recall`` runs ``queries`` times
for that hot rule, exactly as the evidence stage calls it; the figure is the latency
distribution, the process CPU time per recall (all threads: SQLite runs in aiosqlite's thread;
less sensitive than wall time to other load on a shared machine) and whether SQLite's plan uses
``ix_incident_memory_lookup``.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from correlator.lab.bench.stats import percentile
from correlator.models import IncidentSignature
from correlator.store import SqlStore
from correlator.store.learning import feedback, incident_memory
from correlator.store.schema import investigations

NOW = datetime(2026, 12, 1, tzinfo=UTC)
HOT = ("HotAlert", "checkout")
TEMPLATES = [f"{i:016x}" for i in range(40)]


def _rows(stored: int, rng: random.Random) -> tuple[list[dict[str, Any]], ...]:
    invs, mems, fbs = [], [], []
    for n in range(stored):
        hot = n % 5 == 0
        alertname, service = HOT if hot else (f"Alert{n % 50}", f"svc{n % 10}")
        at = NOW - timedelta(days=rng.uniform(0, 29 if hot else 60))
        inv_id = str(uuid.UUID(int=rng.getrandbits(128)))
        invs.append(
            {
                "id": inv_id,
                "fingerprint": f"{n:016x}",
                "starts_at": at,
                "status": "done",
                "alertname": alertname,
                "service": service,
                "alert_status": "resolved",
                "created_at": at,
                "updated_at": at,
                "attempts": 1,
                "data": {},
            }
        )
        mems.append(
            {
                "investigation_id": inv_id,
                "alertname": alertname,
                "service": service,
                "created_at": at,
                "operation": f"payment op{rng.randrange(3)}",
                "change_kind": rng.choice(["deploy", "config", ""]),
                "templates": " ".join(sorted(rng.sample(TEMPLATES, 4))),
                "verdict": None,
                "cause": None,
                "cause_service": None,
            }
        )
        if rng.random() < 0.3:
            verdict = rng.choice(["correct", "correct", "partly", "wrong"])
            mems[-1].update(verdict=verdict, cause="payment resource cpu", cause_service="payment")
            fbs.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "investigation_id": inv_id,
                    "created_at": at,
                    "verdict": verdict,
                    "latest": True,
                    "alertname": alertname,
                    "service": service,
                    "fault_type": rng.choice(["resource_cpu", "code_error", "deploy_regression"]),
                    "source": "api",
                    "data": {},
                }
            )
    return invs, mems, fbs


async def _seed(store: SqlStore, stored: int, seed: int) -> float:
    t0 = time.perf_counter()
    invs, mems, fbs = _rows(stored, random.Random(seed))
    async with store.engine.begin() as conn:
        for table, rows in ((investigations, invs), (incident_memory, mems), (feedback, fbs)):
            for i in range(0, len(rows), 1000):
                await conn.execute(insert(table), rows[i : i + 1000])
    return time.perf_counter() - t0


async def _plan_uses_index(store: SqlStore) -> bool:
    sql = (
        "EXPLAIN QUERY PLAN SELECT * FROM incident_memory WHERE alertname = 'x' AND "
        "service = 'y' AND created_at >= '2026-01-01' ORDER BY created_at DESC LIMIT 500"
    )
    async with store.read_engine.connect() as conn:
        rows = (await conn.execute(text(sql))).all()
    return any("ix_incident_memory_lookup" in str(r[-1]) for r in rows)


async def run_memory(*, stored: int, queries: int, seed: int = 7) -> dict[str, Any]:
    """One run: seed ``stored`` investigations, then time ``queries`` recalls (ms)."""
    with tempfile.TemporaryDirectory(prefix="correlator-bench-memory-") as tmp:
        store = SqlStore(f"sqlite+aiosqlite:///{Path(tmp) / 'memory.db'}")
        try:
            await store.create_schema()
            seed_s = await _seed(store, stored, seed)
            rng = random.Random(seed + 1)
            times: list[float] = []
            found = 0
            cpu0 = time.process_time()
            for _ in range(queries):
                sig = IncidentSignature(
                    alertname=HOT[0],
                    service=HOT[1],
                    operation=f"payment op{rng.randrange(3)}",
                    change_kind="deploy",
                    templates=sorted(rng.sample(TEMPLATES, 4)),
                )
                t0 = time.perf_counter()
                memory = await store.recall(sig, exclude_id="bench", at=NOW)
                times.append((time.perf_counter() - t0) * 1000.0)
                found += memory.similar_count
            cpu_ms = (time.process_time() - cpu0) * 1000.0 / max(queries, 1)
            uses_index = await _plan_uses_index(store)
        finally:
            await store.close()
    return {
        "stored": stored,
        "queries": queries,
        "p50_ms": round(percentile(times, 50), 2),
        "p95_ms": round(percentile(times, 95), 2),
        "max_ms": round(max(times), 2),
        "cpu_ms_per_recall": round(cpu_ms, 2),
        "mean_similar": round(found / max(queries, 1), 1),
        "uses_index": uses_index,
        "seed_s": round(seed_s, 2),
        "under_50ms_p95": percentile(times, 95) < 50.0,
    }
