"""THE shared HTTP policy of every connector: one ``BackendClient`` per backend.

It wraps one injected ``httpx.AsyncClient`` (owned by the app lifespan, see ``build_client``)
and is the only place that maps httpx errors and HTTP statuses to ``correlator.errors``:

=====================================  ======================  =========
what happened                          raised                  retried
=====================================  ======================  =========
connect/read/write/pool timeout        ``BackendTimeout``      yes
whole attempt over connect+read budget ``BackendTimeout``      yes
connection refused/reset/closed        ``BackendUnavailable``  yes
HTTP 5xx                               ``BackendUnavailable``  yes
HTTP 429 (``Retry-After`` honoured)    ``BackendRateLimited``  yes
HTTP 403 with a spent rate limit       ``BackendRateLimited``  yes
other HTTP 4xx (404, 400 bad_data...)  ``BackendRejected``     never
circuit open                           ``BackendUnavailable``  no
per-investigation deadline reached     ``BackendTimeout``      no
body not JSON (HTML page, truncated)   ``BackendBadResponse``  no
=====================================  ======================  =========

Retries use jittered exponential backoff, bounded by ``settings.retries`` and by
``correlator.deadline.remaining()``: a retry whose delay would outlive the investigation deadline
is not attempted, and each attempt's timeout is cut to the time left. A circuit breaker opens
after ``breaker_failures`` consecutive transient failures and lets one probe through (half-open)
after ``breaker_reset_seconds``. Identical in-flight GETs (method, path, params, tenant) share one
upstream call; ``get_json(..., cache_ttl=s)`` caches immutable results (trace bodies). A
semaphore caps concurrent requests per backend. Rate-limit headers are honoured: a 403 or 429
whose ``Retry-After``/``X-RateLimit-*``/``RateLimit-*`` headers say the quota is spent waits
until the reset (when it fits the deadline and ``max_retry_after``), and a success that spends
the last request of the quota holds further calls until the reset instead of burning a 403.
Clock, sleep and jitter are constructor parameters so tests never sleep.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors._client import build_client
from connectors._resilience import (
    CircuitBreaker,
    TTLCache,
    body_snippet,
    decode_json,
    freeze_params,
    parse_retry_after,
    rate_limit_wait,
    status_error,
)
from correlator import deadline
from correlator.errors import (
    BackendError,
    BackendRateLimited,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from correlator.metrics import Metrics
from correlator.settings import BackendSettings

ParamValue = str | int | float | bool | None
Params = Mapping[str, ParamValue | Sequence[ParamValue]]
Sleep = Callable[[float], Awaitable[None]]
TENANT_HEADER = "X-Scope-OrgID"
SETTLED_SECONDS = 60.0  # a range that ended this long ago no longer changes (see settled_ttl)

__all__ = [
    "TENANT_HEADER",
    "BackendClient",
    "CircuitBreaker",
    "CircuitOpen",
    "Params",
    "TTLCache",
    "body_snippet",
    "build_client",
    "parse_retry_after",
]


class CircuitOpen(BackendUnavailable):
    """The backend's breaker is open: the call was not attempted (never retried)."""


