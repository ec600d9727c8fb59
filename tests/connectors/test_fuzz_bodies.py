"""Any JSON body, in any place of the expected shape, yields a result or a ``BackendError``:
connectors never crash on upstream garbage (hypothesis)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.grafana import GrafanaAnnotations
from connectors.loki import LokiSource
from connectors.prometheus import PrometheusSource
from connectors.tempo import TempoSource
from correlator.errors import BackendError
from correlator.models import TimeWindow
from correlator.settings import GrafanaSettings, LokiSettings, PrometheusSettings, TempoSettings
from correlator.wire.otlp import OtlpFormatError, parse_trace
from tests.connectors.support import fixture_json

WINDOW = TimeWindow(
    start=datetime(2026, 11, 23, 10, tzinfo=UTC), end=datetime(2026, 11, 23, 11, tzinfo=UTC)
)
TRACE = "5b8efff798038103d269b633813fc700"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["NaN", "+Inf", "W47/95gDgQPSabYzgT/HAA==", "1689969302000000000"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _mutations(doc: Any) -> st.SearchStrategy[Any]:
    """The real document with one nested value replaced by arbitrary JSON."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node[:1]):
                walk(v, (*path, i))

    walk(doc, ())

    def replace(path: tuple[Any, ...], value: Any) -> Any:
        copy = json.loads(json.dumps(doc))
        if not path:
            return value
        node = copy
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return copy

    wrong = st.sampled_from([None, 0, 7, -1.5, True, "", "x", [], {}, [1], {"a": 1}])
    return st.builds(replace, st.sampled_from(paths), wrong | json_values)


def _run(call: Callable[[httpx.AsyncClient], Awaitable[object]], body: Any) -> None:
    content = json.dumps(body).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    async def main() -> None:
        async with httpx.AsyncClient(
            base_url="http://x.test", transport=httpx.MockTransport(handler)
        ) as client:
            with contextlib.suppress(BackendError):
                await call(client)

    asyncio.run(main())


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(_mutations(fixture_json("prometheus", "prometheus_query_exemplars.json")))
def test_prometheus_exemplars(body: Any) -> None:
    cfg = PrometheusSettings(url="http://x.test")
    _run(lambda c: PrometheusSource(c, cfg).query_exemplars("x", WINDOW), body)


@FUZZ
@given(_mutations(fixture_json("prometheus", "prometheus_api_v1_query_range_matrix.json")))
def test_prometheus_query_range(body: Any) -> None:
    cfg = PrometheusSettings(url="http://x.test")
    _run(lambda c: PrometheusSource(c, cfg).query_range("x", WINDOW, 15), body)


@FUZZ
@given(_mutations(fixture_json("prometheus", "prometheus_api_v1_rules.json")))
def test_prometheus_rules(body: Any) -> None:
    cfg = PrometheusSettings(url="http://x.test")
    _run(lambda c: PrometheusSource(c, cfg).alert_rule_expr("DemoQueueBacklog"), body)


@FUZZ
@given(_mutations(fixture_json("tempo", "tempopb_trace_jsonpb_base64ids.tempo-vulture.json")))
def test_tempo_trace(body: Any) -> None:
    cfg = TempoSettings(url="http://x.test")
    _run(lambda c: TempoSource(c, cfg).get_trace(TRACE), body)


@FUZZ
@given(_mutations(fixture_json("tempo", "api_search_traceql_response.docs-capture.json")))
def test_tempo_search(body: Any) -> None:
    cfg = TempoSettings(url="http://x.test")
    _run(lambda c: TempoSource(c, cfg).search("{}", WINDOW, 5), body)


@FUZZ
@given(_mutations(fixture_json("loki", "streams_structured_metadata.json")))
def test_loki(body: Any) -> None:
    cfg = LokiSettings(url="http://x.test")
    _run(lambda c: LokiSource(c, cfg).query_range("{}", WINDOW, 100), body)


@FUZZ
@given(_mutations(fixture_json("grafana", "annotations_find_response.docs.json")))
def test_grafana(body: Any) -> None:
    cfg = GrafanaSettings(url="http://x.test")
    _run(lambda c: GrafanaAnnotations(c, cfg).deploy_annotations(WINDOW, ["deploy"]), body)


@FUZZ
@given(json_values)
def test_otlp_parser_raises_only_its_own_error(doc: Any) -> None:
    with contextlib.suppress(OtlpFormatError):
        parse_trace(doc)
