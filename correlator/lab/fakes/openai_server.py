"""A local OpenAI-compatible chat server for tests and benchmarks (loopback only, stdlib only).

Ships inside the package so that ``correlator bench`` and ``tests/llm`` use the same double:

    with FakeOpenAI(ttft_ms=0, tokens_per_second=0) as srv:
        srv.script(Reply.json({"facts": []}), Reply.status(429, retry_after=0))
        ... api_base=srv.api_base ...
        srv.requests  # every request body received, in order

It implements ``POST /v1/chat/completions``: non-streaming JSON and streaming SSE (with a final
usage chunk when ``stream_options.include_usage`` is set). Timing is modelled as
``ttft_ms + prefill_ms_per_token * prompt_tokens`` before the first token, then
``tokens_per_second`` (0 = as fast as possible). Replies are scripted (FIFO) or produced by a
``responder(body) -> Reply`` callable: valid JSON, HTTP status with ``Retry-After``, a hang (no
answer until the server stops), invalid JSON, or a refusal. It runs its own event loop in a
daemon thread so sync and async callers can both use it. Tokens are counted as ~4 characters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

ReplyKind = str  # "content" | "status" | "hang" | "refusal" | "drop"


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    content: str = ""
    status: int = 200
    retry_after: float | None = None

    @classmethod
    def json(cls, obj: object) -> Reply:
        return cls("content", content=json.dumps(obj))

    @classmethod
    def text(cls, content: str) -> Reply:
        """Any text, e.g. invalid JSON."""
        return cls("content", content=content)

    @classmethod
    def error(cls, status: int, retry_after: float | None = None) -> Reply:
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def hang(cls) -> Reply:
        return cls("hang")

    @classmethod
    def drop(cls, content: str = '{"hypotheses": [') -> Reply:
        """Close the connection mid-answer (after a few streamed chunks when streaming)."""
        return cls("drop", content=content)

    @classmethod
    def refusal(cls, reason: str = "I can't help with that.") -> Reply:
        return cls("refusal", content=reason)


Responder = Callable[[dict[str, Any]], Reply]


def schema_name(body: dict[str, Any]) -> str:
    """The ``response_format.json_schema.name`` of a request ("" when absent)."""
    rf = body.get("response_format") or {}
    if isinstance(rf, dict):
        js = rf.get("json_schema") or {}
        if isinstance(js, dict):
            return str(js.get("name", ""))
    return ""


_CATALOG_ID = re.compile(r"^- (\S+) \| ", re.M)
_JSON_ID = re.compile(r'"(?:evidence_)?id": "([^"]+)"')
_DIGEST_IDS = re.compile(r"^Ids you may cite: (.+)$", re.M)
_RULE_TOP = re.compile(r"^1\. (\S+) / (\w+) \(", re.M)
_TOP_HYP = re.compile(r"^Top hypothesis: (\S+) / (\w+) ", re.M)


def auto_reply(body: dict[str, Any]) -> Reply:
    """A valid, cited reply for any stage, derived from the prompt (for benchmarks and demos)."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    name = schema_name(body)
    ids = _CATALOG_ID.findall(prompt) or _JSON_ID.findall(prompt)
    if name == "digest":
        m = _DIGEST_IDS.search(prompt)
        cite = m.group(1).split(", ")[:2] if m else ids[:1]
        return Reply.json(
            {"facts": [{"statement": "errors rise after onset", "evidence_ids": cite}]}
        )
    if name == "remediate":
        m = _TOP_HYP.search(prompt)
        svc = m.group(1) if m else "unknown"
        return Reply.json(
            {"kind": "investigate", "summary": f"inspect {svc}", "risk": "none", "verify": "alert"}
        )
    m = _RULE_TOP.search(prompt)
    svc, fault = (m.group(1), m.group(2)) if m else ("unknown", "code_error")
    hyp = {"service": svc, "fault_type": fault, "statement": f"{svc} fails", "confidence": 0.7}
    return Reply.json({"hypotheses": [{**hyp, "evidence_ids": ids[:3]}]} if ids else {})


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


