"""Composition root: the ONLY package that imports ``connectors.*`` (in ``runtime``).

- ``runtime``: from ``Settings``, the store, one ``httpx.AsyncClient`` per configured backend,
  the connectors on those clients and the pipeline's collaborators, opened as a ``Runtime``;
- ``service``: what runs on an open ``Runtime``: the service parts of ``correlator serve``
  (workers, jobs, scheduler; worker processes) and ``investigate_once`` for one-shot runs.
"""

from correlator.wiring.runtime import (
    LLMOptions,
    RedactedChanges,
    Runtime,
    build_clients,
    change_source,
    evidence_sources,
    open_runtime,
)
from correlator.wiring.service import (
    Service,
    assemble_service,
    investigate_once,
    run_worker_process,
)

__all__ = [
    "LLMOptions",
    "RedactedChanges",
    "Runtime",
    "Service",
    "assemble_service",
    "build_clients",
    "change_source",
    "evidence_sources",
    "investigate_once",
    "open_runtime",
    "run_worker_process",
]
