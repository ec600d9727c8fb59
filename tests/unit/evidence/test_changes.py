"""Change inference: deploy store, Grafana annotations, build_info series, trace versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from correlator.evidence import changes as ch
from correlator.models import (
    Change,
    ChangeKind,
    Deploy,
    MetricSeries,
    TraceAnalysis,
    TraceEvidence,
)
from correlator.settings import Settings
from tests.support.fake_sources import S, make_trace

T0 = datetime(2026, 11, 21, 16, 0, tzinfo=UTC)
REPO = "https://git.example.com/org/{service}/compare/{from_commit}...{to_commit}"


def test_deploys_get_previous_version_ids_and_compare_urls() -> None:
    s = Settings(repo_url_template=REPO)
    deploys = [
        Deploy(service="cart", version="1.4.0", commit="bbb", time=T0, url="https://evil.example"),
        Deploy(service="cart", version="1.3.0", commit="aaa", time=T0 - timedelta(hours=1)),
        Deploy(service="ad", version="2.0", time=T0 - timedelta(minutes=5)),
    ]
    out = {c.evidence_id: c for c in ch.changes_from_deploys(deploys, s)}
    new = out["change:deploy_api:cart:1.4.0"]
    assert (new.from_version, new.to_version, new.from_commit, new.to_commit) == (
        "1.3.0",
        "1.4.0",
        "aaa",
        "bbb",
    )
    assert new.url == "https://git.example.com/org/cart/compare/aaa...bbb"
    assert out["change:deploy_api:cart:1.3.0"].url is None  # no from_commit: no compare link
    assert out["change:deploy_api:ad:2.0"].url is None


def test_repo_url_values_are_url_quoted() -> None:
    s = Settings(repo_url_template="https://git.example.com/{service}/commit/{commit}")
    url = ch.repo_url(s, service="a/../b", to_commit="x?y#z")
    assert url == "https://git.example.com/a%2F..%2Fb/commit/x%3Fy%23z"


def test_annotations_get_stable_ids_and_lose_payload_urls() -> None:
    found = [
        Change(
            evidence_id="whatever",
            service="cart",
            kind=ChangeKind.DEPLOY,
            time=T0,
            source="x",
            to_version="1.4.0",
            url="https://evil.example/",
        ),
        Change(evidence_id="w2", service="cart", kind=ChangeKind.DEPLOY, time=T0, source="x"),
        Change(
            evidence_id="w3",
            service="cart",
            kind=ChangeKind.DEPLOY,
            time=T0,
            source="x",
            description="second marker same minute",
        ),
    ]
    out = ch.with_ids(found, Settings(), "grafana")
    ids = [c.evidence_id for c in out]
    assert ids[0] == "change:grafana:cart:1.4.0"
    assert ids[1] == "change:grafana:cart:20261121T160000Z"
    assert ids[2].startswith("change:grafana:cart:20261121T160000Z~")
    assert all(c.url is None and c.source == "grafana" for c in out)


def _series(labels: dict[str, str], start: float, end: float) -> MetricSeries:
    points = [(t, 1.0) for t in range(int(start), int(end), 60)]
    return MetricSeries(
        evidence_id="metric:versions_0", name="v", query="q", labels=labels, points=points
    )


def test_build_info_version_change() -> None:
    t = T0.timestamp()
    series = [
        _series({"service": "cart", "version": "1.3.0"}, t - 3600, t - 600),
        _series({"service": "cart", "version": "1.4.0"}, t - 900, t + 300),
        _series({"service_name": "ad", "service_version": "2.0"}, t - 3600, t + 300),
        _series({"job": "x"}, t - 3600, t),
    ]
    out = ch.changes_from_version_series(series, Settings())
    assert len(out) == 1
    c = out[0]
    assert (c.service, c.from_version, c.to_version, c.source) == (
        "cart",
        "1.3.0",
        "1.4.0",
        "metric",
    )
    assert c.time == datetime.fromtimestamp(t - 900, tz=UTC)
    assert c.evidence_id == "change:metric:cart:1.4.0"


def test_nan_points_do_not_count_as_seen() -> None:
    t = T0.timestamp()
    a = _series({"service": "cart", "version": "1"}, t - 3600, t)
    b = MetricSeries(
        evidence_id="m",
        name="v",
        query="q",
        labels={"service": "cart", "version": "2"},
        points=[(t - 100, float("nan"))],
    )
    assert ch.changes_from_version_series([a, b], Settings()) == []


def _te(tid: str, start: datetime, version: str, *, baseline: bool) -> TraceEvidence:
    trace = make_trace(
        tid,
        start,
        [
            S("frontend", None, 0, 100, version="f1"),
            S("cart", 0, 10, 50, version=version, commit=f"c-{version}"),
        ],
    )
    analysis = TraceAnalysis(
        versions={"frontend": "f1", "cart": version}, commits={"cart": f"c-{version}"}
    )
    return TraceEvidence(
        evidence_id=f"trace:{tid}", trace=trace, analysis=analysis, baseline=baseline
    )


def test_trace_version_change_against_baseline() -> None:
    current = [
        _te("a" * 32, T0, "1.4.0", baseline=False),
        _te("b" * 32, T0 + timedelta(seconds=5), "1.4.0", baseline=False),
    ]
    base = [_te("c" * 32, T0 - timedelta(hours=1), "1.3.0", baseline=True)]
    out = ch.changes_from_traces(current, base, Settings(repo_url_template=REPO))
    assert len(out) == 1
    c = out[0]
    assert (c.service, c.from_version, c.to_version) == ("cart", "1.3.0", "1.4.0")
    assert (c.from_commit, c.to_commit) == ("c-1.3.0", "c-1.4.0")
    assert c.time == T0 + timedelta(milliseconds=10)
    assert c.url == "https://git.example.com/org/cart/compare/c-1.3.0...c-1.4.0"
    assert ch.changes_from_traces(current, [], Settings()) == []