@dataclass
class FakeOpenAI:
    ttft_ms: float = 500.0
    prefill_ms_per_token: float = 0.05
    tokens_per_second: float = 60.0
    responder: Responder | None = None
    default: Reply = field(default_factory=lambda: Reply.json({}))
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._in_flight = 0
        self.max_in_flight = 0  # highest number of requests answered at the same time

    # -- control ------------------------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests)

    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._run, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- server -------------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._script:
                return self._script.popleft()
        return self.responder(body) if self.responder else self.default

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (h.partition(":") for h in lines[1:] if h)
            }
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
            if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
                await self._send(writer, 404, {"error": {"message": "not found"}})
                return
            body = json.loads(raw or b"{}")
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                await self._answer(writer, body, self._next_reply(body))
            finally:
                self._in_flight -= 1
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _answer(self, w: asyncio.StreamWriter, body: dict[str, Any], reply: Reply) -> None:
        assert self._stopping is not None
        if reply.kind == "hang":
            await self._stopping.wait()
            return
        if reply.kind == "status":
            extra = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
            err = {"error": {"message": f"scripted {reply.status}", "type": "scripted"}}
            await self._send(w, reply.status, err, extra)
            return
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        prompt_tokens = _tokens(prompt)
        await asyncio.sleep((self.ttft_ms + self.prefill_ms_per_token * prompt_tokens) / 1000.0)
        if body.get("stream"):
            await self._stream(w, body, reply, prompt_tokens)
            return
        if reply.kind == "drop":
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n"
            )
            w.write(reply.content.encode())
            await w.drain()
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.kind == "refusal":
            message = {"role": "assistant", "content": None, "refusal": reply.content}
        out_tokens = _tokens(reply.content)
        if self.tokens_per_second > 0:
            await asyncio.sleep(out_tokens / self.tokens_per_second)
        await self._send(w, 200, self._completion(body, message, prompt_tokens, out_tokens))

    def _completion(
        self, body: dict[str, Any], message: dict[str, Any], pt: int, ct: int
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }

    async def _stream(
        self, w: asyncio.StreamWriter, body: dict[str, Any], reply: Reply, prompt_tokens: int
    ) -> None:
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
        }
        base["model"] = body.get("model", "fake")
        text = reply.content
        pieces = [text[i : i + 4] for i in range(0, len(text), 4)] or [""]
        field_name = "refusal" if reply.kind == "refusal" else "content"
        for i, piece in enumerate(pieces):
            delta: dict[str, Any] = {field_name: piece}
            if i == 0:
                delta["role"] = "assistant"
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await self._sse(w, chunk)
            if reply.kind == "drop" and i >= 1:
                return
            if self.tokens_per_second > 0:
                await asyncio.sleep(1.0 / self.tokens_per_second)
        done = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await self._sse(w, done)
        if (body.get("stream_options") or {}).get("include_usage"):
            ct = len(pieces)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": ct}
            usage["total_tokens"] = prompt_tokens + ct
            await self._sse(w, {**base, "choices": [], "usage": usage})
        await self._chunk(w, b"data: [DONE]\n\n")
        await self._chunk(w, b"")

    async def _sse(self, w: asyncio.StreamWriter, obj: object) -> None:
        await self._chunk(w, b"data: " + json.dumps(obj).encode() + b"\n\n")

    @staticmethod
    async def _chunk(w: asyncio.StreamWriter, data: bytes) -> None:
        w.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        await w.drain()

    @staticmethod
    async def _send(
        w: asyncio.StreamWriter, status: int, obj: object, extra: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(obj).encode()
        head = [f"HTTP/1.1 {status} X", "Content-Type: application/json"]
        head += [f"Content-Length: {len(data)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        w.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await w.drain()


def main(argv: list[str] | None = None) -> int:
    """Standalone: ``python -m correlator.lab.fakes.openai_server --port 8001`` (auto_reply)."""
    import argparse

    ap = argparse.ArgumentParser(description="local OpenAI-compatible test server (loopback)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ttft-ms", type=float, default=500.0)
    ap.add_argument("--prefill-ms-per-token", type=float, default=0.05)
    ap.add_argument("--tokens-per-second", type=float, default=60.0)
    args = ap.parse_args(argv)
    srv = FakeOpenAI(
        ttft_ms=args.ttft_ms,
        prefill_ms_per_token=args.prefill_ms_per_token,
        tokens_per_second=args.tokens_per_second,
        responder=auto_reply,
        port=args.port,
    )
    srv.start()
    print(srv.api_base, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
