"""What a bench run measures and how big: ``BenchPlan`` (``full`` or ``quick``) and the
scenarios each figure uses.

Its own module so that ``runner`` (which runs the figures) and ``figures`` (which read the
plan) both import it and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Log = Callable[[str], None]

FIRST_NOTE_SCENARIOS = (
    "checkout-deploy-regression",
    "otel-payment-failure",
    "rcaeval-cpu-carts",
    "control-latency-blip",
    "no-exemplars-quote-errors",
    "loki-down-payment-regression",
    "db-migration-drops-index-decoy-deploy",
    "two-faults-payment-and-inventory",
)
LLM_SCENARIOS = ("checkout-deploy-regression", "no-exemplars-quote-errors")
STORM_SCENARIO = "checkout-deploy-regression"


@dataclass(frozen=True)
class BenchPlan:
    runs: int = 3
    senders: int = 50
    ingest_seconds: float = 20.0
    ingest_open_rate: float = 100.0  # open loop: webhooks/s offered by the senders together
    worker_processes: int = 1
    latency_ms: float = 50.0
    first_note_scenarios: tuple[str, ...] = FIRST_NOTE_SCENARIOS
    llm_scenarios: tuple[str, ...] = LLM_SCENARIOS
    storm_alerts: int = 2000
    storm_groups: int = 100
    storm_window: float = 10.0
    storm_runs: int = 1
    storm_drain_cap: float = 180.0
    storm_worker_processes: int = 1  # --storm-worker-processes: 2 uses both cores, +1 process
    replay_items: int = 100
    replay_jobs: int = 8
    replay_runs: int = 1
    memory_stored: int = 10_000
    memory_queries: int = 200
    only: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def quick(cls) -> BenchPlan:
        return cls(
            runs=1,
            senders=5,
            ingest_seconds=2.0,
            ingest_open_rate=10.0,
            first_note_scenarios=("no-exemplars-quote-errors",),
            llm_scenarios=("no-exemplars-quote-errors",),
            storm_alerts=40,
            storm_groups=4,
            storm_window=2.0,
            storm_drain_cap=60.0,
            replay_items=4,
            replay_jobs=2,
            memory_stored=1000,
            memory_queries=20,
        )
