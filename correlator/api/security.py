"""HTTP hardening in front of every route (reliability report D5/D13).

``SecurityMiddleware`` (pure ASGI, so it also covers streaming responses):

- **Host check** (DNS rebinding): the ``Host`` header must be in ``allowed_hosts``; by default,
  when correlator listens on a loopback address, only loopback names are accepted.
- **Cross-site requests** on state-changing methods (POST, PUT, PATCH, DELETE): a browser's
  ``Sec-Fetch-Site`` other than ``same-origin``/``none``, or an ``Origin`` whose host differs
  from ``Host``, is refused (403). Alertmanager, CI and curl send neither header.
- **JSON only**: state-changing requests to ``/api/`` need ``Content-Type: application/json``
  (415 otherwise), so no HTML form or ``no-cors`` fetch can reach them as a "simple request".
- **Headers**: ``Content-Security-Policy`` (no third-party origins, no inline script,
  ``frame-ancestors 'none'``), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``, and ``Cache-Control: no-store`` on ``/api/`` answers.

``AuthThrottle`` counts failed authentications per client address and answers 429 after
``limit`` failures within ``window_seconds``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from correlator.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
# Form bodies allowed: the login form (same-origin still required) and Slack's interactivity
# callback, which Slack posts as application/x-www-form-urlencoded and which is authenticated by
# its v0 HMAC signature (a browser page cannot forge it; see api/slack_signing.py).
JSON_EXEMPT = ("/ui/login", "/api/v1/slack/interactions")


def is_loopback_name(host: str) -> bool:
    host = host.strip("[]").lower()
    return host in LOOPBACK_NAMES or host.startswith("127.")


def allowed_hosts(settings: Settings) -> list[str]:
    """``settings.allowed_hosts``, else loopback names when listening on loopback, else any."""
    if settings.allowed_hosts:
        return [h.lower() for h in settings.allowed_hosts]
    return list(LOOPBACK_NAMES) if is_loopback_name(settings.host) else ["*"]


def _host_only(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.allowed = allowed_hosts(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._refuse(scope, headers)
        if problem is not None:
            await _plain(send, *problem)
            return
        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", []))
                present = {k.lower() for k, _ in out}
                out += [(k, v) for k, v in _HEADERS if k not in present]
                if api and b"cache-control" not in present:
                    out.append((b"cache-control", b"no-store"))
                message["headers"] = out
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refuse(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = _host_only(headers.get("host", ""))
        if "*" not in self.allowed and host not in self.allowed:
            return 400, "host not allowed (CORRELATOR_ALLOWED_HOSTS)"
        if scope.get("method", "GET") not in UNSAFE_METHODS:
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return 403, "cross-site request refused"
        origin = headers.get("origin")
        if (
            origin is not None
            and urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
        ):
            return 403, "cross-origin request refused"
        path = str(scope.get("path", ""))
        ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        json_type = ctype == "application/json" or ctype.endswith("+json")
        if path.startswith("/api/") and path not in JSON_EXEMPT and not json_type:
            return 415, "Content-Type must be application/json"
        return None


async def _plain(send: Send, status: int, text: str) -> None:
    body = f'{{"detail": "{text}"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuthThrottle:
    """Failed authentications per client address; 429 after ``limit`` within the window."""

    def __init__(
        self,
        limit: int = 10,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        q = self._failures.get(client)
        if q is None:
            if len(self._failures) >= self.max_clients:  # bounded memory under a spray
                self._failures.pop(next(iter(self._failures)))
            q = self._failures[client] = deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def check(self, request: Request) -> None:
        """Refuse (429) a client that failed too often recently, before comparing tokens."""
        q = self._recent(_client(request))
        if len(q) >= self.limit:
            retry = max(1, int(q[0] + self.window - self.clock()) + 1)
            raise HTTPException(
                429, "too many failed authentications", headers={"Retry-After": str(retry)}
            )

    def failed(self, request: Request) -> None:
        self._recent(_client(request)).append(self.clock())


def _client(request: Request) -> str:
    return request.client.host if request.client else ""
