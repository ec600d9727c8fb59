"""Alembic migrations of the store, shared by SQLite and PostgreSQL.

Run through ``correlator.store.migrate`` (start-up) or ``correlator db upgrade``.
"""
