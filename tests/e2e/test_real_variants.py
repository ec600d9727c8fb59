"""Scenario loader and simulator accept what real backends produce (issue #19, item 5).

* 64-bit (16-hex) exemplar trace ids (Jaeger/Zipkin-style clients); Tempo serves the trace under
  the zero-padded 32-hex id, so the trace file is named that way;
* exemplars on gauges (OTel exporters emit them): Debian promtool 2.42 refuses them in a
  backfill, so the simulator strips them for Prometheus and serves them from the scenario;
* Tempo v2 partial responses (``"status": "PARTIAL"``, ``message``) stored as trace files.

The scenario is a copy of ``checkout-deploy-regression`` with those edits; promtool and
Prometheus are the real Debian binaries.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from correlator.lab.scenarios import ScenarioError, load_scenario
from correlator.lab.simulator.promproc import backfill_text
from correlator.lab.simulator.server import running_simulator

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

CHECKOUT = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"
SHORT = "00f067aa0ba902b7"  # 64-bit id, as a Jaeger client writes it
PADDED = SHORT.rjust(32, "0")
GAUGE = (
    "# HELP queue_depth Items waiting.\n# TYPE queue_depth gauge\n"
    'queue_depth{service="checkout-api"} 7 1791210030 # {trace_id="' + SHORT + '"} 7 1791210029.5\n'
)


def _variant(tmp_path: Path) -> Path:
    root = tmp_path / "checkout-deploy-regression"
    shutil.copytree(CHECKOUT, root)
    donor = sorted((root / "traces").glob("*.json"))[0]
    body = json.loads(donor.read_text())
    old_b64 = body["batches"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    new = base64.b64encode(bytes.fromhex(PADDED)).decode()
    partial = {
        "trace": {"resourceSpans": json.loads(json.dumps(body["batches"]).replace(old_b64, new))},
        "status": "PARTIAL",
        "message": "trace exceeds max size, returning partial trace",
    }
    (root / "traces" / f"{PADDED}.json").write_text(json.dumps(partial))
    metrics = (root / "metrics.om").read_text()
    (root / "metrics.om").write_text(metrics.replace("# EOF", GAUGE.rstrip("\n") + "\n# EOF"))
    return root


def test_loader_accepts_16_hex_exemplar_ids_and_v2_partial_traces(tmp_path: Path) -> None:
    root = _variant(tmp_path)
    s = load_scenario(root)
    assert PADDED in s.traces
    (root / "traces" / f"{PADDED}.json").unlink()
    with pytest.raises(ScenarioError, match=f"traces/{PADDED}.json"):
        load_scenario(root)


def test_backfill_strips_only_the_exemplars_promtool_refuses(tmp_path: Path) -> None:
    text = (_variant(tmp_path) / "metrics.om").read_text()
    raw, stripped = tmp_path / "raw.om", tmp_path / "stripped.om"
    raw.write_text(text)
    stripped.write_text(backfill_text(text))
    promtool = shutil.which("promtool") or "promtool"
    refused = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(raw), str(tmp_path / "a")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "does not support exemplars" in refused.stderr
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(stripped), str(tmp_path / "b")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    kept = [ln for ln in backfill_text(text).splitlines() if " # {" in ln]
    assert kept
    assert all("_bucket" in ln or "_total" in ln for ln in kept)
    assert len(kept) == text.count(" # {") - 1  # only the gauge's exemplar went


def test_simulator_serves_gauge_exemplars_and_partial_traces(tmp_path: Path) -> None:
    with running_simulator(_variant(tmp_path)) as sim, httpx.Client(base_url=sim.url) as c:
        start, end = sim.scenario.alert_time.timestamp() - 3600, sim.scenario.alert_time.timestamp()
        got = c.get(
            "/api/v1/query_exemplars",
            params={"query": 'queue_depth{service="checkout-api"}', "start": start, "end": end},
        ).json()
        ids = [e["labels"]["trace_id"] for s in got["data"] for e in s["exemplars"]]
        assert ids == [SHORT]
        assert c.get("/api/v1/query", params={"query": "queue_depth"}).status_code == 200
        v2 = c.get(f"/api/v2/traces/{SHORT}").json()
        assert v2["status"] == "PARTIAL"
        assert v2["trace"]["resourceSpans"]
        v1 = c.get(f"/api/traces/{PADDED}").json()
        assert set(v1) == {"batches"}
