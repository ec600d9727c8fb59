"""A throwaway PostgreSQL server for tests (Debian's ``postgresql`` package, on loopback).

``server()`` starts one per test session (lazily, shared by every test that needs it): ``initdb``
into a temp dir, ``postgres`` listening on 127.0.0.1 with a free port and its socket in that dir,
``fsync=off``. initdb and postgres refuse to run as root, so as root they run as the ``postgres``
system user (``setpriv``: exec, so the PID we hold is the postmaster's) with the temp dir owned
by it. ``stop`` sends the postmaster SIGINT (fast shutdown) by PID. ``fresh_database`` gives each
test its own database. Without the binaries ``available()`` is False and callers skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("postgres")
    return Path(which).parent if which else None


def available() -> bool:
    bindir = _bindir()
    return bindir is not None and (bindir / "initdb").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class PgServer:
    root: Path
    port: int
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGINT)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    pw = pwd.getpwnam("postgres")
    return [
        "setpriv",
        f"--reuid={pw.pw_uid}",
        f"--regid={pw.pw_gid}",
        "--clear-groups",
        "--",
        *argv,
    ]


def start() -> PgServer:
    bindir = _bindir()
    assert bindir is not None, "PostgreSQL binaries not found"
    root = Path(tempfile.mkdtemp(prefix="correlator-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(root)}
    subprocess.run(
        _as_postgres(
            [
                *(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"),
                *("-E", "UTF8", "--no-sync", "--no-instructions"),
            ]
        ),
        check=True,
        capture_output=True,
        env=env,
        cwd=root,
    )
    port = _free_port()
    log = root / "postgres.log"
    fh = log.open("ab")
    argv = [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port)]
    argv += ["-k", str(root), "-c", "fsync=off", "-c", "synchronous_commit=off"]
    argv += ["-c", "full_page_writes=off", "-c", "max_connections=300"]
    popen = subprocess.Popen(
        _as_postgres(argv), stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=root
    )
    server = PgServer(root=root, port=port, popen=popen, log=log)
    deadline = time.monotonic() + 60
    while not _ready(port):
        if popen.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-3000:]
            server.stop()
            raise AssertionError(f"postgres did not start:\n{text}")
        time.sleep(0.05)
    return server


def _ready(port: int) -> bool:
    bindir = _bindir()
    assert bindir is not None
    isready = bindir / "pg_isready"
    result = subprocess.run(
        [str(isready), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-q"],
        check=False,
        capture_output=True,
    )
    return result.returncode == 0


_SERVER: PgServer | None = None


def server() -> PgServer:
    """The session's server, started on first use (``shutdown`` stops it)."""
    global _SERVER
    if _SERVER is None or _SERVER.popen.poll() is not None:
        _SERVER = start()
    return _SERVER


def shutdown() -> None:
    global _SERVER
    if _SERVER is not None:
        _SERVER.stop()
        _SERVER = None


async def fresh_database(srv: PgServer) -> str:
    """A new empty database on ``srv``; returns its SQLAlchemy URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(srv.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return srv.url(name)


async def drop_database(srv: PgServer, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(srv.admin_dsn)
    try:
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
