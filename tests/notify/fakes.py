"""Fake Slack and PagerDuty HTTP servers on real 127.0.0.1 sockets, answering with the upstream
response fixtures in tests/fixtures/{slack,pagerduty} (only ids, ts and text values replaced).

Each server runs ``ThreadingHTTPServer`` in a thread, records every request, can be scripted to
fail the next requests (``fail_next``) and can be stopped and restarted on the same port (an
outage: connections are refused in between).
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent.parent / "fixtures"
SLACK_TOKEN = "xoxb-test-token"
PD_ROUTING_KEY = "e93facc04764012d7bfb002500d5d1a6"
PD_API_TOKEN = "pd-api-token"
PD_FROM = "oncall@example.com"


def load(system: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / system / name).read_text())
    return data


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Scripted:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeServer:
    """Base: request log, scripted failures, start/stop on a fixed port."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.script: list[Scripted] = []
        self.lock = threading.Lock()
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, body: Any, **headers: str) -> None:
        with self.lock:
            self.script.append(Scripted(status, body, headers))

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with server.lock:
                    server.requests.append(seen)
                    scripted = server.script.pop(0) if server.script else None
                if scripted is None:
                    scripted = server.handle(seen)
                payload = (
                    scripted.body.encode()
                    if isinstance(scripted.body, str)
                    else json.dumps(scripted.body).encode()
                )
                ctype = "text/plain" if isinstance(scripted.body, str) else "application/json"
                self.send_response(scripted.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in scripted.headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def handle(self, req: Seen) -> Scripted:
        raise NotImplementedError


class FakeSlack(FakeServer):
    """``chat.postMessage`` / ``chat.update`` and one incoming webhook (``/services/...``)."""

    CHANNELS = {"#alerts": "C1H9RESGL", "#pay": "C024BE91L", "C1H9RESGL": "C1H9RESGL"}
    WEBHOOK_PATH = "/services/T000/B000/XXXXSECRET"

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.webhook_posts: list[Any] = []
        self._seq = 0

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if not m.get("thread_ts")]

    def replies(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m.get("thread_ts")]

    def _error(self, method: str, code: str) -> Scripted:
        name = f"{method}.response_error.openapi-example.json"
        body = load("slack", name)
        body["error"] = code
        return Scripted(200, body)

    def handle(self, req: Seen) -> Scripted:
        if req.path == self.WEBHOOK_PATH:
            self.webhook_posts.append(req.body)
            return Scripted(200, "ok")
        if req.path.startswith("/services/"):
            return Scripted(404, "channel_not_found")
        method = req.path.rsplit("/", 1)[-1]
        if req.headers.get("authorization") != f"Bearer {SLACK_TOKEN}":
            return self._error(method, "invalid_auth")
        body = req.body if isinstance(req.body, dict) else {}
        channel = self.CHANNELS.get(str(body.get("channel")))
        if channel is None:
            return self._error(method, "channel_not_found")
        if method == "chat.postMessage":
            return self._post(channel, body)
        if method == "chat.update":
            return self._update(channel, body)
        return self._error(method, "unknown_method")

    def _post(self, channel: str, body: dict[str, Any]) -> Scripted:
        with self.lock:
            self._seq += 1
            ts = f"1503435956.{self._seq:06d}"
        thread_ts = body.get("thread_ts")
        if thread_ts and (channel, thread_ts) not in self.messages:
            return self._error("chat.postMessage", "thread_not_found")
        self.messages[(channel, ts)] = {
            "text": body.get("text"),
            "blocks": body.get("blocks"),
            "thread_ts": thread_ts,
            "updates": 0,
        }
        resp = load("slack", "chat.postMessage.response_ok.openapi-example.json")
        resp.update(channel=channel, ts=ts)
        resp["message"] = {**copy.deepcopy(resp["message"]), "ts": ts, "text": body.get("text")}
        return Scripted(200, resp)

    def _update(self, channel: str, body: dict[str, Any]) -> Scripted:
        ts = str(body.get("ts"))
        msg = self.messages.get((channel, ts))
        if msg is None:
            return self._error("chat.update", "message_not_found")
        msg.update(text=body.get("text"), blocks=body.get("blocks"))
        msg["updates"] += 1
        resp = load("slack", "chat.update.response_ok.openapi-example.json")
        resp.update(channel=channel, ts=ts, text=body.get("text"))
        resp["message"] = {**resp["message"], "text": body.get("text")}
        return Scripted(200, resp)


class FakePagerDuty(FakeServer):
    """Events v2 ``/v2/enqueue`` and REST ``/incidents`` + ``/incidents/{id}/notes``."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, str] = {}  # incident_key -> id
        self.notes: dict[str, list[str]] = {}

    def handle(self, req: Seen) -> Scripted:
        if req.path == "/v2/enqueue":
            return self._enqueue(req.body)
        if req.headers.get("authorization") != f"Token token={PD_API_TOKEN}":
            return Scripted(401, {"error": {"message": "Unauthorized", "code": 2006}})
        if req.path == "/incidents" and req.method == "GET":
            key = req.query.get("incident_key", [""])[0]
            found = [
                {"id": i, "type": "incident", "incident_key": k}
                for k, i in self.incidents.items()
                if k == key
            ]
            return Scripted(200, {"incidents": found, "limit": 25, "offset": 0, "more": False})
        parts = req.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "incidents" and parts[2] == "notes":
            if not req.headers.get("from"):
                return Scripted(400, {"error": {"message": "From header required"}})
            content = req.body["note"]["content"]
            self.notes.setdefault(parts[1], []).append(content)
            resp = load("pagerduty", "rest_create_incident_note_response.api-schema-example.json")
            resp["note"]["content"] = content
            return Scripted(200, resp)
        return Scripted(404, {"error": {"message": "Not Found"}})

    def _enqueue(self, body: Any) -> Scripted:
        ok = (
            isinstance(body, dict)
            and body.get("routing_key") == PD_ROUTING_KEY
            and body.get("event_action") in ("trigger", "acknowledge", "resolve")
            and isinstance(body.get("payload"), dict)
            and all(body["payload"].get(k) for k in ("summary", "source", "severity"))
        )
        if not ok:
            return Scripted(
                400, load("pagerduty", "events_v2_enqueue_error_response.api-schema-example.json")
            )
        self.events.append(body)
        resp = load("pagerduty", "events_v2_enqueue_202_response.api-schema-example.json")
        resp["dedup_key"] = body.get("dedup_key", resp["dedup_key"])
        return Scripted(202, resp)
