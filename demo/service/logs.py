"""JSON log lines (stdout) carrying trace_id/span_id, optionally pushed to Loki.

Loki push body (``POST /loki/api/v1/push``, JSON): one stream per (service, level) with
``trace_id``/``span_id`` as structured metadata (the third element of each value), so that
``{service_name="checkout-api"} | trace_id="<hex>"`` finds a trace's lines.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any, TextIO

from opentelemetry import trace

log = logging.getLogger("demo.service.logs")


class LokiPusher:
    """Buffers lines and pushes them in batches from one background thread."""

    def __init__(self, base_url: str, labels: dict[str, str], interval_seconds: float = 0.5):
        self._url = base_url.rstrip("/") + "/loki/api/v1/push"
        self._labels = labels
        self._interval = interval_seconds
        self._buffer: list[tuple[str, str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loki-push", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, ts_ns: int, level: str, line: str, metadata: dict[str, str]) -> None:
        with self._lock:
            self._buffer.append((str(ts_ns), level, line, metadata))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return
        streams: dict[str, list[list[Any]]] = {}
        for ts, level, line, metadata in batch:
            value: list[Any] = [ts, line, metadata] if metadata else [ts, line]
            streams.setdefault(level, []).append(value)
        body: dict[str, Any] = {
            "streams": [
                {"stream": dict(self._labels, level=level), "values": values}
                for level, values in streams.items()
            ]
        }
        req = urllib.request.Request(  # noqa: S310 - configured http(s) endpoint
            self._url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310
                resp.read()
        except (urllib.error.URLError, OSError) as exc:
            log.warning("Loki push to %s failed (%d lines dropped): %s", self._url, len(batch), exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class JsonLogger:
    """Writes one JSON object per line; picks trace_id/span_id from the current span."""

    def __init__(
        self,
        service: str,
        stream: TextIO | None = None,
        pusher: LokiPusher | None = None,
    ) -> None:
        self._service = service
        self._stream = stream or sys.stdout
        self._pusher = pusher
        self._lock = threading.Lock()
        self.version = ""

    def emit(self, level: str, msg: str, **fields: object) -> None:
        now = time.time_ns()
        record: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now / 1e9))
            + f".{(now // 1_000_000) % 1000:03d}Z",
            "level": level,
            "service": self._service,
            "version": self.version,
            "msg": msg,
        }
        metadata: dict[str, str] = {}
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            metadata = {
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
            }
            record.update(metadata)
        record.update(fields)
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
        if self._pusher is not None:
            self._pusher.add(now, level, line, metadata)

    def info(self, msg: str, **fields: object) -> None:
        self.emit("info", msg, **fields)

    def warning(self, msg: str, **fields: object) -> None:
        self.emit("warn", msg, **fields)

    def error(self, msg: str, **fields: object) -> None:
        self.emit("error", msg, **fields)
