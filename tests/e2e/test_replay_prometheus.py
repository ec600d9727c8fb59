"""``correlator replay --since`` against a real Prometheus whose rule really fired.

The test starts ``/usr/bin/prometheus`` (Debian package) on loopback with a tiny in-test scrape
target (an ``http.server`` thread exposing ``demo_queue_depth 10``) and an alerting rule
``demo_queue_depth > 5`` (``for: 0s``, 1 s scrape/evaluation), sending to a real Alertmanager.
Once ``ALERTS`` holds firing samples (polled with a deadline), the CLI reads the history through
prometheus-api-client and investigates each alert against the same Prometheus at the historical
time; the replayed fingerprint and ``startsAt`` must equal what Alertmanager itself holds.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from correlator.cli import main
from correlator.lab.replay.sources import am_fingerprint
from tests.e2e._proc import Proc, free_port, http_ok, poll

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AM_CONFIG = {
    "route": {"receiver": "null", "group_by": ["alertname"], "group_wait": "1s"},
    "receivers": [{"name": "null"}],
}
EXPR = "demo_queue_depth > 5"


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'# TYPE demo_queue_depth gauge\ndemo_queue_depth{queue="orders"} 10\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return


@pytest.fixture(scope="module")
def target() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if AM_BIN is None:
        pytest.skip("prometheus-alertmanager not installed (scripts/system-deps.sh)")
    tmp = tmp_path_factory.mktemp("replay-am")
    (tmp / "am.yml").write_text(yaml.safe_dump(AM_CONFIG))
    port = free_port()
    argv = [
        AM_BIN,
        f"--config.file={tmp / 'am.yml'}",
        f"--storage.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    proc = Proc("alertmanager", argv, log=tmp / "am.log", env={"PATH": "/usr/bin:/bin"}, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: http_ok(f"{url}/-/ready"), timeout=30, what="alertmanager /-/ready")
        yield url
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, target: int, alertmanager: str
) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus binary not installed (scripts/system-deps.sh)")
    tmp = tmp_path_factory.mktemp("replay-prom")
    rules = {
        "groups": [
            {
                "name": "replay",
                "interval": "1s",
                "rules": [
                    {
                        "alert": "QueueBacklog",
                        "expr": EXPR,
                        "for": "0s",
                        "labels": {"severity": "page", "team": 'pay"ments'},
                        "annotations": {
                            "summary": "backlog {{ $value }}",
                            "runbook_url": "https://r.invalid/q",
                        },
                    }
                ],
            }
        ]
    }
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yml")],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}
            ]
        },
        "scrape_configs": [
            {
                "job_name": "queue",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{target}"], "labels": {"service": "checkout"}}
                ],
            }
        ],
    }
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    prom = Proc(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=tmp / "prometheus.log",
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: http_ok(f"{url}/-/ready"), timeout=30, what="prometheus /-/ready")
        yield url
    finally:
        prom.stop()


def firing_samples(url: str) -> int:
    try:
        doc = httpx.get(
            f"{url}/api/v1/query", params={"query": 'ALERTS{alertstate="firing"}[1m]'}, timeout=2
        ).json()
    except (httpx.HTTPError, ValueError):
        return 0
    return sum(len(s["values"]) for s in doc.get("data", {}).get("result", []))


def am_alerts(url: str) -> list[dict[str, Any]]:
    try:
        got: list[dict[str, Any]] = httpx.get(f"{url}/api/v2/alerts", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return []
    return got


def test_replay_since_finds_and_investigates_fired_alerts(
    prometheus: str, alertmanager: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    poll(
        lambda: firing_samples(prometheus) >= 3,
        timeout=60,
        what="ALERTS firing samples",
        every=0.25,
    )
    cfg = tmp_path / "correlator.yaml"
    cfg.write_text(yaml.safe_dump({"prometheus": {"url": prometheus}}))
    out = tmp_path / "out"
    argv = [
        "--config",
        str(cfg),
        "replay",
        "--since",
        since.isoformat(),
        "--until",
        "now",
        "--alertname",
        "QueueBacklog",
        "--match",
        'team=pay"ments',
        "--out",
        str(out),
    ]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    (row,) = report["rows"]  # one firing run: one alert
    labels = {
        "alertname": "QueueBacklog",
        "instance": f"127.0.0.1:{_target_port(prometheus)}",
        "job": "queue",
        "queue": "orders",
        "service": "checkout",
        "severity": "page",
        "team": 'pay"ments',
    }
    assert row["fingerprint"] == am_fingerprint(labels)
    assert row["status"] == "done"
    assert row["error"] is None
    started = datetime.fromisoformat(row["starts_at"])
    assert since <= started <= datetime.now(UTC)
    assert row["service"] == "checkout"
    # investigated against the live Prometheus: the rule's PromQL came through generatorURL
    assert any(s == "ok" for s in row["evidence"].get("metric", {})), row["evidence"]
    assert report["summary"]["by_alertname"]["QueueBacklog"]["alerts"] == 1
    assert row["expr"] == EXPR  # rebuilt generatorURL carries the rule's PromQL

    # what the real Alertmanager received for the same alert
    poll(lambda: bool(am_alerts(alertmanager)), timeout=30, what="alert in Alertmanager")
    (held,) = am_alerts(alertmanager)
    assert held["labels"] == labels
    assert row["fingerprint"] == held["fingerprint"]
    am_start = datetime.fromisoformat(held["startsAt"].replace("Z", "+00:00"))
    assert abs((started - am_start).total_seconds()) < 0.002

    # a filter that matches nothing finds nothing (the selector really filters)
    none = [
        "--config",
        str(cfg),
        "replay",
        "--since",
        since.isoformat(),
        "--match",
        "team=nobody",
        "--out",
        str(tmp_path / "none"),
    ]
    assert main(none) == 0
    assert json.loads((tmp_path / "none" / "report.json").read_text())["rows"] == []


def _target_port(url: str) -> str:
    """The scrape target's port, read back from the stored series (instance label)."""
    doc = httpx.get(f"{url}/api/v1/query", params={"query": "demo_queue_depth"}, timeout=2).json()
    return str(doc["data"]["result"][0]["metric"]["instance"].split(":")[1])
