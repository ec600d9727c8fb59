"""Slow clients against the real ``serve`` stack (reliability report D11): uvicorn with the
options ``correlator serve`` uses, on a loopback socket, and raw sockets as the slow clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from correlator.api import AppDeps, create_app
from correlator.cli.serve import uvicorn_options
from correlator.settings import Settings

pytestmark = [pytest.mark.timeout(60)]
HOOK = "/api/v1/webhooks/alertmanager"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}",
        request_read_timeout_seconds=0.5,
        http_limit_concurrency=3,
    )
    app = create_app(settings, AppDeps(run_workers=False, run_scheduler=False))
    config = uvicorn.Config(app, **uvicorn_options(settings))
    server = uvicorn.Server(config)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # bounded start-up wait, not a timing assertion
        assert thread.is_alive(), "uvicorn did not start"
        assert time.monotonic() < deadline, "uvicorn did not start"
        threading.Event().wait(0.02)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


def _connect(addr: tuple[str, int]) -> socket.socket:
    conn = socket.create_connection(addr, timeout=20)  # a hang guard only
    return conn


def _head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_trickled_body_gets_408_and_the_connection_closes(served: tuple[str, int]) -> None:
    """D11: a body that stops arriving was held open forever; now 408 once
    ``request_read_timeout_seconds`` passed, and the server closes the connection."""
    with _connect(served) as conn:
        conn.sendall(_head(HOOK, 1000) + b'{"status": "fir')
        reply = b""
        while chunk := conn.recv(65536):  # ends when the server closes: Connection: close
            reply += chunk
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert b"request body not received within 0.5s" in reply
    assert b"connection: close" in reply.lower()
    assert httpx.get(f"http://{served[0]}:{served[1]}/healthz").status_code == 200


def test_serve_bounds_concurrent_connections(served: tuple[str, int]) -> None:
    """D11: ``http_limit_concurrency`` reaches uvicorn: with the limit held by open
    connections, one more request is refused with 503 instead of being held too."""
    assert uvicorn_options(Settings(http_limit_concurrency=7))["limit_concurrency"] == 7
    held = [_connect(served) for _ in range(2)]  # with the requesting one: the limit of 3
    try:
        for conn in held:  # each completes a request first, so the server surely counts it
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        with _connect(served) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert extra.recv(65536).startswith(b"HTTP/1.1 503")
    finally:
        for conn in held:
            conn.close()
