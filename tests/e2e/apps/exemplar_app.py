"""A tiny app exposing OpenMetrics with ``trace_id`` exemplars whose trace ids are known.

Run: ``python tests/e2e/apps/exemplar_app.py PORT``. Serves ``/metrics`` in the OpenMetrics
format (exemplars exist only there). Each scrape first records the next step of a fixed schedule:

* histogram ``demo_request_duration_seconds{route="/checkout"}``: one fast request (one of
  ``FAST``) and one slow request (one of ``SLOW``, each with its own duration);
* counter ``demo_requests_total{route="/checkout", status=...}``: one ``200`` (one of ``OK``) and
  one ``500`` (one of ``ERRORS``).

prometheus_client keeps only the newest exemplar per bucket/series, so cycling through the
schedule lets Prometheus (scraping every second with exemplar storage) store them all.
Importing this module has no side effects; the test imports the id lists from it.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest


def _tid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _sid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[32:48]


# trace id -> seconds; all slow ones land in the le="2.5" bucket, with distinct values
SLOW: dict[str, float] = {_tid(f"slow-{i}"): 1.2 + 0.3 * i for i in range(5)}
FAST: dict[str, float] = {_tid(f"fast-{i}"): 0.01 + 0.01 * i for i in range(3)}
OK: list[str] = [_tid(f"ok-{i}") for i in range(3)]
ERRORS: list[str] = [_tid(f"err-{i}") for i in range(3)]
BUCKETS = (0.05, 0.25, 1.0, 2.5)


class App:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "demo_request_duration_seconds",
            "Request latency",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "demo_requests_total", "Requests", ["route", "status"], registry=self.registry
        )
        self.step = 0
        self.lock = threading.Lock()

    def advance(self) -> None:
        with self.lock:
            i = self.step
            self.step += 1
        slow = list(SLOW.items())[i % len(SLOW)]
        fast = list(FAST.items())[i % len(FAST)]
        for tid, seconds in (fast, slow):
            exemplar = {"trace_id": tid, "span_id": _sid(tid)}
            self.latency.labels(route="/checkout").observe(seconds, exemplar)
        ok, err = OK[i % len(OK)], ERRORS[i % len(ERRORS)]
        self.requests.labels(route="/checkout", status="200").inc(1, {"trace_id": ok})
        self.requests.labels(route="/checkout", status="500").inc(1, {"trace_id": err})

    def render(self) -> bytes:
        self.advance()
        return generate_latest(self.registry)


def serve(port: int) -> None:
    app = App()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = app.render()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
