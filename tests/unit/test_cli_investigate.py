import json
from pathlib import Path

import pytest

from correlator.cli import main

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alertmanager"


def test_investigate_json_prints_the_investigation(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["investigate", str(FIXTURES / "alertmanager_webhook_01_firing.json"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert doc["status"] == "done"
    assert doc["expr"] == "demo_queue_depth > 5"
    assert doc["partial"] is None
    # No backend configured: the chain says so per source instead of inventing evidence.
    assert {i["status"] for i in doc["evidence"]["items"] if i["source"] == "prometheus"} == {
        "not_configured"
    }
    assert doc["analysis"]["hypotheses"] == []


def test_investigate_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["investigate", str(FIXTURES / "alertmanager_webhook_02_firing.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("## FIRING DemoSlowCheckout (warning)")
    assert "### Inconclusive" in out
    assert "LLM: skipped, no model configured" in out
    assert "- Prometheus: not configured (4 queries)" in out  # once per backend, not per query
    assert "rate(demo_request_duration_seconds_bucket[30s])" in out  # a next query to run


def test_investigate_several_alerts_prints_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = json.loads((FIXTURES / "alertmanager_webhook_01_firing.json").read_text())
    other = json.loads((FIXTURES / "alertmanager_webhook_02_firing.json").read_text())
    body["alerts"] += other["alerts"]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(body))
    rc = main(["investigate", str(path), "--json"])
    docs = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert sorted(d["alert"]["labels"]["alertname"] for d in docs) == [
        "DemoQueueBacklog",
        "DemoSlowCheckout",
    ]


def test_investigate_rejects_a_non_webhook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"status": "firing"}')
    assert main(["investigate", str(bad)]) == 2
    assert "alerts" in capsys.readouterr().err
