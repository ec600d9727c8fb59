"""The demo checkout service's wire formats, checked in-process against a capture server.

The e2e test relies on these: OpenMetrics exemplars carrying the request's trace id, OTLP/HTTP
JSON (hex ids, integer enums, the resource and flag attributes), Loki push with structured
metadata, and deploy announcements that correlator's ``Deploy`` model and Grafana accept.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlator.models import Deploy
from demo.service.app import CheckoutService, DemoHTTPServer
from demo.service.config import DemoConfig
from demo.service.logs import JsonLogger, LokiPusher
from demo.service.telemetry import Tracing
from tests.e2e._stack import poll

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "demo"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Captured:
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [body for p, _, body in self.requests if p == path]

    def headers(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h, _ in self.requests if p == path]


def _capture_server(captured: Captured) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return None

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with captured.lock:
                captured.requests.append((self.path, dict(self.headers), json.loads(raw)))
            self.send_response(201 if self.path == "/api/v1/deploys" else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


@dataclass
class Demo:
    url: str
    service: CheckoutService
    captured: Captured
    pusher: LokiPusher


@pytest.fixture
def demo() -> Iterator[Demo]:
    captured = Captured()
    sink = _capture_server(captured)
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}"
    config = DemoConfig(
        port=0,
        otlp_endpoint=sink_url,
        otlp_protocol="http/json",
        loki_url=sink_url,
        grafana_url=sink_url,
        correlator_url=sink_url,
        correlator_token="tok",
        slow_query_seconds=0.05,
        statement_timeout_seconds=0.06,
        fast_query_seconds=0.001,
        announce_startup=False,
    )
    pusher = LokiPusher(sink_url, {"service_name": "checkout-api"}, interval_seconds=0.05)
    pusher.start()
    logger = JsonLogger("checkout-api", stream=io.StringIO(), pusher=pusher)
    tracing = Tracing(config.otlp_endpoint, config.otlp_protocol)
    service = CheckoutService(config, tracing, logger)
    server = DemoHTTPServer(("127.0.0.1", 0), service)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield Demo(f"http://127.0.0.1:{server.server_address[1]}", service, captured, pusher)
    finally:
        server.shutdown()
        server.server_close()
        tracing.shutdown()
        pusher.stop()
        sink.shutdown()
        sink.server_close()


def _bad_checkouts(demo: Demo, client: httpx.Client, n: int = 12) -> list[dict[str, Any]]:
    resp = client.post(
        f"{demo.url}/admin/deploy",
        params={"version": "2.4.1", "commit": "7a3f9c2", "flag": "new_checkout"},
    )
    assert resp.status_code == 200
    assert resp.json()["flags"] == ["new_checkout"]
    return [
        {"code": r.status_code, **r.json()}
        for r in (client.post(f"{demo.url}/checkout") for _ in range(n))
    ]


def test_metrics_carry_the_request_trace_id_as_exemplar(demo: Demo) -> None:
    with httpx.Client(timeout=10) as client:
        trace_id = client.get(f"{demo.url}/checkout").json()["trace_id"]
        om = client.get(
            f"{demo.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        text = client.get(f"{demo.url}/metrics").text
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert f'trace_id="{trace_id}"' in om.text
    assert re.search(
        r'^http_server_request_duration_seconds_bucket\{.*route="/checkout".*\} 1\.0 '
        r'# \{span_id="[0-9a-f]{16}",trace_id="' + trace_id,
        om.text,
        re.M,
    )
    assert "# {" not in text  # exemplars only in OpenMetrics
    assert 'build_info{commit="1c9d0b4",version="2.4.0"} 1.0' in text


def test_bad_deploy_makes_checkout_slow_and_fail_with_error_exemplars(demo: Demo) -> None:
    with httpx.Client(timeout=10) as client:
        results = _bad_checkouts(demo, client)
        om = client.get(
            f"{demo.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        ).text
    failed = [r["trace_id"] for r in results if r["code"] == 500]
    assert failed
    assert any(r["code"] == 200 for r in results)
    assert {r["version"] for r in results} == {"2.4.1"}
    errors = [ln for ln in om.splitlines() if ln.startswith("http_server_errors_total{")]
    assert len(errors) == 1
    exemplar = re.search(r'trace_id="([0-9a-f]{32})"', errors[0])
    assert exemplar is not None
    assert exemplar.group(1) == failed[-1]
    assert 'build_info{commit="7a3f9c2",version="2.4.1"} 1.0' in om
    assert "1c9d0b4" not in om


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: next(iter(a["value"].values())) for a in items}


def test_traces_export_as_otlp_json(demo: Demo) -> None:
    with httpx.Client(timeout=10) as client:
        results = _bad_checkouts(demo, client, n=6)
    demo.service.tracing.flush()
    bodies = poll("OTLP JSON pushes", lambda: demo.captured.bodies("/v1/traces"), timeout=10)
    upstream = json.loads((FIXTURES / "otlp_http_v1_traces_push_request.docs.json").read_text())
    assert set(bodies[0]) == set(upstream)
    spans = {}
    for body in bodies:
        for rs in body["resourceSpans"]:
            resource = _attrs(rs["resource"]["attributes"])
            for ss in rs["scopeSpans"]:
                assert set(ss) == set(upstream["resourceSpans"][0]["scopeSpans"][0])
                for span in ss["spans"]:
                    spans[span["spanId"]] = (resource, span)
    bad = [(r, s) for r, s in spans.values() if s["traceId"] == results[-1]["trace_id"]]
    assert {s["name"] for _, s in bad} >= {"POST /checkout", "SELECT shop.orders"}
    for resource, span in bad:
        assert HEX32.match(span["traceId"])
        assert HEX16.match(span["spanId"])
        assert isinstance(span["kind"], int)
        assert span["startTimeUnixNano"].isdigit()
        assert resource["service.name"] == "checkout-api"
        assert resource["service.version"] == "2.4.1"
        assert resource["vcs.ref.head.revision"] == "7a3f9c2"
    server = next(s for _, s in bad if s["name"] == "POST /checkout")
    assert server["kind"] == 2
    (event,) = [e for e in server["events"] if e["name"] == "feature_flag.evaluation"]
    assert _attrs(event["attributes"])["feature_flag.key"] == "new_checkout"
    assert _attrs(event["attributes"])["feature_flag.result.variant"] == "on"
    db = next(s for _, s in bad if s["name"] == "SELECT shop.orders")
    assert db["parentSpanId"] == server["spanId"]
    assert _attrs(db["attributes"])["server.address"] == "db-primary"
    assert "lower(o.email)" in _attrs(db["attributes"])["db.query.text"]


def test_logs_push_to_loki_with_trace_ids_as_structured_metadata(demo: Demo) -> None:
    with httpx.Client(timeout=10) as client:
        results = _bad_checkouts(demo, client, n=4)
    want = results[-1]["trace_id"]

    def lines() -> list[tuple[dict[str, str], list[Any]]]:
        return [
            (s["stream"], v)
            for b in demo.captured.bodies("/loki/api/v1/push")
            for s in b["streams"]
            for v in s["values"]
            if len(v) == 3 and v[2].get("trace_id") == want
        ]

    found = poll(
        "log lines of the last trace",
        lambda: [ln for ln in lines() if "seq scan" in ln[1][1]],
        timeout=10,
    )
    stream, (ts, line, metadata) = found[0]
    assert stream == {"service_name": "checkout-api", "level": "warn"}
    assert ts.isdigit()
    assert len(ts) == 19  # nanoseconds
    assert json.loads(line)["msg"] == "slow query: seq scan on orders"
    assert HEX16.match(metadata["span_id"])


def test_deploy_announcements_fit_correlator_and_grafana(demo: Demo) -> None:
    with httpx.Client(timeout=10) as client:
        _bad_checkouts(demo, client, n=1)
    (body,) = demo.captured.bodies("/api/v1/deploys")
    (headers,) = demo.captured.headers("/api/v1/deploys")
    deploy = Deploy.model_validate(body)  # correlator's own contract (extra fields forbidden)
    assert (deploy.service, deploy.version, deploy.commit) == ("checkout-api", "2.4.1", "7a3f9c2")
    assert deploy.time.tzinfo is not None
    assert headers["Authorization"] == "Bearer tok"
    (note,) = demo.captured.bodies("/api/annotations")
    upstream = json.loads((FIXTURES / "annotations_create_request.docs.json").read_text())
    assert set(note) <= set(upstream)
    assert len(str(note["time"])) == 13  # epoch milliseconds
    assert {"deploy", "service:checkout-api", "version:2.4.1", "commit:7a3f9c2"} <= set(
        note["tags"]
    )
