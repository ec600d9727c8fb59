"""PostgreSQL for the tests: one real server per session (``tests/support/postgres.py``).

``pg_server``: the session's server (skips when the Debian ``postgresql`` package is missing,
fails instead when ``CI`` is set: CI installs it through ``scripts/system-deps.sh``).
``pg_url``: a fresh database on it.
``tests/conftest.py`` re-exports these so the store, API and worker tests run on both databases.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.PgServer]:
    if not postgres.available():
        message = "PostgreSQL binaries not installed (Debian package postgresql)"
        if os.environ.get("CI"):  # CI installs them (scripts/system-deps.sh): never skip there
            pytest.fail(message)
        pytest.skip(message)
    yield postgres.server()
    postgres.shutdown()


@pytest.fixture
async def pg_url(pg_server: postgres.PgServer) -> AsyncIterator[str]:
    url = await postgres.fresh_database(pg_server)
    yield url
    await postgres.drop_database(pg_server, url)