class BackendClient:
    """Timeouts, retries, breaker, coalescing, TTL cache, concurrency cap and auth for one backend.

    ``name`` labels errors and metrics (``prometheus``, ``tempo``, ``slack`` ...). Not thread-safe;
    one instance per backend per event loop.
    """

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        settings: BackendSettings,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        backoff_base: float = 0.1,
        backoff_max: float = 2.0,
        max_retry_after: float = 30.0,
        cache_entries: int = 256,
    ) -> None:
        self.name = name
        self.settings = settings
        self._client = client
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self.breaker = CircuitBreaker(
            settings.breaker_failures, settings.breaker_reset_seconds, clock=clock
        )
        self.cache = TTLCache(cache_entries, clock=clock)
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._inflight: dict[tuple[Any, ...], asyncio.Task[httpx.Response]] = {}
        self._limited_until: datetime | None = None  # wall clock: quota spent until then

    # -- public API ------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retries: int | None = None,
    ) -> httpx.Response:
        """One logical call (with retries) returning a 2xx response, else a ``BackendError``.

        GETs identical to one already in flight share its response. ``retries`` overrides
        ``settings.retries`` (e.g. ``0`` for non-idempotent POSTs).
        """
        method = method.upper()
        merged = self._headers(headers)
        if method != "GET" or json is not None:
            return await self._with_retries(method, path, params, json, merged, retries)
        # tenant, auth and format headers (e.g. Loki's encoding flags) are part of the identity
        key = (method, path, freeze_params(params), tuple(sorted(merged.items())), retries)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(
                self._with_retries(method, path, params, None, merged, retries)
            )
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._forget, key))
        return await asyncio.shield(task)

    async def get_json(
        self,
        path: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        cache_ttl: float | None = None,
    ) -> Any:
        """GET and decode JSON; ``cache_ttl`` seconds caches the decoded body (immutable data)."""
        key = ("GET", path, freeze_params(params), tuple(sorted(self._headers(headers).items())))
        if cache_ttl:
            hit, value = self.cache.get(key)
            if hit:
                return value
        response = await self.request("GET", path, params=params, headers=headers)
        value = self.decode_json(response)
        if cache_ttl:
            self.cache.put(key, value, cache_ttl)
        return value

    def settled_ttl(self, end: datetime) -> float | None:
        """``cache_ttl`` for a range query ending at ``end``: the configured past-query TTL
        once the range is settled (ended ``SETTLED_SECONDS`` ago: late samples and rule
        evaluations have landed), else ``None``. Investigations of one group or service ask
        identical settled queries; the cache answers all but the first."""
        ttl = self.settings.past_query_cache_seconds
        if not ttl or end > self._wall_clock() - timedelta(seconds=SETTLED_SECONDS):
            return None
        return ttl

    def decode_json(self, response: httpx.Response) -> Any:
        """JSON body or ``BackendBadResponse`` (HTML error page, truncated or empty body)."""
        return decode_json(self.name, response)

    # -- internals -------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        out: dict[str, str] = {}
        s = self.settings
        if s.tenant:
            out[TENANT_HEADER] = s.tenant
        if s.bearer_token is not None:
            out["Authorization"] = f"Bearer {s.bearer_token.get_secret_value()}"
        if extra:
            out.update(extra)
        return out

    def _auth(self) -> httpx.BasicAuth | None:
        s = self.settings
        if s.bearer_token is None and s.basic_user:
            password = s.basic_password.get_secret_value() if s.basic_password else ""
            return httpx.BasicAuth(s.basic_user, password)
        return None

    def _forget(self, key: tuple[Any, ...], task: asyncio.Task[httpx.Response]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" when all waiters left

    async def _with_retries(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        headers: dict[str, str],
        retries: int | None,
    ) -> httpx.Response:
        attempts = 1 + (self.settings.retries if retries is None else retries)
        for attempt in range(attempts):
            try:
                return await self._attempt(method, path, params, body, headers)
            except BackendError as err:
                if not err.transient or attempt + 1 >= attempts or isinstance(err, CircuitOpen):
                    raise
                delay = self._delay(attempt, err)
                if delay is None:
                    raise
            if self._metrics is not None:
                self._metrics.backend_retries_total.labels(self.name).inc()
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, err: BackendError) -> float | None:
        """Seconds before the next attempt, or ``None`` when it would not fit the deadline."""
        base = min(self._backoff_max, self._backoff_base * (2.0**attempt))
        delay = base / 2 + self._jitter() * base / 2
        if isinstance(err, BackendRateLimited) and err.retry_after is not None:
            if err.retry_after > self._max_retry_after:
                return None
            delay = max(delay, err.retry_after)
        left = deadline.remaining(clock=self._clock)
        if left is not None and delay >= left:
            return None
        return delay

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        headers: dict[str, str],
    ) -> httpx.Response:
        timeout = self._timeout()
        self._check_quota()
        if not self.breaker.allow():
            raise CircuitOpen(self.name, "circuit open (recent consecutive failures)")
        started = self._clock()
        outcome = "ok"
        try:
            async with self._semaphore:
                response = await self._send(method, path, params, body, headers, timeout)
            self._check_status(response)
        except BackendError as err:
            outcome = type(err).__name__.removeprefix("Backend").lower()
            if err.transient:
                self.breaker.failure()
            else:
                self.breaker.success()
            raise
        except BaseException:
            self.breaker.release()
            raise
        else:
            self.breaker.success()
            return response
        finally:
            self._record(started, outcome)

    def _timeout(self) -> httpx.Timeout | None:
        left = deadline.remaining(clock=self._clock)
        if left is None:
            return None
        if left <= 0.0:
            raise BackendTimeout(self.name, "investigation deadline exceeded before the request")
        s = self.settings
        return httpx.Timeout(
            min(s.timeout_seconds, left), connect=min(s.connect_timeout_seconds, left)
        )

    async def _send(
        self,
        method: str,
        path: str,
        params: Params | None,
        body: Any,
        headers: dict[str, str],
        per_attempt: httpx.Timeout | None,
    ) -> httpx.Response:
        extra: dict[str, Any] = {}
        if per_attempt is not None:
            extra["timeout"] = per_attempt
        auth = self._auth()
        if auth is not None:
            extra["auth"] = auth
        total = self._total_seconds()
        try:
            async with asyncio.timeout(total):  # httpx timeouts are per read: a drip never trips
                return await self._client.request(
                    method, path, params=params, json=body, headers=headers, **extra
                )
        except TimeoutError as exc:
            raise BackendTimeout(
                self.name, f"no complete answer within {total:g}s on {path}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise BackendTimeout(self.name, f"{type(exc).__name__} on {path}") from exc
        except httpx.TransportError as exc:
            raise BackendUnavailable(self.name, f"{type(exc).__name__} on {path}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise BackendRejected(self.name, f"invalid URL {path!r}: {exc}") from exc

    def _total_seconds(self) -> float:
        """The whole attempt's budget: connect + read timeouts, cut to the deadline left (D2)."""
        s = self.settings
        total = s.timeout_seconds + s.connect_timeout_seconds
        left = deadline.remaining(clock=self._clock)
        return max(0.0, min(total, left)) if left is not None else total

    def _check_quota(self) -> None:
        """Fail fast (transient, with the wait) while a spent rate-limit quota is resetting."""
        if self._limited_until is None:
            return
        wait = (self._limited_until - self._wall_clock()).total_seconds()
        if wait <= 0:
            self._limited_until = None
            return
        raise BackendRateLimited(
            self.name, "rate limit quota spent (not sent)", status=None, retry_after=wait
        )

    def _check_status(self, response: httpx.Response) -> None:
        now = self._wall_clock()
        err = status_error(self.name, response, now=now)
        if err is not None:
            raise err
        spent = rate_limit_wait(response.headers, now=now)
        if spent is not None and "retry-after" not in response.headers:
            self._limited_until = now + timedelta(seconds=spent)

    def _record(self, started: float, outcome: str) -> None:
        if self._metrics is None:
            return
        self._metrics.backend_request_seconds.labels(self.name, outcome).observe(
            max(0.0, self._clock() - started)
        )
        self._metrics.breaker_open.labels(self.name).set(
            0.0 if self.breaker.state == "closed" else 1.0
        )
