"""startsAt identity survives Alertmanager's millisecond truncation (reliability report D8)."""

from __future__ import annotations

from correlator.models import AlertmanagerWebhook


def _alert(starts: str) -> object:
    hook = AlertmanagerWebhook.model_validate(
        {
            "version": "4",
            "status": "firing",
            "receiver": "correlator",
            "groupKey": "{}:{}",
            "alerts": [{"labels": {"alertname": "X"}, "startsAt": starts, "fingerprint": "f1"}],
        }
    )
    (alert,) = hook.to_alerts()
    return alert.starts_at


def test_sub_millisecond_starts_at_equals_the_api_value() -> None:
    """D8: the webhook's ``07:35:38.056286Z`` and the API's ``07:35:38.056Z`` were two
    investigations; both now carry the same millisecond time."""
    webhook = _alert("2026-12-03T07:35:38.056286123Z")
    api = _alert("2026-12-03T07:35:38.056Z")
    assert webhook == api
