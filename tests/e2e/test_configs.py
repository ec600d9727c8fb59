"""The shipped Prometheus and Alertmanager configs, checked by the real tools.

``promtool check config``/``check rules``, ``amtool check-config`` and ``promtool test rules``
(the alert rules fire on synthetic series with the labels correlator relies on). The binaries
come from Debian's prometheus and prometheus-alertmanager packages (scripts/system-deps.sh).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
RULES = ROOT / "deploy/prometheus/rules.yml"
AM_CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"

pytestmark = pytest.mark.e2e


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not installed: run scripts/system-deps.sh (Debian packages)")
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_check_config() -> None:
    res = _run(_tool("promtool"), "check", "config", PROM_CONFIG)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 rule files found" in res.stdout + res.stderr


def test_promtool_check_rules() -> None:
    res = _run(_tool("promtool"), "check", "rules", RULES)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 rules found" in res.stdout + res.stderr


def test_amtool_check_config() -> None:
    res = _run(_tool("amtool"), "check-config", AM_CONFIG)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 receivers" in res.stdout + res.stderr


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A broken copy of each file is rejected, so the checks above mean something."""
    bad_rules = tmp_path / "rules.yml"
    bad_rules.write_text(RULES.read_text().replace("> 0.5", "> > 0.5", 1))
    assert _run(_tool("promtool"), "check", "rules", bad_rules).returncode != 0
    bad_am = tmp_path / "alertmanager.yml"
    bad_am.write_text(AM_CONFIG.read_text().replace("receiver: correlator", "receiver: nobody"))
    assert _run(_tool("amtool"), "check-config", bad_am).returncode != 0


def _bucket(le: str, values: str, code: str = "200") -> dict[str, str]:
    labels = (
        f'service="checkout-api",route="/checkout",method="POST",status_code="{code}",le="{le}"'
    )
    return {"series": f"http_server_request_duration_seconds_bucket{{{labels}}}", "values": values}


def _count(values: str, metric: str = "http_server_request_duration_seconds_count") -> dict:
    labels = 'service="checkout-api",route="/checkout",method="POST",status_code="200"'
    return {"series": f"{metric}{{{labels}}}", "values": values}


def test_alert_rules_fire_with_service_team_severity(tmp_path: Path) -> None:
    """promtool test rules: slow and failing checkout fires both alerts; healthy fires none."""
    labels = {"service": "checkout-api", "team": "payments", "severity": "page"}
    latency = {
        "exp_labels": {**labels, "alertname": "CheckoutHighLatency"},
        "exp_annotations": {
            "summary": "checkout-api p95 latency above 500ms",
            "description": "p95 of POST /checkout is 972.2ms (threshold 500ms).",
            "runbook_url": "https://runbooks.example.invalid/checkout-latency",
        },
    }
    errors = {
        "exp_labels": {**labels, "alertname": "CheckoutHighErrorRate"},
        "exp_annotations": {
            "summary": "checkout-api 5xx ratio above 5%",
            "description": "10% of POST /checkout requests answer 5xx.",
            "runbook_url": "https://runbooks.example.invalid/checkout-errors",
        },
    }
    bad = [
        _bucket("0.5", "0+1x40"),
        _bucket("1", "0+10x40"),
        _bucket("+Inf", "0+10x40"),
        _count("0+10x40"),
        _count("0+1x40", metric="http_server_errors_total"),
    ]
    good = [_bucket("0.5", "0+10x40"), _bucket("+Inf", "0+10x40"), _count("0+10x40")]
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": bad,
                "alert_rule_test": [
                    {"eval_time": "30s", "alertname": "CheckoutHighLatency", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "CheckoutHighLatency",
                        "exp_alerts": [latency],
                    },
                    {
                        "eval_time": "5m",
                        "alertname": "CheckoutHighErrorRate",
                        "exp_alerts": [errors],
                    },
                ],
            },
            {
                "interval": "15s",
                "input_series": good,
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "CheckoutHighLatency", "exp_alerts": []},
                    {"eval_time": "5m", "alertname": "CheckoutHighErrorRate", "exp_alerts": []},
                ],
            },
        ],
    }
    test_file = tmp_path / "rules_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    res = _run(_tool("promtool"), "test", "rules", test_file)
    assert res.returncode == 0, res.stdout + res.stderr
