"""Replay sources: Alertmanager fingerprints, JSONL webhook bodies, ALERTS history to webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from correlator.lab.replay.alerts import (
    HistoryQuery,
    alerts_selector,
    firing_runs,
    items_from_matrix,
    parse_matchers,
)
from correlator.lab.replay.sources import SourceError, am_fingerprint, jsonl_items, scenario_items
from correlator.models import AlertmanagerWebhook

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"
BODIES = [
    "alertmanager_webhook_01_firing.json",
    "alertmanager_webhook_02_firing.json",
    "alertmanager_webhook_03_resolved.json",
]


def body(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIX / name).read_text())
    return loaded


@pytest.mark.parametrize("name", BODIES)
def test_fingerprint_matches_real_alertmanager(name: str) -> None:
    for alert in body(name)["alerts"]:
        assert am_fingerprint(alert["labels"]) == alert["fingerprint"]


def test_fingerprint_depends_on_every_label() -> None:
    base = {"alertname": "A", "service": "x"}
    assert am_fingerprint(base) != am_fingerprint({**base, "service": "y"})
    assert am_fingerprint(base) != am_fingerprint({"alertname": "A", "servic": "ex"})


def write_jsonl(path: Path, bodies: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(b) for b in bodies) + "\n\n")
    return path


def test_jsonl_keeps_one_item_per_alert_preferring_firing(tmp_path: Path) -> None:
    # resolved first: the later firing copy of the same alert must replace it
    bodies = [body(BODIES[2]), body(BODIES[0]), body(BODIES[1])]
    items = jsonl_items(write_jsonl(tmp_path / "hooks.jsonl", bodies))
    assert [i.key for i in items] == [
        "cb14fc0c00f5862f@2026-11-21T16:32:54.914Z",
        "aa2cfb79103b1c93@2026-11-21T16:32:55.914Z",
    ]
    assert items[0].alert["status"] == "firing"
    for item in items:
        hook = AlertmanagerWebhook.model_validate(item.webhook)
        assert len(hook.alerts) == 1


def test_jsonl_fills_missing_fingerprint(tmp_path: Path) -> None:
    b = body(BODIES[0])
    del b["alerts"][0]["fingerprint"]
    (item,) = jsonl_items(write_jsonl(tmp_path / "h.jsonl", [b]))
    assert item.alert["fingerprint"] == "cb14fc0c00f5862f"


def test_jsonl_bad_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(body(BODIES[0])) + "\n{not json\n")
    with pytest.raises(SourceError, match=r"h.jsonl:2"):
        jsonl_items(path)
    path.write_text(json.dumps({"alerts": []}) + "\n")
    with pytest.raises(SourceError, match=r"h.jsonl:1"):
        jsonl_items(path)


def test_scenario_items_are_keyed_by_id() -> None:
    root = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"
    (item,) = scenario_items(root)
    assert item.key == "scenario:checkout-deploy-regression"
    assert item.scenario == root


def test_selector_escapes_label_values() -> None:
    q = HistoryQuery(
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, tzinfo=UTC),
        alertname='Hi"} or vector(1) #',
        matchers=parse_matchers(["service=a\\b"]),
    )
    sel = alerts_selector(q)
    assert sel == ('ALERTS{alertstate="firing",alertname="Hi\\"} or vector(1) #",service="a\\\\b"}')


@pytest.mark.parametrize("bad", ["noequals", "1bad=x", "alertstate=pending", "a-b=c"])
def test_matchers_reject_bad_names(bad: str) -> None:
    with pytest.raises(ValueError, match="--match"):
        parse_matchers([bad])


def test_firing_runs_split_at_gaps() -> None:
    assert firing_runs([]) == []
    assert firing_runs([10.0]) == [10.0]
    # evaluated every 15 s; a 5-minute gap means it resolved and fired again
    times = [0.0, 15.0, 30.0, 45.0, 345.0, 360.0]
    assert firing_runs(times) == [0.0, 345.0]


def test_matrix_to_webhooks_like_alertmanager_would_send() -> None:
    labels = {
        "alertname": "DemoQueueBacklog",
        "env": "lab",
        "instance": "127.0.0.1:18000",
        "job": "demo-app",
        "service": "checkout",
        "severity": "critical",
        "team": "payments",
    }
    matrix = [
        {
            "metric": {"__name__": "ALERTS", "alertstate": "firing", **labels},
            "values": [
                [1795278774.914, "1"],
                [1795278775.914, "1"],
                [1795278776.914, "1"],
                [1795278900.914, "1"],
            ],
        }
    ]
    rules = {
        "DemoQueueBacklog": {
            "query": "demo_queue_depth > 5",
            "annotations": {
                "summary": "{{ $labels.instance }} backlog",
                "runbook_url": "https://r.example/q",
            },
        }
    }
    items = items_from_matrix(matrix, rules, "http://prom:9090")
    assert [i.alert["startsAt"] for i in items] == [
        "2026-11-21T16:32:54.914Z",
        "2026-11-21T16:35:00.914Z",
    ]
    alert = items[0].alert
    assert alert["labels"] == labels
    assert alert["fingerprint"] == "cb14fc0c00f5862f"  # the real Alertmanager's, fixture 01
    assert alert["status"] == "firing"
    assert alert["endsAt"].startswith("0001-")
    assert alert["annotations"] == {"runbook_url": "https://r.example/q"}  # templates dropped
    hook = AlertmanagerWebhook.model_validate(items[0].webhook)
    assert hook.to_alerts()[0].expr == "demo_queue_depth > 5"
