"""`correlator investigate` with CORRELATOR_GIT__* pointing at a GitHub-compatible server (the
simulator serving the checkout scenario's recorded compare response): the investigation JSON
carries the compare evidence and the note quotes a changed file path from it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from correlator.lab.simulator.config import SimulatorConfig
from correlator.lab.simulator.server import running_simulator
from tests.e2e._proc import CORRELATOR, clean_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("promtool")),
        reason="needs prometheus + promtool (scripts/system-deps.sh)",
    ),
]

CHECKOUT = Path(__file__).resolve().parents[1] / "scenarios" / "checkout-deploy-regression"


def _investigate(alert: Path, env: dict[str, str], *flags: str) -> str:
    done = subprocess.run(
        [*CORRELATOR, "investigate", str(alert), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def test_investigation_has_the_compare_evidence_and_the_note_quotes_it(tmp_path: Path) -> None:
    with running_simulator(CHECKOUT, SimulatorConfig()) as sim:
        alert = tmp_path / "alert.json"
        alert.write_text(json.dumps(sim.scenario.alert), encoding="utf-8")
        backends = {
            f"CORRELATOR_{b}__URL": sim.url for b in ("PROMETHEUS", "TEMPO", "LOKI", "GRAFANA")
        }
        env = clean_env(
            **backends,
            CORRELATOR_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            CORRELATOR_GIT__PROVIDER="github",
            CORRELATOR_GIT__API_URL=sim.url,
            CORRELATOR_GIT__TOKEN="ghp_not_a_real_token_0123456789",
            CORRELATOR_GIT__REPOS=json.dumps({"checkout-api": "shop/checkout-api"}),
        )
        doc = json.loads(_investigate(alert, env, "--json"))
        note = _investigate(alert, env)
    (diff,) = doc["evidence"]["diffs"]
    assert diff["repo"] == "shop/checkout-api"
    assert (diff["base"], diff["head"]) == ("5e1d0b8", "7a3f9c2")
    assert diff["url"] == f"{sim.url}/shop/checkout-api/compare/5e1d0b8...7a3f9c2"
    assert [c["message"] for c in diff["commits"]] == [
        "order history on checkout page (behind new_checkout)"
    ]
    assert {f["path"] for f in diff["files"]} >= {"orders/history.go", "checkout/handler.go"}
    assert diff["hunks"][0]["path"] == "orders/history.go"
    assert diff["touches_failing_path"] is True
    (env_item,) = [i for i in doc["evidence"]["items"] if i["kind"] == "diff"]
    assert env_item["status"] == "ok"
    assert env_item["source"] == "github"
    top = doc["analysis"]["hypotheses"][0]
    assert diff["evidence_id"] in top["evidence_ids"]
    assert top["suspect_change"]["diff_id"] == diff["evidence_id"]
    assert "orders/history.go +12: SELECT ... FROM orders o" in note
    assert "ghp_not_a_real_token" not in json.dumps(doc)
