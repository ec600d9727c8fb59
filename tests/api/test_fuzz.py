"""Hypothesis-fuzzed webhook bodies: any input is 202, 400, 413 or 422; never a 5xx."""

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import AUTH, fixture_json

URL = "/api/v1/webhooks/alertmanager"
OK = {202, 400, 413, 422}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


async def _post(client: httpx.AsyncClient, body: bytes) -> int:
    r = await client.post(URL, content=body, headers={**AUTH, "Content-Type": "application/json"})
    return r.status_code


@FUZZ
@given(body=st.binary(max_size=2048))
async def test_random_bytes_never_5xx(client: httpx.AsyncClient, body: bytes) -> None:
    assert await _post(client, body) in OK


@FUZZ
@given(value=json_values)
async def test_random_json_never_5xx(client: httpx.AsyncClient, value: Any) -> None:
    assert await _post(client, json.dumps(value).encode()) in OK


PATHS = [
    ("status",),
    ("alerts",),
    ("alerts", 0),
    ("alerts", 0, "labels"),
    ("alerts", 0, "labels", "alertname"),
    ("alerts", 0, "startsAt"),
    ("alerts", 0, "endsAt"),
    ("alerts", 0, "status"),
    ("alerts", 0, "fingerprint"),
    ("alerts", 0, "generatorURL"),
    ("groupLabels",),
    ("truncatedAlerts",),
]


@FUZZ
@given(path=st.sampled_from(PATHS), value=json_values, drop=st.booleans())
async def test_mutated_real_webhook_never_5xx(
    client: httpx.AsyncClient, path: tuple[Any, ...], value: Any, drop: bool
) -> None:
    body = fixture_json("alertmanager_webhook_01_firing.json")
    parent: Any = body
    for key in path[:-1]:
        parent = parent[key]
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    assert await _post(client, json.dumps(body).encode()) in OK


offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
stamps = st.datetimes(timezones=st.none() | st.builds(timezone, offsets))


@FUZZ
@given(starts=stamps, ends=stamps)
async def test_fuzzed_timestamps_never_5xx(
    client: httpx.AsyncClient, starts: datetime, ends: datetime
) -> None:
    body = fixture_json("alertmanager_webhook_03_resolved.json")
    body["alerts"][0]["startsAt"] = starts.isoformat()
    body["alerts"][0]["endsAt"] = ends.isoformat()
    assert await _post(client, json.dumps(body).encode()) in OK
