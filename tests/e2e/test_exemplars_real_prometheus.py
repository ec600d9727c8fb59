"""``gather`` against a real Prometheus (Debian package, exemplar storage) scraping an in-repo app.

The app (``tests/e2e/apps/exemplar_app.py``) exposes an OpenMetrics histogram and counter whose
exemplars carry trace ids we know: which are slow (and how slow) and which sit on the 500 series.
Prometheus scrapes it every second; once its ``/api/v1/query_exemplars`` returns them all, the
evidence chain runs with the REAL Prometheus connector and must pick the slowest trace ids for a
latency alert and only 5xx ones for an error alert. The same Prometheus also checks our PromQL
string escaping with its own parser.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import yaml

from correlator.evidence import EvidenceSources, gather
from correlator.models import Alert, AlertStatus, EvidenceStatus
from correlator.settings import Settings
from correlator.wire import promql
from tests.e2e._proc import Proc, free_port, http_ok, poll
from tests.e2e.apps import exemplar_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
APP = Path(exemplar_app.__file__)
LATENCY_EXPR = (
    "histogram_quantile(0.9, sum by (le, route) "
    "(rate(demo_request_duration_seconds_bucket[30s]))) > 0.5"
)
ERROR_EXPR = (
    'sum(rate(demo_requests_total{status=~"5.."}[1m])) / sum(rate(demo_requests_total[1m])) > 0.1'
)


class Lab:
    def __init__(self, url: str, started: datetime) -> None:
        self.url = url
        self.started = started

    def exemplar_ids(self, query: str) -> set[str]:
        end = datetime.now(UTC) + timedelta(seconds=5)
        params = {"query": query, "start": self.started.timestamp() - 60, "end": end.timestamp()}
        doc = httpx.get(f"{self.url}/api/v1/query_exemplars", params=params, timeout=5).json()
        return {e["labels"]["trace_id"] for s in doc["data"] for e in s["exemplars"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not Path(PROMETHEUS).exists():
        pytest.skip("prometheus binary not installed (scripts/system-deps.sh)")
    tmp = tmp_path_factory.mktemp("exemplar-lab")
    app_port, prom_port = free_port(), free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "demo-app",
                "scrape_interval": "1s",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{app_port}"], "labels": {"service": "checkout"}}
                ],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    env = {"PATH": "/usr/bin:/bin"}
    app = Proc(
        "app", [sys.executable, str(APP), str(app_port)], log=tmp / "app.log", env=env, cwd=tmp
    )
    prom = Proc(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--enable-feature=exemplar-storage",
        ],
        log=tmp / "prometheus.log",
        env=env,
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{prom_port}"
    try:
        poll(lambda: http_ok(f"{url}/-/ready"), timeout=30, what="prometheus /-/ready")
        lab = Lab(url, datetime.now(UTC))
        want_hist = set(exemplar_app.SLOW) | set(exemplar_app.FAST)
        want_ctr = set(exemplar_app.OK) | set(exemplar_app.ERRORS)

        def all_stored() -> bool:
            try:
                hist = lab.exemplar_ids("demo_request_duration_seconds_bucket")
                ctr = lab.exemplar_ids("demo_requests_total")
            except (httpx.HTTPError, ValueError, KeyError):
                return False
            return want_hist <= hist and want_ctr <= ctr

        poll(all_stored, timeout=60, what="all known exemplars queryable", every=0.25)
        yield lab
    except AssertionError:
        raise AssertionError(f"lab failed:\n{prom.output()}\n{app.output()}") from None
    finally:
        prom.stop()
        app.stop()


def alert(expr: str, labels: dict[str, str]) -> Alert:
    return Alert(
        fingerprint="e2e",
        status=AlertStatus.FIRING,
        labels={"alertname": "E2E", "env": "lab", **labels},
        starts_at=datetime.now(UTC),
        generator_url="http://ignored.invalid/graph?" + urlencode({"g0.expr": expr}),
    )


def prometheus_sources(url: str, settings: Settings) -> tuple[EvidenceSources, httpx.AsyncClient]:
    prometheus = pytest.importorskip("connectors.prometheus")
    client = httpx.AsyncClient(base_url=url)
    source = prometheus.PrometheusSource(client, settings.prometheus)
    return EvidenceSources(exemplars=source, metrics=source, rule_exprs=source), client


def lab_settings(url: str, **prom: object) -> Settings:
    return Settings(
        prometheus={"url": url, "external_labels": ["env"], **prom},
        evidence_deadline_seconds=10.0,
    )  # type: ignore[arg-type]


async def test_latency_alert_picks_the_slowest_trace_ids(lab: Lab) -> None:
    settings = lab_settings(lab.url, max_exemplars=3)
    sources, client = prometheus_sources(lab.url, settings)
    async with client:
        bundle = await gather(
            alert(LATENCY_EXPR, {"route": "/checkout"}), sources=sources, settings=settings
        )
    slowest = sorted(exemplar_app.SLOW, key=exemplar_app.SLOW.__getitem__, reverse=True)[:3]
    assert [e.trace_id for e in bundle.exemplars] == slowest
    assert [e.value for e in bundle.exemplars] == [exemplar_app.SLOW[t] for t in slowest]
    ex = next(e for e in bundle.items if e.id.startswith("exemplars:"))
    assert ex.status is EvidenceStatus.OK
    assert ex.query == 'demo_request_duration_seconds_bucket{route="/checkout"}'
    assert bundle.alert_service == "checkout"  # from the scraped series' target label
    shape = next(e for e in bundle.items if e.id == "metric:alert")
    assert shape.status in (EvidenceStatus.OK, EvidenceStatus.NO_DATA)


async def test_error_alert_picks_only_5xx_trace_ids(lab: Lab) -> None:
    settings = lab_settings(lab.url)
    sources, client = prometheus_sources(lab.url, settings)
    async with client:
        bundle = await gather(alert(ERROR_EXPR, {}), sources=sources, settings=settings)
    picked = [e.trace_id for e in bundle.exemplars]
    assert set(picked) == set(exemplar_app.ERRORS)
    assert all(e.series_labels["status"] == "500" for e in bundle.exemplars)


HOSTILE = [
    'a"b',
    "back\\slash",
    '"} or vector(1) or up{x="',
    "new\nline",
    "tab\tand\rcr",
    "\x00\x01\x7f",
    "ünïcødé ☃ 𝄞",
    "'single'",
    "`backtick`",
    "${x} {{y}} %s",
]


def test_real_promql_parser_reads_our_literals_back(lab: Lab) -> None:
    for value in HOSTILE:
        template = value.replace("$", "$$")  # label_replace expands $x in its replacement
        query = f'label_replace(vector(1), "v", {promql.quote(template)}, "", "")'
        doc = httpx.get(f"{lab.url}/api/v1/query", params={"query": query}, timeout=5).json()
        assert doc["status"] == "success", (value, doc)
        assert [r["metric"]["v"] for r in doc["data"]["result"]] == [value]


def test_real_prometheus_accepts_our_narrowed_selectors(lab: Lab) -> None:
    labels = {"route": '/checkout"} or up{x="', "env": "lab"}
    query = promql.exemplar_query(LATENCY_EXPR, labels, ["env"])
    doc = httpx.get(f"{lab.url}/api/v1/query", params={"query": query}, timeout=5).json()
    assert doc["status"] == "success", doc
    assert query == 'demo_request_duration_seconds_bucket{route="/checkout\\"} or up{x=\\""}'
    assert doc["data"]["result"] == []  # no series has that route: no injection widened it
    plain = promql.exemplar_query(LATENCY_EXPR, {"route": "/checkout"}, [])
    doc = httpx.get(f"{lab.url}/api/v1/query", params={"query": plain}, timeout=5).json()
    assert {r["metric"]["le"] for r in doc["data"]["result"]} >= {"0.05", "2.5", "+Inf"}
