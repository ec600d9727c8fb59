"""Grafana annotations as deploy markers (``ports.AnnotationSource``).

``GET /api/annotations?from=<ms>&to=<ms>&tags=a&tags=b&matchAny=true&type=annotation&limit=``
(wire-formats.md §5): ``from``/``to`` are epoch **milliseconds**; several ``tags`` are ANDed by
Grafana unless ``matchAny=true``, which we send when more than one tag is configured, so an
annotation carrying *any* configured tag (``deploy``, ``release`` ...) counts. Every response
field is optional (``omitempty``).

Annotation convention (lenient; document your CI to follow it). Fields are read by their meaning
(``connectors._annotation_meaning`` holds the word tables):

* tags ``service:<name>``, ``version:<v>``, ``commit:<sha>``, ``env:<e>`` (``=`` works as well as
  ``:``; also ``app``/``svc``, ``sha``/``revision``/``rev``, ``environment``,
  ``from_version``/``from_commit``, ``kind:config``/``kind:feature_flag``, ``flag:<key>``);
* the same ``key=value`` / ``key: value`` pairs inside the text, e.g.
  ``"Deployed service=cart version=1.4.2 commit=9f1c2ab"``;
* bare tags by meaning: a kind word sets the kind (``flag``/``feature-flag`` -> feature flag,
  ``config``/``config-change`` -> config, ``deploy``/``release``/``rollout``/``rollback`` ->
  deploy; a flag or config word beats the generic ``deploy``); an environment (``prod``,
  ``staging``, ``eu-west-1``) the environment, ``v1.4.2``/``1.4.2`` the version, a 7-40 character
  hex word with a letter the commit; tool words (``helm``, ``argocd``, ``ci`` ...), numbers and
  configured marker tags are skipped. Only a remaining tag names the service: the one the text
  also names, else the first; with none (and no ``service`` pair) it is ``unknown``;
* the text, lightly: "rolled back" (``from X to Y`` fills the versions/commits of a deploy),
  "enabled flag X" / "flag X turned on" / "feature flag X" (flag key X of a flag change), "config
  change" / "configmap" / "updated config"; without a commit, a 7-40 character hex word in the
  text is taken as the commit. No other word of the text ever names the service.

Precedence: a ``kind:`` pair, then a ``flag:`` key, then bare tags, then the text; for the other
fields pairs in tags, then bare tags, then pairs and phrases in the text. URLs in the text are never
used as links (``correlator.evidence`` builds links from configured templates).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from connectors._annotation_meaning import HEX_WORD, kind_word, pick_service, read_tags, read_text
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
    pairs = _fields_from_tags(tags)
    fields.update(pairs)
    bare = read_tags([t for t in tags if not _PAIR.fullmatch(t.strip())], marker_tags)
    said = read_text(text)
    kind = _kind(fields.pop("kind", None), "flag_key" in fields, bare.kind(), said.kind)
    for key, value in bare.fields.items():
        if key not in pairs:  # a bare tag beats the text, never an explicit pair
            fields[key] = value
    if kind is ChangeKind.FEATURE_FLAG and said.flag_key:
        fields.setdefault("flag_key", said.flag_key)
    if kind is ChangeKind.DEPLOY:
        for key, value in said.refs.items():
            fields.setdefault(key, value)
    if "service" not in fields and (name := pick_service(bare.candidates, text)):
        fields["service"] = name
    if "to_commit" not in fields and (word := HEX_WORD.search(text.lower())):
        fields["to_commit"] = word.group(0)
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


def _kind(
    pair: str | None, flag_key: bool, tag: ChangeKind | None, text: ChangeKind | None
) -> ChangeKind:
    """A ``kind:`` pair, then a ``flag:`` key, then a bare tag, then the text; else deploy."""
    said = kind_word(pair or "")
    if said is None and flag_key:
        said = ChangeKind.FEATURE_FLAG
    return said or tag or text or ChangeKind.DEPLOY


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
