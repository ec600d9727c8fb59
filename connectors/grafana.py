"""Grafana annotations as deploy markers (``ports.AnnotationSource``).

``GET /api/annotations?from=<ms>&to=<ms>&tags=a&tags=b&matchAny=true&type=annotation&limit=``
(wire-formats.md §5): ``from``/``to`` are epoch **milliseconds**; several ``tags`` are ANDed by
Grafana unless ``matchAny=true``, which we send when more than one tag is configured, so an
annotation carrying *any* configured tag (``deploy``, ``release`` ...) counts. Every response
field is optional (``omitempty``).

Annotation convention (lenient; document your CI to follow it):

* tags ``service:<name>``, ``version:<v>``, ``commit:<sha>``, ``env:<e>`` (``=`` works as well as
  ``:``; also ``app``/``svc``, ``sha``/``revision``/``rev``, ``environment``,
  ``from_version``/``from_commit``, ``kind:config``/``kind:feature_flag``, ``flag:<key>``);
* the same ``key=value`` / ``key: value`` pairs inside the text, e.g.
  ``"Deployed service=cart version=1.4.2 commit=9f1c2ab"``;
* otherwise the first plain tag that is not a configured marker tag names the service, and a
  7-40 character hex word in the text is taken as the commit.

Tags win over text. Annotations without any service are reported with service ``unknown``. URLs in
the text are never used as links (``correlator.evidence`` builds links from configured templates).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors._http import BackendClient, Params
from correlator.errors import BackendBadResponse
from correlator.metrics import Metrics
from correlator.models import Change, ChangeKind, TimeWindow
from correlator.settings import GrafanaSettings

BACKEND = "grafana"
LIMIT = 500
MAX_TEXT = 1000

_KEYS: dict[str, str] = {
    "service": "service",
    "app": "service",
    "svc": "service",
    "version": "to_version",
    "commit": "to_commit",
    "sha": "to_commit",
    "revision": "to_commit",
    "rev": "to_commit",
    "env": "environment",
    "environment": "environment",
    "from_version": "from_version",
    "from_commit": "from_commit",
    "kind": "kind",
    "flag": "flag_key",
}
# The key must start a word that is not part of a URL or DSN: in ``postgres://app:pw@db`` the
# ``app:`` is a user name, and its password must never become a service name (report D3).
_PAIR = re.compile(
    r"(?<![/\w.@:%+-])("
    + "|".join(sorted(_KEYS, key=len, reverse=True))
    + r")\s*[:=]\s*\"?(?!//)([\w./@+-]+)",
    re.IGNORECASE,
)
_HEX_WORD = re.compile(r"\b(?=[0-9]*[a-f])[0-9a-f]{7,40}\b")  # at least one letter: not a build no.
_TAG = re.compile(r"<[^>]*>")


class _GrafanaApi:
    def __init__(self, http: BackendClient) -> None:
        self.http = http

    async def annotations(self, start_ms: int, end_ms: int, tags: Sequence[str]) -> Any:
        params: dict[str, Any] = {
            "from": start_ms,
            "to": end_ms,
            "type": "annotation",
            "limit": LIMIT,
        }
        if tags:
            params["tags"] = list(tags)
        if len(tags) > 1:
            params["matchAny"] = "true"
        query: Params = params
        return await self.http.get_json("/api/annotations", params=query)


class GrafanaAnnotations:
    """Satisfies ``AnnotationSource``: deploy annotations in a window as ``Change``s."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: GrafanaSettings,
        *,
        metrics: Metrics | None = None,
        http: BackendClient | None = None,
    ) -> None:
        self._api = _GrafanaApi(http or BackendClient(BACKEND, client, settings, metrics=metrics))

    async def deploy_annotations(self, window: TimeWindow, tags: Sequence[str]) -> list[Change]:
        start_ms = int(window.start.timestamp() * 1000)
        end_ms = int(window.end.timestamp() * 1000) + 1
        items = await self._api.annotations(start_ms, end_ms, tags)
        if not isinstance(items, list):
            raise BackendBadResponse(BACKEND, "annotations: body is not a list")
        changes = [parse_annotation(a, tags) for a in items if isinstance(a, Mapping)]
        return sorted((c for c in changes if c is not None), key=lambda c: c.time)


def parse_annotation(item: Mapping[str, Any], marker_tags: Sequence[str] = ()) -> Change | None:
    """One Grafana ``ItemDTO`` -> ``Change`` (``None`` without a usable ``time``)."""
    when = _millis(item.get("time"))
    if when is None:
        return None
    raw_tags = item.get("tags")
    raw_tags = raw_tags if isinstance(raw_tags, list) else []
    tags = [str(t) for t in raw_tags if isinstance(t, str | int)]
    text = _plain(item.get("text"))
    fields = _fields_from_text(text)
    fields.update(_fields_from_tags(tags))
    if "service" not in fields:
        markers = {t.lower() for t in marker_tags}
        plain = [t for t in tags if not _PAIR.match(t) and t.lower() not in markers]
        if plain:
            fields["service"] = plain[0]
    if "to_commit" not in fields and (word := _HEX_WORD.search(text.lower())):
        fields["to_commit"] = word.group(0)
    kind = _kind(fields.pop("kind", None), fields)
    author = item.get("login") or item.get("email")
    ident = item.get("id")
    return Change(
        evidence_id=f"change:grafana:{ident if ident is not None else int(when.timestamp())}",
        service=fields.pop("service", "unknown"),
        kind=kind,
        time=when,
        source=BACKEND,
        author=str(author) if author else None,
        description=text or None,
        **fields,
    )


def _fields_from_tags(tags: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags:
        m = _PAIR.fullmatch(tag.strip())
        if m:
            out.setdefault(_KEYS[m.group(1).lower()], m.group(2))
    return out


def _fields_from_text(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _PAIR.finditer(text):
        out.setdefault(_KEYS[m.group(1).lower()], m.group(2).rstrip(".,;"))
    return out


def _kind(raw: str | None, fields: dict[str, str]) -> ChangeKind:
    value = (raw or "").lower().replace("-", "_")
    if value in {"config", "configuration"}:
        return ChangeKind.CONFIG
    if value in {"feature_flag", "flag"} or "flag_key" in fields:
        return ChangeKind.FEATURE_FLAG
    return ChangeKind.DEPLOY


def _plain(raw: Any) -> str:
    if not isinstance(raw, str):
        return ""
    text = html.unescape(_TAG.sub(" ", raw))
    return " ".join(text.split())[:MAX_TEXT]


def _millis(raw: Any) -> datetime | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        return None
    try:
        return datetime.fromtimestamp(raw / 1000.0, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
