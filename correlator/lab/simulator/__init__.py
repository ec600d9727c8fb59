"""TEST AND DEMO DOUBLE of Tempo, Loki, Grafana annotations and Prometheus exemplars.

**This is not a backend.** It serves one scenario directory (``tests/scenarios/<id>``, format in
docs/scenarios.md) in the upstream wire shapes so that ``correlator eval``, ``correlator demo``,
benchmarks and tests can run offline. Real users point correlator at their real Prometheus,
Tempo, Loki and Grafana. PromQL is never emulated: every ``/api/v1/*`` path except
``query_exemplars`` is proxied to a real ``prometheus`` process started on loopback with the
scenario's ``metrics.om`` backfilled (``promproc.py``).

Entry points: ``SimulatorConfig`` + ``create_simulator_app`` (the FastAPI app) and
``running_simulator`` (context manager: Prometheus + app on a free loopback port).
"""

from __future__ import annotations

from correlator.lab.simulator.config import SimulatorConfig

__all__ = ["SimulatorConfig"]
