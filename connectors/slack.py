"""Slack notifier: Web API (``chat.postMessage`` / ``chat.update`` / thread replies) and
incoming-webhook mode, over the shared HTTP policy (``connectors/_http.py``).

Wire facts (REFERENCE.md §1, reference/wire-formats.md §7.1): the Web API answers HTTP 200 even
on failure, so ``ok`` is checked and ``error`` mapped to ``SlackError`` (``ratelimited`` and
server-side errors are retryable; ``channel_not_found``, ``invalid_auth``... are not). HTTP 429
carries ``Retry-After`` (seconds). ``ts`` is a string message id; ``chat.update`` needs the
channel *id* the post returned, not a ``#name``. Incoming webhooks answer ``text/plain`` ``ok``,
cannot edit, and their URL is a secret: it never appears in an error message.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from connectors._http import BackendClient, build_client
from correlator.errors import BackendError, BackendRateLimited, NotifyError
from correlator.metrics import Metrics
from correlator.ports import DeliveryReceipt, OutboundNote
from correlator.settings import BackendSettings, SlackSettings

CHANNEL = "slack"
WEBHOOK_CHANNEL = "slack_webhook"
# ok:false errors worth trying again later (docs.slack.dev "Errors" of chat.postMessage/update)
RETRYABLE = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


class SlackError(NotifyError):
    """An ``ok: false`` answer; ``code`` is Slack's ``error`` string (``channel_not_found``)."""

    def __init__(self, code: str, *, method: str, retryable: bool) -> None:
        super().__init__(CHANNEL, f"{method}: {code}", retryable=retryable)
        self.code = code
        self.method = method


def _backend_settings(url: str, token: str | None, retries: int) -> BackendSettings:
    return BackendSettings(
        url=url,
        bearer_token=SecretStr(token) if token else None,
        timeout_seconds=10.0,
        connect_timeout_seconds=3.0,
        retries=retries,
        breaker_failures=5,
        breaker_reset_seconds=30.0,
    )


class SlackNotifier:
    """``Notifier`` for the Slack Web API (bot token, ``chat:write``); also the ``SlackActions``
    of the verdict buttons (``views.open``, ``chat.update``)."""

    def __init__(
        self, http: BackendClient, *, api_url: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.http = http
        self.api_url = api_url.rstrip("/")
        self._client = client

    @classmethod
    def from_settings(
        cls,
        settings: SlackSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        **client_options: Any,
    ) -> SlackNotifier:
        token = settings.bot_token.get_secret_value() if settings.bot_token else None
        cfg = _backend_settings(settings.api_url, token, retries=2)
        client = build_client(cfg.model_copy(update={"url": None}), transport=transport)
        http = BackendClient(CHANNEL, client, cfg, metrics=metrics, **client_options)
        return cls(http, api_url=settings.api_url, client=client)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, note: OutboundNote) -> DeliveryReceipt:
        body: dict[str, Any] = {
            "channel": note.target,
            "text": note.payload.get("text", ""),
            "blocks": note.payload.get("blocks", []),
        }
        if note.kind == "update":
            method, retries = "chat.update", None  # editing is idempotent: retry in place
            body["ts"] = note.external_id
        else:
            # A retried post could appear twice: the outbox retries it later instead.
            method, retries = "chat.postMessage", 0
            body.update(unfurl_links=False, unfurl_media=False)
            if note.kind == "thread":
                body["thread_ts"] = note.external_id
        data = await self.call(method, body, retries=retries)
        return DeliveryReceipt(external_id=str(data.get("ts") or ""), target=data.get("channel"))

    async def open_view(self, trigger_id: str, view: dict[str, object]) -> None:
        """``views.open`` (the "what was the real cause" modal). A ``trigger_id`` lives 3 s, so
        no retry: a late modal is worse than the user clicking again."""
        await self.call("views.open", {"trigger_id": trigger_id, "view": view}, retries=0)

    async def update_message(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, object]]
    ) -> None:
        """``chat.update`` of a message we posted (the verdict line after a click)."""
        body = {"channel": channel, "ts": ts, "text": text, "blocks": blocks}
        await self.call("chat.update", body)

    async def call(
        self, method: str, body: dict[str, Any], *, retries: int | None = None
    ) -> dict[str, Any]:
        """One Web API call; ``ok: false`` becomes ``SlackError`` (or ``BackendRateLimited``)."""
        response = await self.http.request(
            "POST",
            f"{self.api_url}/{method}",
            json=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            retries=retries,
        )
        data = self.http.decode_json(response)
        if not isinstance(data, dict):
            raise SlackError("not_an_object", method=method, retryable=False)
        if data.get("ok") is True:
            return data
        code = str(data.get("error") or "unknown_error")
        if code == "ratelimited":
            after = response.headers.get("retry-after", "")
            raise BackendRateLimited(
                CHANNEL,
                f"{method}: ratelimited",
                status=response.status_code,
                retry_after=float(after) if after.isdigit() else None,
            )
        raise SlackError(code, method=method, retryable=code in RETRYABLE)


class SlackWebhookNotifier:
    """``Notifier`` for an incoming webhook: one post, plain-text ``ok`` answer, no edits."""

    def __init__(
        self, http: BackendClient, *, url: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self.http = http
        self._url = url
        self._client = client

    @classmethod
    def from_settings(
        cls,
        settings: SlackSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        **client_options: Any,
    ) -> SlackWebhookNotifier:
        if settings.webhook_url is None:
            raise ValueError("slack.webhook_url is not set")
        url = settings.webhook_url.get_secret_value()
        cfg = _backend_settings("", None, retries=0)
        client = build_client(cfg, transport=transport)
        http = BackendClient(WEBHOOK_CHANNEL, client, cfg, metrics=metrics, **client_options)
        return cls(http, url=url, client=client)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def send(self, note: OutboundNote) -> DeliveryReceipt:
        body = {"text": note.payload.get("text", ""), "blocks": note.payload.get("blocks", [])}
        try:
            response = await self.http.request("POST", self._url, json=body)
        except BackendError as err:
            raise _without_url(err) from None
        text = response.text.strip()
        if text != "ok":
            raise NotifyError(WEBHOOK_CHANNEL, f"unexpected answer {text[:80]!r}", retryable=False)
        return DeliveryReceipt()


def _without_url(err: BackendError) -> BackendError | NotifyError:
    """The same failure with a message that cannot contain the secret webhook URL."""
    what = f"HTTP {err.status}" if err.status else type(err).__name__
    if isinstance(err, BackendRateLimited):
        return BackendRateLimited(
            WEBHOOK_CHANNEL, what, status=err.status, retry_after=err.retry_after
        )
    return NotifyError(WEBHOOK_CHANNEL, what, retryable=err.transient)
