"""connectors/tempo.py through httpx.MockTransport serving real Tempo payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connectors._http import BackendClient
from connectors.tempo import TempoSource
from correlator.errors import BackendBadResponse, BackendRejected, BackendUnavailable
from correlator.models import TimeWindow
from correlator.settings import TempoSettings
from tests.connectors.support import FakeTime, fixture_bytes, json_response, mock_client

PUSHED = "5b8efff798038103d269b633813fc700"
WINDOW = TimeWindow(
    start=datetime(2023, 9, 14, 19, 0, 0, 500_000, tzinfo=UTC),
    end=datetime(2023, 9, 14, 19, 15, 0, 200_000, tzinfo=UTC),
)


class Tempo:
    """A fake Tempo: routes -> (status, body); records every request."""

    def __init__(self, routes: dict[str, tuple[int, bytes]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.routes.get(request.url.path, (404, b""))
        if status == 200:
            return json_response(body)
        return httpx.Response(status, content=body)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def source(tempo: Tempo, fake_time: FakeTime, **settings: object) -> TempoSource:
    cfg = TempoSettings(url="http://tempo.test", retries=0, **settings)
    client = mock_client(tempo)
    http = BackendClient(
        "tempo", client, cfg, clock=fake_time.clock, sleep=fake_time.sleep, jitter=lambda: 0.0
    )
    return TempoSource(client, cfg, http=http)


async def test_v2_trace_by_id(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "api_v2_traces_by_id_response.docs-capture.json")
    tempo = Tempo({f"/api/v2/traces/{PUSHED}": (200, body)})
    trace = await source(tempo, fake_time).get_trace(PUSHED.upper())
    assert trace is not None
    assert trace.trace_id == PUSHED
    assert [s.span_id for s in trace.spans] == ["eee19b7ec3c1b100"]
    assert tempo.requests[0].headers["accept"] == "application/json"


async def test_zero_stripped_id_is_padded_in_the_url(fake_time: FakeTime) -> None:
    tempo = Tempo({})
    assert await source(tempo, fake_time).get_trace("abc") is None
    assert tempo.paths[0] == "/api/v2/traces/" + "0" * 29 + "abc"


async def test_v2_404_falls_back_to_v1_batches_and_remembers(fake_time: FakeTime) -> None:
    hexid = "5b8efff798038103d269b633813fc60c"
    body = fixture_bytes("tempo", "tempopb_trace_v1_batches_hexids.json")
    tempo = Tempo({f"/api/traces/{hexid}": (200, body)})
    src = source(tempo, fake_time)
    trace = await src.get_trace(hexid)
    assert trace is not None
    assert trace.spans[0].trace_id == hexid
    assert tempo.paths == [f"/api/v2/traces/{hexid}", f"/api/traces/{hexid}"]
    await src.get_trace(PUSHED)  # an old Tempo: v2 is not asked again
    assert tempo.paths[-1] == f"/api/traces/{PUSHED}"
    assert len(tempo.paths) == 3


async def test_unknown_trace_is_none(fake_time: FakeTime) -> None:
    tempo = Tempo({})
    assert await source(tempo, fake_time).get_trace(PUSHED) is None
    assert tempo.paths == [f"/api/v2/traces/{PUSHED}", f"/api/traces/{PUSHED}"]


async def test_trace_bodies_are_cached(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "tempopb_trace_jsonpb_base64ids.tempo-vulture.json")
    tid = "3149195ffb0bec05347b48efe8ecc1b0"
    tempo = Tempo({f"/api/v2/traces/{tid}": (200, body)})
    src = source(tempo, fake_time)
    first = await src.get_trace(tid)
    second = await src.get_trace(tid)
    assert first is not None
    assert second == first
    assert len(tempo.requests) == 1


async def test_too_large_422_is_rejected_not_fallen_back(fake_time: FakeTime) -> None:
    tempo = Tempo({f"/api/v2/traces/{PUSHED}": (422, b"trace exceeds max size")})
    with pytest.raises(BackendRejected, match="max size"):
        await source(tempo, fake_time).get_trace(PUSHED)
    assert len(tempo.requests) == 1


async def test_5xx_is_unavailable(fake_time: FakeTime) -> None:
    tempo = Tempo({f"/api/v2/traces/{PUSHED}": (503, b"")})
    with pytest.raises(BackendUnavailable):
        await source(tempo, fake_time).get_trace(PUSHED)


async def test_invalid_trace_id_is_rejected_without_a_call(fake_time: FakeTime) -> None:
    tempo = Tempo({})
    with pytest.raises(BackendRejected, match="invalid trace id"):
        await source(tempo, fake_time).get_trace("not/an-id!")
    assert tempo.requests == []


@pytest.mark.parametrize(
    "body", [b"<html>gateway</html>", b'{"trace": {"resourceSpans": [', b'{"traces": []}']
)
async def test_garbage_trace_bodies_are_bad_responses(fake_time: FakeTime, body: bytes) -> None:
    tempo = Tempo({f"/api/v2/traces/{PUSHED}": (200, body)})
    with pytest.raises(BackendBadResponse):
        await source(tempo, fake_time).get_trace(PUSHED)


async def test_search_pads_ids_and_sends_traceql(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "api_search_tags_based_response.docs.json")
    tempo = Tempo({"/api/search": (200, body)})
    q = '{ resource.service.name = "frontend" && status = error }'
    ids = await source(tempo, fake_time).search(q, WINDOW, 5)
    assert ids == ["0" * 16 + "d6e9329d67b6146a", "0" * 16 + "1b1ba462b409200d"]
    params = tempo.requests[0].url.params
    assert params["q"] == q
    assert params["start"] == str(int(WINDOW.start.timestamp()))  # floor
    assert params["end"] == str(int(WINDOW.end.timestamp()) + 1)  # ceil
    assert params["limit"] == "5"


async def test_search_response_with_spansets(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "api_search_traceql_response.docs-capture.json")
    tempo = Tempo({"/api/search": (200, body)})
    assert await source(tempo, fake_time).search("{}", WINDOW, 20) == [PUSHED]


async def test_search_derived_strict_doc_example(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "api_search_traceql_status_error_response.derived-strict.json")
    tempo = Tempo({"/api/search": (200, body)})
    ids = await source(tempo, fake_time).search("{ status = error }", WINDOW, 1)
    assert ids == ["2f3e0cee77ae5dc9c17ade3689eb2e54"]


async def test_search_verbatim_malformed_doc_example_is_bad_response(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "api_search_traceql_status_error_response.docs.INVALID.json.txt")
    tempo = Tempo({"/api/search": (200, body)})
    with pytest.raises(BackendBadResponse, match="invalid JSON"):
        await source(tempo, fake_time).search("{ status = error }", WINDOW, 1)


async def test_search_limit_and_bad_query(fake_time: FakeTime) -> None:
    body = fixture_bytes("tempo", "api_search_tags_based_response.docs.json")
    tempo = Tempo({"/api/search": (200, body)})
    assert len(await source(tempo, fake_time).search("{}", WINDOW, 1)) == 1
    bad = Tempo({"/api/search": (400, b"invalid TraceQL query: parse error at line 1, col 3")})
    with pytest.raises(BackendRejected, match="parse error"):
        await source(bad, fake_time).search("{ nope", WINDOW, 1)
