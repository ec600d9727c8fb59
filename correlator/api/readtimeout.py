"""Bounded request-body reads (slow-loris, reliability report D11).

uvicorn times out idle keep-alive connections but not a body that trickles in: a client sending
one byte every few seconds held a connection, a task and its buffer for as long as it liked.
``BodyReadTimeout`` gives every request ``request_read_timeout_seconds`` from the moment its
headers are complete to read the whole body; a read still waiting then raises ``408 Request
Timeout`` (``Connection: close``) through the normal exception handling. Requests without a
body (no ``Content-Length``/``Transfer-Encoding``: GET, event streams) are left alone. Slow
*headers* never reach the app: uvicorn's ``limit_concurrency`` (``http_limit_concurrency``)
bounds how many such connections can be held.
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestReadTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(
            status_code=408,
            detail=f"request body not received within {seconds:g}s",
            headers={"Connection": "close"},
        )


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class BodyReadTimeout:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)  # nothing to trickle (GET, event streams)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False

        async def bounded_receive() -> Message:
            nonlocal body_done
            if body_done:  # after the body only http.disconnect comes: wait as long as needed
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestReadTimeout(self.seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, bounded_receive, send)
