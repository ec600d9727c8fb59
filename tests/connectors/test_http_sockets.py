"""connectors/_http.py over real sockets on 127.0.0.1: a backend that hangs, closes the
connection, or answers 500/429, through a real ``httpx.AsyncClient`` from ``build_client``.

Backoff sleeps are injected (no real sleeping); only the socket timeouts are real (0.3 s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import pytest

from connectors._http import BackendClient, build_client
from correlator.deadline import deadline_scope
from correlator.errors import BackendTimeout, BackendUnavailable
from correlator.settings import BackendSettings
from tests.connectors.support import FakeTime

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Make(Protocol):
    def __call__(
        self, url: str, fake_time: FakeTime, retries: int, timeout: float = ...
    ) -> BackendClient: ...


class Server:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.connections = 0
        self.release = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.behaviour(reader, writer)
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


def hang(release: asyncio.Event) -> Behaviour:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await release.wait()

    return run


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)


def respond(*answers: bytes) -> Behaviour:
    sent = iter(answers)

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await _read_request(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            body = next(sent, answers[-1])
            writer.write(body)
            await writer.drain()

    return run


def http(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: application/json\r\n{headers}\r\n"
    ).encode() + body


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    clients = []

    def build(url: str, fake_time: FakeTime, retries: int, timeout: float = 0.3) -> BackendClient:
        cfg = BackendSettings(
            url=url, timeout_seconds=timeout, connect_timeout_seconds=0.3, retries=retries
        )
        client = build_client(cfg)
        clients.append(client)
        return BackendClient("svc", client, cfg, sleep=fake_time.sleep, jitter=lambda: 0.0)

    yield build
    for c in clients:
        await c.aclose()


async def test_hanging_backend_times_out_and_is_retried(make: Make, fake_time: FakeTime) -> None:
    release = asyncio.Event()
    server = Server(hang(release))
    async with server as url:
        with pytest.raises(BackendTimeout):
            await make(url, fake_time, 1).get_json("/slow")
        release.set()
    assert server.connections == 2
    assert len(fake_time.sleeps) == 1


async def test_deadline_cuts_a_hanging_request(make: Make, fake_time: FakeTime) -> None:
    release = asyncio.Event()
    server = Server(hang(release))
    async with server as url:
        b = make(url, fake_time, 3, timeout=30.0)
        with deadline_scope(0.3), pytest.raises(BackendTimeout):
            await b.get_json("/slow")  # would wait 30 s without the deadline
        release.set()
    assert server.connections == 1  # no retry past the deadline


async def test_connection_closed_without_response(make: Make, fake_time: FakeTime) -> None:
    server = Server(close_at_once)
    async with server as url:
        with pytest.raises(BackendUnavailable, match="RemoteProtocolError"):
            await make(url, fake_time, 2).get_json("/x")
    assert server.connections == 3


async def test_500_then_429_with_retry_after_then_ok(make: Make, fake_time: FakeTime) -> None:
    server = Server(
        respond(
            http("500 Internal Server Error", b"oops"),
            http("429 Too Many Requests", headers="Retry-After: 2\r\n"),
            http("200 OK", b'{"ok": true}'),
        )
    )
    async with server as url:
        assert await make(url, fake_time, 3).get_json("/x") == {"ok": True}
    assert fake_time.sleeps == [0.05, 2.0]


def drip(interval: float) -> Behaviour:
    """Headers announcing 100 kB, then one byte per ``interval``: no single read ever waits
    longer than the per-read timeout."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            for _ in range(100000):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(interval)

    return run


@pytest.mark.timeout(30)
async def test_drip_feeding_backend_hits_the_total_attempt_deadline() -> None:
    """D2: a peer that sends one byte at a time never trips httpx's per-read timeout; the whole
    attempt is bounded by connect + read timeout and fails as a transient BackendTimeout."""
    async with Server(drip(0.05)) as url:
        cfg = BackendSettings(url=url, timeout_seconds=0.3, connect_timeout_seconds=0.2, retries=0)
        client = build_client(cfg)
        http = BackendClient("slack", client, cfg)
        try:
            with pytest.raises(BackendTimeout) as err:
                await http.request("POST", "/api/chat.postMessage", json={"text": "x"})
        finally:
            await client.aclose()
    assert err.value.transient
    assert "no complete answer within 0.5s" in str(err.value)
