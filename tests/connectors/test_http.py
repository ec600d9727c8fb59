"""connectors/_http.py: retries, Retry-After, breaker, coalescing, cache, deadline, auth, errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from connectors._client import tls_context
from connectors._http import (
    BackendClient,
    CircuitOpen,
    build_client,
    parse_retry_after,
)
from correlator.deadline import deadline_scope
from correlator.errors import (
    BackendBadResponse,
    BackendRateLimited,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
)
from correlator.metrics import Metrics
from correlator.settings import BackendSettings
from tests.connectors.support import FakeTime, fixture_bytes, json_response, mock_client

NOW = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
OK = {"status": "success", "data": []}


def backend(
    handler: httpx.MockTransport | object,
    fake_time: FakeTime,
    metrics: Metrics | None = None,
    **settings: object,
) -> BackendClient:
    cfg = BackendSettings(url="http://backend.test", **settings)
    return BackendClient(
        "prom",
        mock_client(handler),  # type: ignore[arg-type]
        cfg,
        metrics=metrics,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        jitter=lambda: 0.5,
        wall_clock=lambda: NOW,
    )


class Script:
    """A transport handler answering a scripted sequence (last one repeats), counting calls."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        return step


async def test_retries_500_then_succeeds(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(500, text="boom"), json_response(OK))
    metrics = Metrics()
    b = backend(script, fake_time, metrics)
    assert await b.get_json("/api/v1/query") == OK
    assert len(script.requests) == 2
    assert len(fake_time.sleeps) == 1
    assert metrics.registry.get_sample_value(
        "correlator_backend_retries_total", {"backend": "prom"}
    ) == pytest.approx(1.0)


async def test_retries_read_timeout(fake_time: FakeTime) -> None:
    script = Script(httpx.ReadTimeout("slow"), json_response(OK))
    assert await backend(script, fake_time).get_json("/x") == OK
    assert len(script.requests) == 2


async def test_connection_closed_is_retried_then_unavailable(fake_time: FakeTime) -> None:
    script = Script(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    with pytest.raises(BackendUnavailable, match="RemoteProtocolError"):
        await backend(script, fake_time, retries=2).get_json("/x")
    assert len(script.requests) == 3
    # jittered exponential backoff: base 0.1 * 2**n, jitter fixed at 0.5 -> 75% of base
    assert fake_time.sleeps == pytest.approx([0.075, 0.15])


async def test_timeout_exhausted_is_backend_timeout(fake_time: FakeTime) -> None:
    script = Script(httpx.ConnectTimeout("connect"))
    with pytest.raises(BackendTimeout):
        await backend(script, fake_time, retries=1).get_json("/x")
    assert len(script.requests) == 2


async def test_retry_after_seconds_is_honoured(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "3"}), json_response(OK))
    assert await backend(script, fake_time).get_json("/x") == OK
    assert fake_time.sleeps == [3.0]


async def test_retry_after_http_date_is_honoured(fake_time: FakeTime) -> None:
    when = format_datetime(NOW.replace(second=7), usegmt=True)
    script = Script(httpx.Response(429, headers={"Retry-After": when}), json_response(OK))
    assert await backend(script, fake_time).get_json("/x") == OK
    assert fake_time.sleeps == [7.0]


