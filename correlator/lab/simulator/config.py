"""Simulator options (CLI flags map 1:1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SimulatorConfig:
    latency_ms: float = 0.0
    error_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    seed: int = 0
    now: datetime | None = None  # replay so the alert fired ``alert_age`` before this instant
    alert_age: timedelta = field(default_factory=lambda: timedelta(seconds=60))
    shift: bool = True
    prometheus: bool = True  # start the real Prometheus (False: PromQL paths answer 503)
