"""One import of the vendored Nezha data per test session (it takes ~10-20 s on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from correlator.lab.datasets import ImportResult, NezhaAdapter, write_cases

NEZHA_RAW = Path(__file__).resolve().parents[1] / "datasets" / "nezha-onlineboutique"


@dataclass(frozen=True)
class Imported:
    adapter: NezhaAdapter
    result: ImportResult
    out: Path


@pytest.fixture(scope="session")
def nezha(tmp_path_factory: pytest.TempPathFactory) -> Imported:
    adapter = NezhaAdapter()
    result = adapter.load(NEZHA_RAW)
    out = tmp_path_factory.mktemp("nezha")
    write_cases(result, out)
    return Imported(adapter, result, out)