async def test_rate_limited_when_retry_after_outlives_deadline(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "20"}))
    with deadline_scope(5.0, clock=fake_time.clock), pytest.raises(BackendRateLimited) as info:
        await backend(script, fake_time).get_json("/x")
    assert info.value.retry_after == 20.0
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("2.5", now=NOW) == 2.5
    assert parse_retry_after("Mon, 23 Nov 2026 11:00:10 GMT", now=NOW) == 10.0
    assert parse_retry_after("Mon, 23 Nov 2026 10:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None


async def test_400_bad_data_is_rejected_without_retry(fake_time: FakeTime) -> None:
    body = fixture_bytes("prometheus", "prometheus_api_v1_query_error_bad_data.json")
    script = Script(json_response(body, status=400))
    with pytest.raises(BackendRejected, match=r"bad_data.*unclosed left parenthesis") as info:
        await backend(script, fake_time).get_json("/api/v1/query", params={"query": "rate(x"})
    assert info.value.status == 400
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


async def test_404_is_rejected_with_status(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(404))
    with pytest.raises(BackendRejected) as info:
        await backend(script, fake_time).request("GET", "/api/traces/abc")
    assert info.value.status == 404
    assert len(script.requests) == 1


async def test_breaker_opens_then_half_opens(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(503), httpx.Response(503), json_response(OK))
    metrics = Metrics()
    b = backend(
        script, fake_time, metrics, retries=0, breaker_failures=2, breaker_reset_seconds=30.0
    )
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            await b.get_json("/x")
    with pytest.raises(CircuitOpen):
        await b.get_json("/x")
    assert len(script.requests) == 2  # the open breaker did not call upstream
    assert metrics.registry.get_sample_value(
        "correlator_backend_breaker_open", {"backend": "prom"}
    ) == pytest.approx(1.0)
    fake_time.now += 31.0
    assert b.breaker.state == "half_open"
    assert await b.get_json("/x") == OK
    assert b.breaker.state == "closed"


async def test_failed_half_open_probe_reopens(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(502))
    b = backend(script, fake_time, retries=0, breaker_failures=1, breaker_reset_seconds=10.0)
    with pytest.raises(BackendUnavailable):
        await b.get_json("/x")
    fake_time.now += 11.0
    with pytest.raises(BackendUnavailable) as info:
        await b.get_json("/x")
    assert not isinstance(info.value, CircuitOpen)  # the probe went out
    assert b.breaker.state == "open"
    assert len(script.requests) == 2


async def test_4xx_does_not_trip_the_breaker(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(400))
    b = backend(script, fake_time, retries=0, breaker_failures=1)
    for _ in range(3):
        with pytest.raises(BackendRejected):
            await b.get_json("/x")
    assert b.breaker.state == "closed"


async def test_identical_concurrent_gets_are_coalesced(fake_time: FakeTime) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    calls: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        entered.set()
        await release.wait()
        return json_response(OK)

    b = backend(handler, fake_time)
    first = asyncio.create_task(b.get_json("/q", params={"query": "up"}))
    await entered.wait()
    second = asyncio.create_task(b.get_json("/q", params={"query": "up"}))
    other_tenant = asyncio.create_task(
        b.get_json("/q", params={"query": "up"}, headers={"X-Scope-OrgID": "t2"})
    )
    release.set()
    assert await first == OK
    assert await second == OK
    assert await other_tenant == OK
    assert len(calls) == 2  # the same GET shared one call; another tenant did not


async def test_ttl_cache_serves_immutable_bodies(fake_time: FakeTime) -> None:
    script = Script(json_response(OK))
    b = backend(script, fake_time)
    assert await b.get_json("/trace/1", cache_ttl=60.0) == OK
    assert await b.get_json("/trace/1", cache_ttl=60.0) == OK
    assert len(script.requests) == 1
    fake_time.now += 61.0
    assert await b.get_json("/trace/1", cache_ttl=60.0) == OK
    assert len(script.requests) == 2
    assert await b.get_json("/trace/1") == OK  # no cache_ttl: always upstream
    assert len(script.requests) == 3


async def test_deadline_stops_retries(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(500))
    b = backend(script, fake_time, retries=5)
    with deadline_scope(0.2, clock=fake_time.clock), pytest.raises(BackendUnavailable):
        await b.get_json("/x")
    # backoff 0.075 fits, 0.15 would not fit the 0.125 s left
    assert fake_time.sleeps == pytest.approx([0.075])
    assert len(script.requests) == 2


async def test_expired_deadline_sends_nothing(fake_time: FakeTime) -> None:
    script = Script(json_response(OK))
    b = backend(script, fake_time)
    with deadline_scope(1.0, clock=fake_time.clock):
        fake_time.now += 2.0
        with pytest.raises(BackendTimeout, match="deadline"):
            await b.get_json("/x")
    assert script.requests == []


async def test_attempt_timeout_is_cut_to_the_deadline(fake_time: FakeTime) -> None:
    script = Script(json_response(OK))
    b = backend(script, fake_time, timeout_seconds=5.0)
    with deadline_scope(1.5, clock=fake_time.clock):
        await b.get_json("/x")
    assert script.requests[0].extensions["timeout"]["read"] == pytest.approx(1.5)


async def test_tenant_and_bearer_headers(fake_time: FakeTime) -> None:
    script = Script(json_response(OK))
    b = backend(script, fake_time, tenant="team-a", bearer_token=SecretStr("s3cret"))
    await b.get_json("/x")
    sent = script.requests[0].headers
    assert sent["X-Scope-OrgID"] == "team-a"
    assert sent["Authorization"] == "Bearer s3cret"


async def test_basic_auth(fake_time: FakeTime) -> None:
    script = Script(json_response(OK))
    b = backend(script, fake_time, basic_user="u", basic_password=SecretStr("p"))
    await b.get_json("/x")
    assert script.requests[0].headers["Authorization"] == "Basic dTpw"


async def test_html_error_page_with_200_is_bad_response(fake_time: FakeTime) -> None:
    page = "<html><body><h1>Sign in</h1></body></html>"
    script = Script(httpx.Response(200, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(BackendBadResponse, match="HTML"):
        await backend(script, fake_time).get_json("/x")


async def test_html_502_from_a_proxy_is_unavailable_after_retries(fake_time: FakeTime) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    script = Script(httpx.Response(502, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(BackendUnavailable, match="502 Bad Gateway"):
        await backend(script, fake_time, retries=1).get_json("/x")
    assert len(script.requests) == 2


@pytest.mark.parametrize("body", [b'{"status":"success","data":[{"seri', b"", b"\xff\xfe"])
async def test_truncated_or_empty_json_is_bad_response(fake_time: FakeTime, body: bytes) -> None:
    script = Script(json_response(body))
    with pytest.raises(BackendBadResponse, match="invalid JSON"):
        await backend(script, fake_time).get_json("/x")
    assert len(script.requests) == 1


async def test_post_is_not_coalesced_and_retries_can_be_disabled(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(500))
    b = backend(script, fake_time)
    with pytest.raises(BackendUnavailable):
        await b.request("POST", "/hook", json={"a": 1}, retries=0)
    assert len(script.requests) == 1
    assert script.requests[0].content == b'{"a":1}' or script.requests[0].content == b'{"a": 1}'


async def test_build_client_applies_settings() -> None:
    cfg = BackendSettings(url="http://tempo.test:3200", timeout_seconds=4.0)
    client = build_client(cfg, transport=httpx.MockTransport(lambda r: httpx.Response(204)))
    async with client:
        assert str(client.base_url) == "http://tempo.test:3200"
        assert client.timeout.read == 4.0
        assert client.timeout.connect == 2.0
        assert (await client.get("/ready")).status_code == 204


def test_clients_share_one_verifying_tls_context() -> None:
    """Built once per process (loading the CA bundle is the expensive part), and verifying:
    certificates required, host names checked."""
    import ssl

    ctx = tls_context()
    assert tls_context() is ctx
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname


async def test_json_mislabelled_as_html_is_still_json(fake_time: FakeTime) -> None:
    script = Script(httpx.Response(200, text='{"a": 1}', headers={"content-type": "text/html"}))
    assert await backend(script, fake_time).get_json("/x") == {"a": 1}
