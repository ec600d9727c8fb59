"""Historical alerts from Prometheus' ``ALERTS{alertstate="firing"}`` series.

The batch read uses ``prometheus-api-client`` (sync, ``requests``) with an explicit timeout and
an explicit ``urllib3`` retry (429/5xx and connection errors, bounded), always from a worker
thread (``asyncio.to_thread`` in ``fetch_history``), never on the event loop.

One range-vector query at ``--until`` returns the raw samples (one per rule evaluation while the
alert fired). A series' samples split into firing runs at gaps longer than 2.5 evaluation
intervals (median spacing); each run becomes the webhook Alertmanager would have sent when the
alert started firing: ``status: firing``, ``startsAt`` = the run's first sample (Prometheus sends
``FiredAt`` as ``startsAt``), ``endsAt`` = Go zero time, and ``generatorURL`` with ``g0.expr``
when ``/api/v1/rules`` still has the rule.

Differences from what Alertmanager really sent (docs/replay.md): annotations are the rule's
current annotation templates only when they contain no template (``{{``), else absent; Prometheus
``external_labels`` are not on stored series, so labels and therefore the fingerprint lack them;
receiver/groupKey are synthetic (one alert per body, grouped by alertname).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from correlator.lab.replay.sources import GO_ZERO, WorkItem, am_fingerprint, split_webhook
from correlator.settings import BackendSettings
from correlator.wire.promql import quote

_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DROP = frozenset({"__name__", "alertstate"})
MIN_GAP_SECONDS = 1.0


class HistoryError(RuntimeError):
    """Prometheus could not be read (after retries) or answered an error."""


@dataclass(frozen=True)
class HistoryQuery:
    since: datetime
    until: datetime
    alertname: str | None = None
    matchers: dict[str, str] = field(default_factory=dict)


def parse_matchers(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` strings to a dict; label names are validated (values are escaped later)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _LABEL_NAME.match(name) or name in _DROP:
            raise ValueError(f"--match wants label=value with a valid label name, got {pair!r}")
        out[name] = value
    return out


def alerts_selector(q: HistoryQuery) -> str:
    """``ALERTS{alertstate="firing",...}`` with every value escaped as a PromQL string."""
    parts = ['alertstate="firing"']
    if q.alertname:
        parts.append(f"alertname={quote(q.alertname)}")
    parts += [f"{k}={quote(v)}" for k, v in sorted(q.matchers.items())]
    return "ALERTS{" + ",".join(parts) + "}"


def history_query_text(q: HistoryQuery) -> str:
    seconds = max(1, round((q.until - q.since).total_seconds()))
    return f"{alerts_selector(q)}[{seconds}s]"


def firing_runs(times: Sequence[float]) -> list[float]:
    """Start times of the firing runs in sorted sample times."""
    if not times:
        return []
    spacing = [b - a for a, b in itertools.pairwise(times)]
    interval = statistics.median(spacing) if spacing else MIN_GAP_SECONDS
    gap = max(MIN_GAP_SECONDS, 2.5 * interval)
    starts = [times[0]]
    starts += [b for a, b in itertools.pairwise(times) if b - a > gap]
    return starts


def _ts(seconds: float) -> str:
    t = datetime.fromtimestamp(seconds, tz=UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generator_url(base: str, expr: str | None) -> str:
    if not expr:
        return ""
    return f"{base.rstrip('/')}/graph?g0.expr={quote_plus(expr)}&g0.tab=1"


def _webhook(
    labels: dict[str, str], starts: float, rule: dict[str, Any], base: str
) -> dict[str, Any]:
    annotations = {k: v for k, v in (rule.get("annotations") or {}).items() if "{{" not in str(v)}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": _ts(starts),
        "endsAt": GO_ZERO,
        "generatorURL": generator_url(base, rule.get("query")),
        "fingerprint": am_fingerprint(labels),
    }
    name = labels.get("alertname", "")
    return {
        "version": "4",
        "groupKey": f"{{}}:{{alertname={quote(name)}}}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "correlator-replay",
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [alert],
    }


def items_from_matrix(
    result: Sequence[dict[str, Any]], rules: dict[str, dict[str, Any]], base_url: str
) -> list[WorkItem]:
    """Work items from a Prometheus matrix of ``ALERTS`` samples (sorted by startsAt)."""
    items: list[WorkItem] = []
    for series in result:
        labels = {k: str(v) for k, v in series.get("metric", {}).items() if k not in _DROP}
        times = sorted(float(v[0]) for v in series.get("values", []))
        rule = rules.get(labels.get("alertname", ""), {})
        for start in firing_runs(times):
            items += split_webhook(_webhook(labels, start, rule, base_url), "prometheus")
    items.sort(key=lambda i: (i.alert["startsAt"], i.key))
    return items


def _connect(cfg: BackendSettings, retries: int, timeout: float) -> Any:
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    retry = Retry(
        total=retries,
        backoff_factor=0.5,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "POST"),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    headers: dict[str, str] = {}
    if cfg.bearer_token is not None:
        headers["Authorization"] = f"Bearer {cfg.bearer_token.get_secret_value()}"
    if cfg.tenant:
        headers["X-Scope-OrgID"] = cfg.tenant
    auth = None
    if cfg.basic_user and cfg.basic_password is not None:
        auth = (cfg.basic_user, cfg.basic_password.get_secret_value())
    return PrometheusConnect(
        url=str(cfg.url).rstrip("/"),
        headers=headers or None,
        retry=retry,
        auth=auth,
        timeout=timeout,
    )


def _rules(prom: Any, timeout: float) -> dict[str, dict[str, Any]]:
    """Alerting rules by name from ``/api/v1/rules`` (empty when unavailable)."""
    try:
        resp = prom._session.get(
            f"{prom.url}/api/v1/rules",
            params={"type": "alert"},
            headers=prom.headers,
            auth=prom.auth,
            timeout=timeout,
        )
        groups = resp.json().get("data", {}).get("groups", []) if resp.ok else []
    except (OSError, ValueError):  # requests errors are OSError; ValueError: not JSON
        return {}
    return {r["name"]: r for g in groups for r in g.get("rules", []) if r.get("type") == "alerting"}


def read_history(
    cfg: BackendSettings, q: HistoryQuery, *, timeout: float = 30.0, retries: int = 3
) -> list[WorkItem]:
    """Blocking read of the alert history (call through ``fetch_history``)."""
    from prometheus_api_client.exceptions import PrometheusApiClientException

    if not cfg.url:
        raise HistoryError("prometheus.url is not configured")
    prom = _connect(cfg, retries, timeout)
    try:
        result = prom.custom_query(
            query=history_query_text(q), params={"time": q.until.timestamp()}
        )
        rules = _rules(prom, timeout)
    except PrometheusApiClientException as exc:
        raise HistoryError(f"prometheus answered an error: {exc}") from exc
    except OSError as exc:  # requests' exceptions derive from OSError
        raise HistoryError(f"prometheus unreachable: {type(exc).__name__}: {exc}") from exc
    finally:
        prom._session.close()
    base = cfg.public_url or str(cfg.url)
    return items_from_matrix(result or [], rules, base)


async def fetch_history(
    cfg: BackendSettings, q: HistoryQuery, *, request_timeout: float = 30.0, retries: int = 3
) -> list[WorkItem]:
    """``read_history`` in a worker thread (the client is sync)."""
    return await asyncio.to_thread(read_history, cfg, q, timeout=request_timeout, retries=retries)
