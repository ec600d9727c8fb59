"""The one ``httpx.AsyncClient`` of a backend, and the TLS context all of them share.

``connectors._http`` re-exports ``build_client``; the request policy (retries, breaker, error
mapping) lives there, construction here.
"""

from __future__ import annotations

import functools
import ssl

import httpx

from correlator.settings import BackendSettings


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every backend client shares: what httpx would build for each client
    (``verify=True``, ``trust_env=False``: system defaults and certifi's CA bundle), built once
    per process. Loading the CA bundle costs ~25 ms of CPU, which each client paid every time
    a runtime was opened (every ``investigate_once``: eval, replay and bench cases)."""
    return httpx.create_ssl_context(verify=True, trust_env=False)


def build_client(
    settings: BackendSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    user_agent: str = "correlator",
) -> httpx.AsyncClient:
    """The one ``httpx.AsyncClient`` of a backend: base URL, explicit timeouts, connection cap.

    Auth and tenant headers are added per request by ``BackendClient``; redirects are not
    followed and proxy environment variables are ignored (only configured URLs are called).
    """
    return httpx.AsyncClient(
        base_url=settings.url or "",
        headers={"User-Agent": user_agent},
        timeout=httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.max_concurrency,
            max_keepalive_connections=settings.max_concurrency,
        ),
        follow_redirects=False,
        trust_env=False,
        verify=tls_context(),
        transport=transport,
    )
