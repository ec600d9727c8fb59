"""The whole path through the real Prometheus and Alertmanager, on loopback.

demo checkout-api (traces and logs pushed to the simulator's OTLP and Loki endpoints) <- real
Prometheus scrapes it (exemplar storage, the shipped rules at 1 s with ``for: 0s``) -> real
Alertmanager (the shipped receiver, bearer token from a credentials file) -> correlator
(``correlator serve`` on a temp SQLite) -> exemplars -> traces -> logs -> ranked hypotheses.

The demo service is switched to the bad version (2.4.1, 7a3f9c2, ``feature_flag.new_checkout``);
the real rule fires and the real webhook arrives. One run (module fixture) feeds every test, so
each stage passes or fails on its own. Nothing waits a fixed time: every step polls a condition
with a bounded deadline. Prometheus 2.42 applies targets only every 5 s (REFERENCE.md §2), so a
run takes about 15-30 s.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo import loadgen
from tests.e2e._stack import (
    Proc,
    alertmanager_config,
    binary,
    correlator_cmd,
    exemplar_trace_ids,
    free_port,
    poll,
    prom_query,
    prometheus_config,
    start,
    start_simulator,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-webhook-token"
BAD = {"version": "2.4.1", "commit": "7a3f9c2", "flag": "new_checkout"}
GOOD = {"version": "2.4.0", "commit": "1c9d0b4"}
ALERTS = {"CheckoutHighLatency", "CheckoutHighErrorRate"}
CLUSTER = "e2e"
BUCKETS = 'http_server_request_duration_seconds_bucket{service="checkout-api"}'
ERRORS = 'http_server_errors_total{service="checkout-api"}'


@dataclass
class Run:
    urls: dict[str, str]
    procs: dict[str, Proc]
    simulator: bool
    summary: dict[str, Any] = field(default_factory=dict)
    investigation: dict[str, Any] = field(default_factory=dict)
    exemplar_trace_ids: set[str] = field(default_factory=set)
    error_trace_ids: set[str] = field(default_factory=set)
    load: dict[str, int] = field(default_factory=dict)


def _ok(client: httpx.Client, url: str) -> bool:
    return client.get(url).status_code == 200


def _start_backends(tmp: Path, run: Run, client: httpx.Client) -> None:
    ports = {k: free_port() for k in ("correlator", "demo", "prom", "am", "sim")}
    urls = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
    run.urls.update(urls)
    sim = start_simulator(tmp, ports["sim"])
    if sim is not None:
        run.procs["simulator"] = sim
        run.simulator = True
    env = {
        "CORRELATOR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'correlator.db'}",
        "CORRELATOR_WEBHOOK_TOKEN": TOKEN,
        "CORRELATOR_PROMETHEUS__URL": urls["prom"],
        "CORRELATOR_PROMETHEUS__EXTERNAL_LABELS": json.dumps(["cluster"]),
        "CORRELATOR_LLM__MODEL": "",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MODE": "PRODUCTION",
    }
    if run.simulator:
        env |= {"CORRELATOR_TEMPO__URL": urls["sim"], "CORRELATOR_LOKI__URL": urls["sim"]}
    run.procs["correlator"] = start(
        "correlator",
        [*correlator_cmd(), "serve", "--host", "127.0.0.1", "--port", str(ports["correlator"])],
        log_dir=tmp,
        env=env,
        cwd=tmp,
    )
    demo_args = [
        sys.executable,
        "-m",
        "demo.service",
        "--port",
        str(ports["demo"]),
        "--version",
        GOOD["version"],
        "--commit",
        GOOD["commit"],
        "--environment",
        "e2e",
        "--correlator-url",
        urls["correlator"],
        "--correlator-token",
        TOKEN,
        "--slow-query-seconds",
        "0.8",
        "--statement-timeout-seconds",
        "1.0",
    ]
    if run.simulator:
        demo_args += [
            "--otlp-endpoint",
            urls["sim"],
            "--otlp-protocol",
            "http/json",
            "--loki-url",
            urls["sim"],
        ]
    alive = list(run.procs.values())
    poll(
        "correlator /readyz",
        lambda: _ok(client, urls["correlator"] + "/readyz"),
        timeout=60,
        procs=alive,
    )
    if run.simulator:
        poll(
            "simulator",
            lambda: client.get(urls["sim"] + "/ready").status_code < 500,
            timeout=60,
            procs=alive,
        )
    run.procs["demo"] = start("demo", demo_args, log_dir=tmp, cwd=ROOT)
    poll(
        "demo /healthz",
        lambda: _ok(client, urls["demo"] + "/healthz"),
        timeout=30,
        procs=[run.procs["demo"]],
    )
    am_config = alertmanager_config(tmp, urls["correlator"], TOKEN)
    run.procs["alertmanager"] = start(
        "alertmanager",
        [
            binary("prometheus-alertmanager"),
            f"--config.file={am_config}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{ports['am']}",
            "--cluster.listen-address=",
            f"--web.external-url={urls['am']}",
        ],
        log_dir=tmp,
    )
    prom_config = prometheus_config(tmp, ports["demo"], ports["am"], CLUSTER)
    run.procs["prometheus"] = start(
        "prometheus",
        [
            binary("prometheus"),
            f"--config.file={prom_config}",
            f"--storage.tsdb.path={tmp / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prom']}",
            "--enable-feature=exemplar-storage",
            f"--web.external-url={urls['prom']}",
        ],
        log_dir=tmp,
    )
    for name in ("alertmanager", "prometheus"):
        key = "am" if name == "alertmanager" else "prom"
        poll(
            f"{name} ready",
            lambda k=key: _ok(client, urls[k] + "/-/ready"),
            timeout=30,
            procs=[run.procs[name]],
        )


def _find_investigation(client: httpx.Client, base: str) -> dict[str, Any] | None:
    items = client.get(f"{base}/api/v1/investigations").json()["items"]
    found = [i for i in items if i["alertname"] in ALERTS]
    found.sort(key=lambda i: i["alertname"] != "CheckoutHighLatency")
    return found[0] if found else None


def _drive(run: Run, client: httpx.Client) -> None:
    urls = run.urls
    alive = list(run.procs.values())
    poll(
        "Prometheus scraping the demo service",
        lambda: prom_query(client, urls["prom"], 'up{job="checkout-api"} == 1'),
        timeout=30,
        procs=alive,
    )
    poll(
        "baseline exemplars in Prometheus",
        lambda: exemplar_trace_ids(client, urls["prom"], BUCKETS),
        timeout=20,
        procs=alive,
    )
    resp = client.post(f"{urls['demo']}/admin/deploy", params=BAD)
    assert resp.status_code == 200, resp.text
    run.summary = poll(
        "the investigation created by the real Alertmanager webhook",
        lambda: _find_investigation(client, urls["correlator"]),
        timeout=90,
        procs=alive,
    )
    inv_url = f"{urls['correlator']}/api/v1/investigations/{run.summary['id']}"

    def finished() -> dict[str, Any] | None:
        inv = client.get(inv_url).json()
        run.investigation = inv
        return inv if inv["status"] in ("done", "failed") else None

    # test_investigation_finishes reports a timeout; the other stages still get checked
    with contextlib.suppress(AssertionError):
        poll("the investigation to finish", finished, timeout=60, procs=alive)
    poll(
        "an exemplar on the error counter",
        lambda: exemplar_trace_ids(client, urls["prom"], ERRORS),
        timeout=30,
        procs=alive,
    )


def _settle(run: Run, client: httpx.Client) -> None:
    """After the load stopped: one more scrape, then every exemplar Prometheus holds."""
    prom, stopped = run.urls["prom"], time.time()

    def scraped_after_stop() -> bool:
        (sample,) = prom_query(client, prom, 'timestamp(up{job="checkout-api"})')
        return float(sample["value"][1]) > stopped + 0.5

    poll("a scrape after the load stopped", scraped_after_stop, timeout=15)
    run.error_trace_ids = exemplar_trace_ids(client, prom, ERRORS)
    run.exemplar_trace_ids = exemplar_trace_ids(client, prom, BUCKETS) | run.error_trace_ids


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("stack")
    run = Run(urls={}, procs={}, simulator=False)
    stop_load = threading.Event()
    load_result: dict[str, int] = {}
    loader: threading.Thread | None = None
    client = httpx.Client(timeout=10)
    try:
        _start_backends(tmp, run, client)
        loader = threading.Thread(
            target=lambda: load_result.update(
                loadgen.run(
                    run.urls["demo"],
                    rps=10,
                    duration=150,
                    max_requests=1500,
                    concurrency=8,
                    stop=stop_load,
                )
            ),
            daemon=True,
        )
        loader.start()
        _drive(run, client)
        stop_load.set()
        loader.join(timeout=30)
        run.load = dict(load_result)
        _settle(run, client)
        # kept next to the process logs for triage: pytest's tmp dir, stack0/
        (tmp / "investigation.json").write_text(json.dumps(run.investigation, indent=2))
        yield run
    finally:
        stop_load.set()
        if loader is not None:
            loader.join(timeout=30)
        for proc in reversed(list(run.procs.values())):
            proc.stop()
        client.close()


# --- stage 1: real rule -> real Alertmanager -> correlator stored the investigation ----------


def test_real_rule_fired_and_alertmanager_webhook_was_stored(stack: Run) -> None:
    inv = stack.investigation
    alert = inv["alert"]
    labels = alert["labels"]
    assert labels["alertname"] in ALERTS
    assert labels["service"] == "checkout-api"
    assert labels["team"] == "payments"
    assert labels["severity"] == "page"
    assert labels["cluster"] == CLUSTER  # external label: on the alert, not on stored series
    assert alert["status"] == "firing"
    assert alert["generator_url"].startswith(stack.urls["prom"] + "/graph?g0.expr=")
    assert "http_server_" in (inv.get("expr") or "")  # g0.expr recovered from generatorURL
    assert stack.summary["service"] == "checkout-api"


def test_webhook_needs_the_bearer_token_alertmanager_sent(stack: Run) -> None:
    """The stored webhook came through auth: without the token correlator refuses it."""
    url = stack.urls["correlator"] + "/api/v1/webhooks/alertmanager"
    body = (ROOT / "tests/fixtures/alertmanager/alertmanager_webhook_01_firing.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    with httpx.Client(timeout=10) as client:
        assert client.post(url, content=body, headers=headers).status_code == 401
        wrong = {**headers, "Authorization": "Bearer not-the-token"}
        assert client.post(url, content=body, headers=wrong).status_code == 401


def test_demo_deploys_reached_correlator(stack: Run) -> None:
    with httpx.Client(timeout=10) as client:
        items = client.get(stack.urls["correlator"] + "/api/v1/deploys").json()["items"]
    deploys = {(d["deploy"]["version"], d["deploy"]["commit"]) for d in items}
    assert (BAD["version"], BAD["commit"]) in deploys
    assert (GOOD["version"], GOOD["commit"]) in deploys
    assert {d["deploy"]["service"] for d in items} == {"checkout-api"}


def test_load_was_bounded_and_the_bad_version_failed_requests(stack: Run) -> None:
    assert 0 < sum(stack.load.values()) <= 1500
    assert stack.load.get("200", 0) > 0
    assert stack.load.get("500", 0) > 0  # the statement timeout behind the flag


def test_demo_traces_and_logs_reached_the_simulator(stack: Run) -> None:
    """The Tempo/Loki stand-in holds the trace behind a real error exemplar, and its logs."""
    assert stack.simulator, "`correlator simulate` is not available: no Tempo/Loki stand-in"
    assert stack.error_trace_ids, "no exemplar on http_server_errors_total"
    trace_id = sorted(stack.error_trace_ids)[0]
    sim = stack.urls["sim"]
    with httpx.Client(timeout=10) as client:
        trace = client.get(f"{sim}/api/v2/traces/{trace_id}")
        now_ns = time.time_ns()
        logs = client.get(
            f"{sim}/loki/api/v1/query_range",
            params={
                "query": f'{{service_name="checkout-api"}} | trace_id="{trace_id}"',
                "start": str(now_ns - 600 * 10**9),
                "end": str(now_ns),
                "limit": "100",
            },
            headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
        )
    assert trace.status_code == 200, trace.text
    text = trace.text
    for value in ("checkout-api", BAD["version"], BAD["commit"], "db-primary", "new_checkout"):
        assert value in text, value
    assert logs.status_code == 200, logs.text
    lines = [v[1] for s in logs.json()["data"]["result"] for v in s["values"]]
    assert any("slow query: seq scan on orders" in ln for ln in lines), lines
    assert any("statement timeout" in ln for ln in lines), lines


# --- stage 2: the pipeline ran on real evidence ---------------------------------------------


def test_investigation_finishes(stack: Run) -> None:
    inv = stack.investigation
    assert inv["status"] == "done", (inv["status"], inv.get("error"), inv.get("partial"))


def test_evidence_follows_real_exemplars_to_traces_and_logs(stack: Run) -> None:
    assert stack.simulator, "`correlator simulate` is not available: no Tempo/Loki stand-in"
    bundle = stack.investigation.get("evidence")
    assert bundle, f"no evidence bundle (status {stack.investigation['status']})"
    picked = {e["trace_id"] for e in bundle["exemplars"]}
    assert picked, "no exemplars picked"
    assert picked <= stack.exemplar_trace_ids  # real exemplars from the real Prometheus
    incident = [
        t for t in bundle["traces"] if t["trace"]["trace_id"] in picked and not t["baseline"]
    ]
    assert incident, [e for e in bundle["items"] if e["kind"] == "trace"]
    bad = [
        t
        for t in incident
        if {s["resource"]["version"] for s in t["trace"]["spans"]} == {BAD["version"]}
    ]
    assert bad, "no exemplar trace of the bad version"
    for trace in bad:
        spans = trace["trace"]["spans"]
        assert {s["resource"]["service"] for s in spans} == {"checkout-api"}
        assert {s["resource"]["commit"] for s in spans} == {BAD["commit"]}
        assert any("lower(o.email)" in q for q in trace["analysis"]["db_statements"])
        flags = trace["analysis"]["flags"]
        assert {(f["key"], f["variant"]) for f in flags} == {("new_checkout", "on")}
    lines = [ln["line"] for logs in bundle["trace_logs"] for ln in logs["lines"]]
    assert any("slow query: seq scan on orders" in ln for ln in lines), lines[:5]


# --- stage 3 (final): the note names the cause and the rollback target ----------------------
# Needs the evidence chain, the rules and the pipeline wired together (lead, ~12:00).


def test_top_hypothesis_names_checkout_deploy_as_rollback_target(stack: Run) -> None:
    analysis = stack.investigation.get("analysis") or {}
    hypotheses = analysis.get("hypotheses") or []
    assert hypotheses, f"no hypotheses (status {stack.investigation['status']})"
    top = hypotheses[0]
    assert top["service"] == "checkout-api"
    change = top.get("suspect_change") or {}
    assert change.get("version") == BAD["version"]
    assert change.get("commit") == BAD["commit"]
    remediation = stack.investigation.get("remediation") or top.get("remediation") or {}
    assert remediation.get("kind") in ("rollback", "disable_flag"), remediation
    assert remediation.get("proposed") is True
    text = json.dumps(remediation)
    assert BAD["commit"] in text or BAD["flag"] in text, remediation
