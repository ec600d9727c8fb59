"""Resilience building blocks of ``connectors/_http.py``: circuit breaker, TTL cache,
``Retry-After`` parsing, error-body snippets and the mapping of a response to
``correlator.errors`` (status classes, non-JSON bodies). Pure, clock-injectable, no I/O."""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from correlator.errors import (
    BackendBadResponse,
    BackendError,
    BackendRateLimited,
    BackendRejected,
    BackendUnavailable,
)

_SNIPPET = 300


class CircuitBreaker:
    """closed -> open after ``failures`` consecutive transient failures -> half-open after
    ``reset_seconds`` (one probe at a time) -> closed on success, open again on failure."""

    def __init__(
        self, failures: int, reset_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a request go out now? In half-open state only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        self._consecutive += 1
        if self._probing or self._consecutive >= self.failures:
            self._opened_at = self._clock()
        self._probing = False

    def release(self) -> None:
        """A probe ended without telling anything about health (e.g. cancelled)."""
        self._probing = False


class TTLCache:
    """A small LRU map with per-entry expiry (monotonic clock)."""

    def __init__(
        self, max_entries: int = 256, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_entries
        self._clock = clock
        self._data: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[bool, Any]:
        hit = self._data.get(key)
        if hit is None:
            return False, None
        expires, value = hit
        if self._clock() >= expires:
            del self._data[key]
            return False, None
        self._data.move_to_end(key)
        return True, value

    def put(self, key: tuple[Any, ...], value: Any, ttl: float) -> None:
        self._data[key] = (self._clock() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP-date; ``None`` if bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def rate_limit_wait(headers: httpx.Headers, *, now: datetime) -> float | None:
    """Seconds until a rate limit resets, from the response's headers; ``None`` when they do
    not say the quota is spent.

    ``Retry-After`` wins (GitHub secondary limits, GitLab, every 429); otherwise a spent quota
    (``X-RateLimit-Remaining: 0`` on GitHub, ``RateLimit-Remaining: 0`` on GitLab) waits until
    ``X-RateLimit-Reset``/``RateLimit-Reset`` (epoch seconds), or 60 s when the reset is absent.
    """
    after = parse_retry_after(headers.get("retry-after"), now=now)
    if after is not None:
        return after
    remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
    if remaining is None or remaining.strip() != "0":
        return None
    reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset"))
    try:
        return max(0.0, float(reset or "") - now.timestamp())
    except ValueError:
        return 60.0


def body_snippet(response: httpx.Response) -> str:
    """A short, single-line description of an error body (Prometheus/Loki ``error`` field)."""
    text = response.text
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("errorType", "error", "message") if data.get(k)]
        if parts:
            return ": ".join(parts)[:_SNIPPET]
    text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(text.split())[:_SNIPPET]


def status_error(name: str, response: httpx.Response, *, now: datetime) -> BackendError | None:
    """The error a non-2xx answer maps to (None for 2xx): 429 or a 403 with a spent quota is
    rate-limited, 5xx unavailable (both transient), any other 4xx rejected."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    what = f"HTTP {status} on {response.request.url.path}: {body_snippet(response)}"
    limited = rate_limit_wait(response.headers, now=now) if status in (403, 429) else None
    if status == 429 or limited is not None:
        return BackendRateLimited(name, what, status=status, retry_after=limited)
    if status >= 500:
        return BackendUnavailable(name, what, status=status)
    return BackendRejected(name, what, status=status)


def decode_json(name: str, response: httpx.Response) -> Any:
    """JSON body or ``BackendBadResponse`` (HTML error page, truncated or empty body)."""
    try:
        return json.loads(response.content)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        ctype = response.headers.get("content-type", "").lower()
        if "html" in ctype or response.content.lstrip()[:1] == b"<":
            what = f"HTML instead of JSON (HTTP {response.status_code})"
        else:
            what = f"invalid JSON ({exc})"
        raise BackendBadResponse(
            name, f"{what}: {body_snippet(response)[:120]!r}", status=response.status_code
        ) from exc


def freeze_params(params: Mapping[str, Any] | None) -> tuple[tuple[str, Any], ...]:
    """Query parameters as a hashable, order-free key (coalescing identical in-flight GETs)."""
    if not params:
        return ()
    items: list[tuple[str, Any]] = []
    for k, v in params.items():
        vals = tuple(v) if isinstance(v, list | tuple) else (v,)
        items.append((k, tuple(str(x) for x in vals)))
    return tuple(sorted(items))
