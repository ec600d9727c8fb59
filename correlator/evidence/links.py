"""Deep links for humans, built ONLY from configured public URLs.

``settings.grafana.link_base`` (``public_url`` or ``url``) for Explore links to a trace (Tempo
datasource) and a LogQL query (Loki datasource); ``settings.prometheus.link_base`` for
``/graph?g0.expr=...``. URLs found in payloads (an alert's ``generatorURL``, Alertmanager's
``externalURL``, a deploy's ``url``) are never used as a link base: a payload must not be able to
point an on-call engineer at a host of its choosing.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

from correlator.models import TimeWindow
from correlator.settings import Settings


def _base(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.rstrip("/")


def _ms(window: TimeWindow) -> dict[str, str]:
    return {
        "from": str(int(window.start.timestamp() * 1000)),
        "to": str(int(window.end.timestamp() * 1000)),
    }


def _explore(base: str, uid: str, ds_type: str, query: dict[str, str], window: TimeWindow) -> str:
    pane = {
        "datasource": uid,
        "queries": [{"refId": "A", "datasource": {"type": ds_type, "uid": uid}, **query}],
        "range": _ms(window),
    }
    panes = json.dumps({"a": pane}, separators=(",", ":"), sort_keys=True)
    return f"{base}/explore?" + urlencode({"schemaVersion": "1", "panes": panes, "orgId": "1"})


def trace_link(settings: Settings, trace_id: str, window: TimeWindow) -> str | None:
    """Grafana Explore on the Tempo datasource showing ``trace_id``."""
    base = _base(settings.grafana.link_base)
    if base is None:
        return None
    query = {"queryType": "traceql", "query": trace_id}
    return _explore(base, settings.grafana.tempo_datasource_uid, "tempo", query, window)


def traceql_link(settings: Settings, traceql: str, window: TimeWindow) -> str | None:
    base = _base(settings.grafana.link_base)
    if base is None:
        return None
    query = {"queryType": "traceql", "query": traceql}
    return _explore(base, settings.grafana.tempo_datasource_uid, "tempo", query, window)


def logs_link(settings: Settings, logql: str, window: TimeWindow) -> str | None:
    """Grafana Explore on the Loki datasource running ``logql``."""
    base = _base(settings.grafana.link_base)
    if base is None:
        return None
    query = {"expr": logql, "queryType": "range"}
    return _explore(base, settings.grafana.loki_datasource_uid, "loki", query, window)


def metric_link(settings: Settings, expr: str, window: TimeWindow) -> str | None:
    """Prometheus ``/graph`` when configured, else Grafana Explore on the Prometheus datasource."""
    base = _base(settings.prometheus.link_base)
    if base is not None:
        params = {
            "g0.expr": expr,
            "g0.tab": "0",
            "g0.range_input": f"{max(1, int(window.seconds))}s",
            "g0.end_input": window.end.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return f"{base}/graph?" + urlencode(params)
    grafana = _base(settings.grafana.link_base)
    if grafana is None:
        return None
    uid = settings.grafana.prometheus_datasource_uid
    return _explore(grafana, uid, "prometheus", {"expr": expr}, window)


def annotations_link(settings: Settings, window: TimeWindow) -> str | None:
    """Grafana's annotation list API for the window (what the deploy markers came from)."""
    base = _base(settings.grafana.link_base)
    if base is None:
        return None
    params = {**_ms(window), "tags": settings.grafana.annotation_tags}
    return f"{base}/api/annotations?" + urlencode(params, doseq=True)
