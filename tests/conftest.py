"""Fixtures for every test directory.

``database_url`` runs a test once on SQLite (a file in ``tmp_path``) and once on PostgreSQL (a
fresh database on the session's real server, ``tests/pg/conftest.py``): the store, API and worker
tests take it so the suite covers both databases.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pg.conftest import pg_server, pg_url

__all__ = ["database_url", "pg_server", "pg_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'correlator.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
