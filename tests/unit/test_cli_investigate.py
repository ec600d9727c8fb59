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
    assert doc["partial"] == "evidence and rules stages not built yet"
    assert doc["evidence"] is None


def test_investigate_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["investigate", str(FIXTURES / "alertmanager_webhook_02_firing.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("DemoSlowCheckout (?) firing since 2026-11-21 16:32:55 UTC")
    assert "PromQL: histogram_quantile(0.9, sum by (le, route)" in out
    assert "partial: evidence and rules stages not built yet" in out


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
