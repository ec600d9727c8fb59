"""``correlator db upgrade|current``: the store's schema migrations (Alembic).

Every entry point also upgrades on start; run ``correlator db upgrade`` ahead of a rolling
deploy so no replica starts its migration under traffic. The database is
``CORRELATOR_DATABASE_URL`` (SQLite file or ``postgresql+asyncpg://...``).
"""

from __future__ import annotations

import argparse
import asyncio


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database schema: apply or show migrations")
    actions = db.add_subparsers(dest="db_action", required=True)
    up = actions.add_parser("upgrade", help="apply the schema migrations (default: to head)")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    up.set_defaults(func=_upgrade)
    cur = actions.add_parser("current", help="print the applied revision and the newest one")
    cur.set_defaults(func=_current)


def _upgrade(args: argparse.Namespace) -> int:
    from correlator.settings import load_settings
    from correlator.store import migrate
    from correlator.store.engine import make_engine

    settings = load_settings(args.config)

    async def run() -> str | None:
        engine = make_engine(settings.database_url)
        try:
            return await migrate.upgrade(engine, args.revision)
        finally:
            await engine.dispose()

    revision = asyncio.run(run())
    print(f"database at revision {revision} ({_safe(settings.database_url)})")
    return 0


def _current(args: argparse.Namespace) -> int:
    from correlator.settings import load_settings
    from correlator.store import migrate
    from correlator.store.engine import make_engine

    settings = load_settings(args.config)

    async def run() -> str | None:
        engine = make_engine(settings.database_url, immediate=False)
        try:
            return await migrate.current(engine)
        finally:
            await engine.dispose()

    print(f"current: {asyncio.run(run()) or 'none'}  head: {migrate.head_revision()}")
    return 0


def _safe(url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
