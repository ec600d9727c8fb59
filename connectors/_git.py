"""What the Git provider connectors (github.py, gitlab.py) share: their web host, repository URLs
and commit ids. No HTTP here: each connector speaks to its API through ``connectors._http``.

Untrusted input stays data: a commit id from telemetry is accepted only as 7-64 hex characters
(it goes into a request path), and a repository URL from telemetry is only *parsed*, and only
when its host is the configured provider's web host; it is never fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from correlator.errors import BackendRejected
from correlator.settings import GitSettings

_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
_API_SUFFIX = re.compile(r"/api/v\d+/?$")
MAX_MESSAGE = 200


def web_base(settings: GitSettings) -> str:
    """Scheme and host (and path prefix) of the provider's web UI, without a trailing slash.

    ``web_url`` when configured; else derived from the API URL: ``api.github.com`` ->
    ``github.com``, ``https://ghe.example.com/api/v3`` -> ``https://ghe.example.com``,
    ``https://gitlab.example.com/api/v4`` -> ``https://gitlab.example.com``.
    """
    if settings.web_url:
        return settings.web_url.rstrip("/")
    api = (settings.backend().url or "").rstrip("/")
    parts = urlsplit(api)
    if parts.hostname == "api.github.com":
        return f"{parts.scheme}://github.com"
    return _API_SUFFIX.sub("", api)


def same_host(url: str, base: str) -> bool:
    """``url`` is an http(s) URL on ``base``'s scheme-independent host (and port)."""
    a, b = urlsplit(url), urlsplit(base)
    if a.scheme not in ("http", "https") or not a.hostname or not b.hostname:
        return False
    return a.hostname.lower() == b.hostname.lower() and a.port == b.port


def repository_path(url: str, base: str) -> str | None:
    """``https://host/group/sub/repo(.git)`` -> ``group/sub/repo`` when on ``base``'s host.

    Also accepts ``git@host:group/repo.git``. The path below ``base``'s own path prefix is kept;
    web routes after ``/-/`` or ``/tree/`` are dropped. ``None`` when on another host.
    """
    text = url.strip()
    if text.startswith("git@") and ":" in text:
        host, path = text[4:].split(":", 1)
        text = f"https://{host}/{path}"
    if not same_host(text, base):
        return None
    path = urlsplit(text).path
    prefix = urlsplit(base).path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    path = re.split(r"/-/|/tree/|/blob/|/commit/|/compare/", path)[0].strip("/")
    path = path.removesuffix(".git")
    segments = [s for s in path.split("/") if s]
    if len(segments) < 2 or any(s in (".", "..") for s in segments):
        return None
    return "/".join(segments)


def check_sha(backend: str, value: str) -> str:
    """A commit id safe to put in a request path, else ``BackendRejected`` (never sent)."""
    if not _SHA.match(value):
        raise BackendRejected(backend, f"not a commit id: {value[:64]!r}")
    return value.lower()


def first_line(message: object) -> str:
    text = message if isinstance(message, str) else ""
    return (text.strip().splitlines() or [""])[0][:MAX_MESSAGE]


def link_has_next(link: str | None) -> bool:
    """RFC 8288 ``Link`` header names a ``rel="next"`` page (its URL is never followed)."""
    return bool(link) and re.search(r"""rel\s*=\s*"?next"?""", link or "") is not None


def mappings(raw: Any) -> list[Mapping[str, Any]]:
    """The JSON objects of a JSON array (anything else: none)."""
    return [x for x in raw if isinstance(x, Mapping)] if isinstance(raw, list) else []
