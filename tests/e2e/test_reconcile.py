"""Reconciliation against a real Alertmanager (Debian ``prometheus-alertmanager``).

Alertmanager routes to a ``correlator`` receiver whose webhook URL points at a closed port, so
no webhook ever arrives; alerts are POSTed straight to its ``/api/v2/alerts``. A real
``correlator serve`` with ``CORRELATOR_ALERTMANAGER__URL`` set must still create one
investigation per alert routed to its receiver (and none for another receiver's alert), both at
start-up and from the periodic job, with the identity a webhook would have had.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._proc import Proc, clean_env, free_port, http_ok, poll, start_correlator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
TOKEN = "reconcile-token"

AM_CONFIG = """
route:
  receiver: correlator
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: other
      matchers: ['team="other"']
receivers:
  - name: correlator
    webhook_configs:
      - url: http://127.0.0.1:{closed_port}/api/v1/webhooks/alertmanager
        send_resolved: true
  - name: other
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    if AM_BIN is None:
        pytest.fail("prometheus-alertmanager is not installed (make system-deps)")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(AM_CONFIG.format(closed_port=free_port()))
    argv = [
        AM_BIN,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    proc = Proc("alertmanager", argv, log=tmp_path / "am.log", env=clean_env(), cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: http_ok(f"{url}/-/ready"), timeout=30, what="alertmanager /-/ready")
        yield url
    finally:
        proc.stop()


def am_alert(name: str, minutes_ago: int, **labels: str) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return {
        "labels": {"alertname": name, "service": "checkout", "severity": "critical", **labels},
        "annotations": {"summary": f"{name} (reconcile e2e)"},
        "startsAt": start.isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus.invalid/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
    }


def post_alerts(client: httpx.Client, am: str, alerts: list[dict[str, Any]]) -> None:
    r = client.post(f"{am}/api/v2/alerts", json=alerts)
    assert r.status_code == 200, r.text
    names = {a["labels"]["alertname"] for a in alerts}

    def processed() -> bool:
        got = client.get(f"{am}/api/v2/alerts", params={"unprocessed": "false"}).json()
        return names <= {a["labels"]["alertname"] for a in got}

    poll(processed, timeout=30, what="alertmanager to process the alerts")


def test_reconcile_creates_investigations_for_missed_webhooks(
    tmp_path: Path, alertmanager: str
) -> None:
    with httpx.Client(timeout=10) as client:
        post_alerts(
            client,
            alertmanager,
            [am_alert("ReconcileA", 5), am_alert("OtherTeam", 5, team="other")],
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            "CORRELATOR_WEBHOOK_TOKEN": TOKEN,
            "CORRELATOR_ALERTMANAGER__URL": alertmanager,
            "CORRELATOR_ALERTMANAGER__RECEIVER": "correlator",
            "CORRELATOR_ALERTMANAGER__RECONCILE_INTERVAL_SECONDS": "1",
        }
        proc = start_correlator(tmp_path, port, env, "correlator")
        try:

            def investigations() -> dict[str, dict[str, Any]]:
                items = client.get(f"{base}/api/v1/investigations").json()["items"]
                return {i["alertname"]: i for i in items}

            poll(lambda: "ReconcileA" in investigations(), timeout=30, what="start-up reconcile")
            # the periodic job picks up an alert that appears later
            post_alerts(client, alertmanager, [am_alert("ReconcileB", 1)])
            poll(lambda: "ReconcileB" in investigations(), timeout=30, what="periodic reconcile")
            found = investigations()
            assert "OtherTeam" not in found  # routed to another receiver
            am_view = {
                a["labels"]["alertname"]: a
                for a in client.get(f"{alertmanager}/api/v2/alerts").json()
            }
            for name in ("ReconcileA", "ReconcileB"):
                assert found[name]["fingerprint"] == am_view[name]["fingerprint"]
            # the late webhook for the same alert maps onto the reconciled investigation
            a = am_view["ReconcileA"]
            hook = {
                "version": "4",
                "status": "firing",
                "receiver": "correlator",
                "alerts": [
                    {
                        "status": "firing",
                        "labels": a["labels"],
                        "annotations": a["annotations"],
                        "startsAt": a["startsAt"],
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": a["generatorURL"],
                        "fingerprint": a["fingerprint"],
                    }
                ],
            }
            r = client.post(
                f"{base}/api/v1/webhooks/alertmanager",
                json=hook,
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert r.status_code == 202
            assert r.json()["investigations"][0]["id"] == found["ReconcileA"]["id"]
            poll(
                lambda: all(i["status"] == "done" for i in investigations().values()),
                timeout=30,
                what="reconciled investigations to finish",
            )
            metrics = client.get(f"{base}/metrics").text
            assert 'correlator_alerts_total{result="reconciled"} 2.0' in metrics
        finally:
            proc.stop()
