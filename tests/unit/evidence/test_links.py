"""Deep links come only from configured URLs, never from payload URLs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from correlator.evidence import links
from correlator.models import TimeWindow
from correlator.settings import Settings

W = TimeWindow(
    start=datetime(2026, 11, 21, 16, 0, tzinfo=UTC), end=datetime(2026, 11, 21, 16, 20, tzinfo=UTC)
)


def test_no_configured_base_means_no_link() -> None:
    s = Settings()
    assert links.trace_link(s, "ab" * 16, W) is None
    assert links.logs_link(s, '{a="b"}', W) is None
    assert links.metric_link(s, "up", W) is None


def test_grafana_explore_trace_link() -> None:
    s = Settings(
        grafana={"url": "http://grafana:3000", "public_url": "https://grafana.example.com/"}
    )
    url = links.trace_link(s, "ab" * 16, W)
    assert url is not None
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "grafana.example.com", "/explore")
    pane = json.loads(parse_qs(parts.query)["panes"][0])["a"]
    assert pane["queries"][0]["query"] == "ab" * 16
    assert pane["queries"][0]["datasource"] == {"type": "tempo", "uid": "tempo"}
    assert pane["range"] == {
        "from": str(int(W.start.timestamp() * 1000)),
        "to": str(int(W.end.timestamp() * 1000)),
    }


def test_prometheus_graph_link_preferred_and_grafana_fallback() -> None:
    s = Settings(prometheus={"url": "http://prom:9090"}, grafana={"url": "http://g"})
    url = links.metric_link(s, 'rate(x{a="b"}[5m])', W)
    assert url is not None
    assert url.startswith("http://prom:9090/graph?")
    assert parse_qs(urlsplit(url).query)["g0.expr"] == ['rate(x{a="b"}[5m])']
    s2 = Settings(grafana={"url": "http://g"})
    url2 = links.metric_link(s2, "up", W)
    assert url2 is not None
    assert url2.startswith("http://g/explore?")


def test_non_http_base_is_refused() -> None:
    s = Settings(grafana={"url": "javascript:alert(1)"})
    assert links.trace_link(s, "ab" * 16, W) is None
