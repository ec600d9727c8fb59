"""Slack request signatures (v0, HMAC-SHA256) and replay protection.

Slack signs every interactivity request: ``X-Slack-Signature: v0=<hex>`` is
``HMAC-SHA256(signing_secret, "v0:" + X-Slack-Request-Timestamp + ":" + raw body)``
(docs.slack.dev/authentication/verifying-requests-from-slack). A request is accepted when its
timestamp is within five minutes of our clock, the signature matches (constant-time compare) and
the same signature was not seen before inside that window (``ReplayGuard``: a captured request
cannot be sent again). The guard is per process: a replica that did not see the original still
rejects it once the five minutes are over.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict

WINDOW_SECONDS = 300
MAX_REMEMBERED = 10_000


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``v0=`` signature Slack computes for ``body`` sent at ``timestamp``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def check(secret: str, timestamp: str, presented: str, body: bytes, *, now: float) -> str | None:
    """None when the request is authentic and fresh, else why not (for the log and metric)."""
    if not timestamp.isdigit() or not presented.startswith("v0="):
        return "missing_or_malformed_headers"
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        return "stale_timestamp"
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        return "bad_signature"
    return None


class ReplayGuard:
    """Signatures seen in the last ``WINDOW_SECONDS`` (bounded; oldest forgotten first)."""

    def __init__(self, max_size: int = MAX_REMEMBERED) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max = max_size

    def first_time(self, sig: str, *, now: float) -> bool:
        """True the first time ``sig`` is presented; False for a replay."""
        while self._seen and next(iter(self._seen.values())) < now - WINDOW_SECONDS:
            self._seen.popitem(last=False)
        if sig in self._seen:
            return False
        self._seen[sig] = now
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return True
