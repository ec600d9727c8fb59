"""Dataset adapters: public incident datasets -> scenario directories (docs/datasets.md)."""

from __future__ import annotations

from correlator.lab.datasets.base import (
    DatasetAdapter,
    DatasetCase,
    DatasetError,
    ImportResult,
    Skipped,
    write_cases,
)
from correlator.lab.datasets.nezha import NezhaAdapter

ADAPTERS: dict[str, type[DatasetAdapter]] = {"nezha": NezhaAdapter}

__all__ = [
    "ADAPTERS",
    "DatasetAdapter",
    "DatasetCase",
    "DatasetError",
    "ImportResult",
    "NezhaAdapter",
    "Skipped",
    "write_cases",
]
