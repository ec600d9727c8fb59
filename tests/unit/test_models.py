import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from correlator.models import AlertmanagerWebhook, AlertStatus, label_fingerprint

FIXTURES = Path(__file__).parent.parent / "fixtures"


def load(name: str) -> AlertmanagerWebhook:
    return AlertmanagerWebhook.model_validate(json.loads((FIXTURES / name).read_text()))


def test_firing_webhook_parses_expr_and_ignores_go_zero_end_time() -> None:
    hook = load("alertmanager/alertmanager_webhook_01_firing.json")
    (alert,) = hook.to_alerts()
    assert alert.status is AlertStatus.FIRING
    assert alert.ends_at is None
    assert alert.expr == "demo_queue_depth > 5"
    assert alert.fingerprint == "cb14fc0c00f5862f"
    assert alert.starts_at == datetime(2026, 11, 21, 16, 32, 54, 914000, tzinfo=UTC)


def test_resolved_webhook_keeps_end_time() -> None:
    hook = load("alertmanager/alertmanager_webhook_03_resolved.json")
    (alert,) = hook.to_alerts()
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at is not None


def test_legacy_third_party_shape_is_tolerated() -> None:
    hook = load("alertmanager/prometheus-msteams_prom_post_request.json")
    alerts = hook.to_alerts()
    assert alerts
    assert all(a.fingerprint == label_fingerprint(a.labels) for a in alerts)


def test_alert_without_alertname_is_rejected_with_field_path() -> None:
    body = json.loads((FIXTURES / "alertmanager/alertmanager_webhook_01_firing.json").read_text())
    del body["alerts"][0]["labels"]["alertname"]
    with pytest.raises(ValidationError, match="alertname"):
        AlertmanagerWebhook.model_validate(body)
