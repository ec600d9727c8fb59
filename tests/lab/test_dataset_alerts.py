"""The imported alerts are what a real Prometheus would have fired (issue #19, item 6).

Each day's series (the same code writes the cases' ``metrics.om`` as windows of them) are
backfilled into the real Debian Prometheus; every rule expression must be true at each case's
``startsAt`` and at the two evaluations before it (``for: 1m`` with a 30 s interval), false at
the evaluation before those (so the alert fired exactly then), and false at every baseline
instant the threshold was chosen from.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from correlator.lab.datasets.alerting import EVAL_INTERVAL_MS
from correlator.lab.simulator.promproc import PrometheusProcess
from tests.lab.conftest import Imported

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]


@pytest.fixture(scope="module")
def prometheus(nezha: Imported) -> Iterator[dict[str, str]]:
    """One real Prometheus per day, holding the whole day's series."""
    procs = {day: PrometheusProcess(text) for day, text in nezha.adapter.day_openmetrics().items()}
    try:
        yield {day: p.start() for day, p in procs.items()}
    finally:
        for p in procs.values():
            p.stop()


def _true_at(client: httpx.Client, url: str, expr: str, ms: int) -> bool:
    body = client.get(f"{url}/api/v1/query", params={"query": expr, "time": ms / 1000}).json()
    assert body["status"] == "success", body
    return bool(body["data"]["result"])


def test_each_alert_expression_is_true_at_starts_at_and_fired_then(
    nezha: Imported, prometheus: dict[str, str]
) -> None:
    with httpx.Client(timeout=10.0) as client:
        for case in nezha.result.cases:
            alert = case.alert["alerts"][0]
            rule = next(r for r in nezha.result.rules if r.name == alert["labels"]["alertname"])
            url = prometheus[case.case["inject_time"][:10]]
            starts = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
            t = round(starts.timestamp() * 1000)
            held = [_true_at(client, url, rule.expr, t - k * EVAL_INTERVAL_MS) for k in range(3)]
            assert all(held), (case.id, held)
            assert not _true_at(client, url, rule.expr, t - 3 * EVAL_INTERVAL_MS), case.id


def test_each_alert_expression_is_false_across_the_baseline(
    nezha: Imported, prometheus: dict[str, str]
) -> None:
    checked = 0
    with httpx.Client(timeout=10.0) as client:
        for rule in nezha.result.rules:
            instants = nezha.result.baseline[rule.name]
            assert instants, rule.name
            for ms in instants:
                url = prometheus[datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")]
                assert not _true_at(client, url, rule.expr, ms), (rule.name, ms)
                checked += 1
    assert checked >= 10
