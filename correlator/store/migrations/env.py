"""Alembic environment: runs on the connection ``correlator.store.migrate`` hands over.

The project never runs Alembic from an ``alembic.ini``: ``correlator db upgrade`` and the
start-up of every entry point call ``correlator.store.migrate.upgrade``, which opens the engine
(async) and passes a sync connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from correlator.store.learning import feedback  # noqa: F401  (registers its tables)
from correlator.store.notifications import notifications  # noqa: F401  (registers its table)
from correlator.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through correlator.store.migrate (or `correlator db`)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=False,
)
with context.begin_transaction():
    context.run_migrations()
