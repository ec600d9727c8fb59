"""Fixtures for every test directory.

``database_url`` runs a test once on SQLite (a file in ``tmp_path``) and once on PostgreSQL (a
fresh database on the session's real server, ``tests/pg/conftest.py``): the store, API and worker
tests take it so the suite covers both databases.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.pg.conftest import pg_server, pg_url

__all__ = ["database_url", "pg_server", "pg_url"]

# CI (CI=true) runs property tests derandomised, so a green or red run is reproducible and a
# submission is never failed by a new random draw; local runs keep exploring random examples
# (which is how the base64 "0x" id bug was found) and print the seed of any failure.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'correlator.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
